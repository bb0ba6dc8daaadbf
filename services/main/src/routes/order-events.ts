/**
 * Live order status (issue 18): `POST /api/orders/{id}/stream-ticket` (bearer token, or a guest
 * order's orderNo) → a single-use ticket; `GET /api/orders/{id}/events?ticket=` (Server-Sent Events)
 * and `GET /api/orders/{id}/ws?ticket=` (WebSocket) carry the same messages (live/state.ts): the
 * current state first, then each change, heartbeats, and `end` at a final state. Changes come from
 * PostgreSQL NOTIFY (live/listener.ts), so a payment applied by any instance reaches every stream.
 * Wiring only: the hub (live/hub.ts) owns the streams, tickets.ts the tickets.
 */
import { PassThrough } from 'node:stream'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Gauge, type Registry } from 'prom-client'
import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { currentUser } from '../auth.ts'
import { ORDER_NO_RE } from '../orders/order-no.ts'
import type { OrderRow, OrdersRepo } from '../orders/repo.ts'
import type { UsersRepo } from '../users.ts'
import type { LiveConfig } from '../live/config.ts'
import { createLiveHub, type StreamSink } from '../live/hub.ts'
import { startOrderEventsListener } from '../live/listener.ts'
import { readLiveStates, type LiveMessage } from '../live/state.ts'
import { createStreamTickets } from '../live/tickets.ts'
import { OPTIONAL_USER } from './schemas.ts'

export interface OrderEventsOptions {
  sql: Sql
  databaseUrl: string
  live: LiveConfig
  orders: Pick<OrdersRepo, 'findById' | 'findByOrderNo'>
  users: Pick<UsersRepo, 'findById'>
  metrics: Registry
}

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, description: 'numeric id or orderNo' }) })
const StreamQuery = Type.Object({
  ticket: Type.String({ minLength: 20, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$', description: 'from POST …/stream-ticket; single use' }),
  lastEventId: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'resume: the last `id:` seen (or the Last-Event-ID header); unchanged state is not sent again',
    }),
  ),
})
const StreamErrors = errorResponses(400, 401, 404, 429, 503)
const MESSAGE_DOC =
  'Messages (one JSON shape for SSE `data:` and WebSocket frames): `{type:"order", id, order:{id, orderNo, status, paymentStatus, paid, ' +
  'paidAt, credits, creditsGranted, latePayment, refundedAmount, deliveryStatus, refunds[], final}}` first with the current state, ' +
  'then on each change; `{type:"heartbeat"}`; `{type:"end", reason: final|idle|shutdown|gone|slow}` before the server closes.'

const ticketSchema = {
  tags: ['orders'],
  summary:
    'A single-use ticket (60 s) that opens one live stream of this order: owner or admin by bearer token, a guest order by its orderNo',
  security: OPTIONAL_USER,
  params: IdParams,
  response: {
    200: OkEnvelope(
      OpenObject({
        ticket: Type.String(),
        expiresAt: Type.String({ format: 'date-time' }),
        eventsUrl: Type.String({ description: 'Server-Sent Events URL (relative)' }),
        wsUrl: Type.String({ description: 'WebSocket URL (relative path; ws: or wss: on the same host)' }),
      }),
    ),
    ...errorResponses(400, 401, 403, 404, 429),
  },
}
const eventsSchema = {
  tags: ['orders'],
  summary: 'Live order status as Server-Sent Events (text/event-stream), with `id:` and Last-Event-ID resume',
  description: MESSAGE_DOC,
  params: IdParams,
  querystring: StreamQuery,
  headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 64 })) }),
  response: {
    200: Type.String({ description: 'text/event-stream: `id:`, `event: order|heartbeat|end`, `data: <message JSON>`' }),
    ...StreamErrors,
  },
}
const wsSchema = {
  tags: ['orders'],
  summary: 'Live order status over a WebSocket (seed 004): the same messages as …/events; refusals are HTTP answers before the upgrade',
  description: `${MESSAGE_DOC} A plain GET (no upgrade) is 426.`,
  params: IdParams,
  querystring: StreamQuery,
  response: { 200: Type.String({ description: 'never sent: 101 Switching Protocols, then JSON text frames' }), ...StreamErrors },
}

function sseFrame(m: LiveMessage): string {
  const id = m.type === 'order' ? `id: ${m.id}\n` : ''
  return `${id}event: ${m.type}\ndata: ${JSON.stringify(m)}\n\n`
}

declare module 'fastify' {
  interface FastifyRequest {
    liveTicket?: { orderId: number; userId: number }
  }
}

export async function orderEventsRoutes(root: FastifyInstance, opts: OrderEventsOptions) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>()
  const { sql, live, orders, users } = opts
  const tickets = createStreamTickets(sql, live.ticketTtlSeconds)
  const hub = createLiveHub({ config: live, log: app.log, read: (ids) => readLiveStates(sql, ids) })
  const listener = startOrderEventsListener({
    databaseUrl: opts.databaseUrl,
    log: app.log,
    onOrder: (id) => hub.changed(id),
    onListening: (reconnect) => reconnect && hub.rereadAll(),
  })

  new Gauge({
    name: 'paysys_live_streams',
    help: 'Open live order streams held by this instance',
    labelNames: ['transport'] as const,
    registers: [opts.metrics],
    collect() {
      const c = hub.counts()
      this.set({ transport: 'sse' }, c.sse)
      this.set({ transport: 'ws' }, c.ws)
    },
  })
  new Gauge({
    name: 'paysys_live_listener_connected',
    help: '1 while this instance LISTENs on order_events',
    registers: [opts.metrics],
    collect() {
      this.set(listener.connected ? 1 : 0)
    },
  })
  new Counter({
    name: 'paysys_live_listener_reconnects_total',
    help: 'Times the order_events listener reconnected (every watched order is re-read then)',
    registers: [opts.metrics],
    collect() {
      this.reset()
      this.inc(listener.reconnects)
    },
  })
  new Counter({
    name: 'paysys_live_streams_refused_total',
    help: 'Streams refused with 429, by the cap that was reached',
    labelNames: ['cap'] as const,
    registers: [opts.metrics],
    collect() {
      this.reset()
      const r = hub.refused()
      this.inc({ cap: 'instance' }, r.instance)
      this.inc({ cap: 'user' }, r.user)
    },
  })

  // Streams end cleanly before the HTTP server waits for its connections to close.
  await app.register(websocket, {
    options: { maxPayload: 4096 },
    preClose(done) {
      hub.shutdown()
      for (const c of this.websocketServer.clients) c.terminate()
      done()
    },
  })
  app.addHook('onClose', async () => {
    hub.shutdown()
    await listener.close()
  })

  async function lookup(ref: string): Promise<OrderRow> {
    let order: OrderRow | undefined
    if (/^\d{1,15}$/.test(ref)) order = await orders.findById(Number(ref))
    else if (ORDER_NO_RE.test(ref)) order = await orders.findByOrderNo(ref)
    else throw new AppError(400, 'INVALID_PARAMS', `无效的订单号: ${ref.slice(0, 64)}`)
    if (!order) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    return order
  }

  /** The ticket's order and holder; the ticket is used up whatever the answer. */
  async function admitWithTicket(ref: string, ticket: string) {
    hub.precheck()
    const order = await lookup(ref)
    const holder = await tickets.consume(ticket, order.id)
    if (!holder) throw new AppError(401, 'STREAM_TICKET_INVALID', '实时连接票据无效、已使用或已过期')
    hub.precheck(holder.userId)
    return { orderId: order.id, userId: holder.userId }
  }
  const lastEventIdOf = (req: FastifyRequest) => {
    const h = req.headers['last-event-id']
    return (typeof h === 'string' && h.length <= 64 ? h : undefined) ?? (req.query as { lastEventId?: string }).lastEventId
  }

  app.post(
    '/api/orders/:id/stream-ticket',
    {
      preHandler: app.optionalUser,
      schema: ticketSchema,
      config: live.ticketsPerMinute ? { rateLimit: { max: live.ticketsPerMinute, timeWindow: 60_000 } } : {},
    },
    async (req) => {
      const order = await lookup(req.params.id)
      const user = currentUser(req)
      let holder: number
      if (user) {
        // Like GET /api/orders/{id}: the owner, or an admin (role read from the database).
        if (order.userId !== user.id && (await users.findById(user.id))?.role !== 'admin')
          throw new AppError(403, 'FORBIDDEN', '无权访问该订单')
        holder = user.id
      } else {
        // A guest order: the unguessable orderNo is its access secret (as for seed 000's status route).
        // A registered account's orders need its token, and a numeric id is never enough.
        if (!ORDER_NO_RE.test(req.params.id)) throw new AppError(401, 'UNAUTHORIZED', '按数字ID访问需要登录')
        if ((await users.findById(order.userId))?.passwordHash !== null) throw new AppError(401, 'UNAUTHORIZED', '请登录后查看该订单')
        holder = order.userId
      }
      const t = await tickets.issue(order.id, holder)
      const q = `ticket=${t.ticket}`
      const ref = encodeURIComponent(req.params.id)
      return ok({
        ticket: t.ticket,
        expiresAt: t.expiresAt.toISOString(),
        eventsUrl: `/api/orders/${ref}/events?${q}`,
        wsUrl: `/api/orders/${ref}/ws?${q}`,
      })
    },
  )

  app.get('/api/orders/:id/events', { schema: eventsSchema }, async (req, reply: FastifyReply) => {
    const { orderId, userId } = await admitWithTicket(req.params.id, req.query.ticket)
    const out = new PassThrough()
    out.on('error', () => {}) // a write racing the client's disconnect: the stream is already gone
    const sink: StreamSink = {
      transport: 'sse',
      send: (m) => void (out.writableEnded || out.destroyed || out.write(sseFrame(m))),
      backlog: () => out.readableLength + out.writableLength + reply.raw.writableLength,
      close: () => void out.end(),
    }
    const remove = hub.open({ orderId, userId, sink, lastEventId: lastEventIdOf(req) })
    // The client went away (or the response ended): the stream leaves the hub at once.
    reply.raw.on('close', () => {
      remove()
      out.destroy()
    })
    out.write('retry: 3000\n: live order status\n\n')
    reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      // nginx and other buffering proxies: pass each event on at once.
      .header('x-accel-buffering', 'no')
    return reply.send(out)
  })

  app.route({
    method: 'GET',
    url: '/api/orders/:id/ws',
    schema: wsSchema,
    // Before the upgrade, so every refusal is an ordinary HTTP answer (401, 404, 429 …).
    preHandler: async (req) => {
      if (!req.ws) throw new AppError(426, 'INVALID_PARAMS', '该地址需要 WebSocket 连接（Upgrade: websocket）')
      req.liveTicket = await admitWithTicket(req.params.id, req.query.ticket)
    },
    handler: async () => {
      throw new AppError(426, 'INVALID_PARAMS', '该地址需要 WebSocket 连接（Upgrade: websocket）')
    },
    wsHandler: (socket, req) => {
      const { orderId, userId } = req.liveTicket!
      const sink: StreamSink = {
        transport: 'ws',
        send: (m) => socket.send(JSON.stringify(m)),
        backlog: () => socket.bufferedAmount,
        close: () => socket.close(1000, 'end'),
      }
      let remove: () => void
      try {
        remove = hub.open({ orderId, userId, sink, lastEventId: lastEventIdOf(req) })
      } catch (err) {
        // Lost a race for the last slot after the precheck: a WebSocket close code, 1013 = try again later.
        socket.close(1013, err instanceof AppError ? err.error : 'unavailable')
        return
      }
      socket.on('close', () => remove())
      socket.on('message', () => {}) // clients have nothing to say; frames are bounded by maxPayload
    },
  })
}
