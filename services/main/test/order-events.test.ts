/**
 * Live order status over real HTTP (SSE) and WebSocket against a real database: tickets and who may
 * get one, the first state then the change a signed callback makes (published by the database's
 * trigger and LISTEN), resume, caps (429), heartbeats and idle close, a listener connection killed and
 * re-established (the state is re-read), graceful shutdown — and open streams back to 0 after each.
 */
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { WebSocket } from 'undici'
import { newOrderNo } from '../src/orders/order-no.ts'
import { bearer, registerAdmin, registerUser, signedHeaders, startMain } from './helpers.ts'

const main = await startMain({ LIVE_MAX_STREAMS_PER_USER: '3', LIVE_MAX_STREAMS: '6', LIVE_HEARTBEAT_MS: '200' })
const { app, sql } = main
await app.listen({ port: 0, host: '127.0.0.1' })
const port = (app.server.address() as { port: number }).port
t.teardown(() => main.close())

async function insertOrder(userId: number, amountFen = 2500, credits = 500) {
  const [p] = await sql`select id from products where package_code = 'CREDITS_500'`
  const [o] =
    await sql`insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, amount_fen, expire_at, customer_email)
    values (${newOrderNo()}, ${userId}, ${p!.id}, 'credits', 'CREDITS_500', '标准套餐', ${credits}, ${amountFen}, now() + interval '30 minutes', 'x@example.com')
    returning id, order_no as "orderNo"`
  return o as { id: number; orderNo: string }
}

async function pay(order: { id: number; orderNo: string }, amount = 2500) {
  const text = JSON.stringify({
    eventId: randomUUID(),
    type: 'PAYMENT_SUCCEEDED',
    orderId: order.id,
    orderNo: order.orderNo,
    amount,
    provider: 'ALIPAY',
    channel: 'qr',
    tradeNo: `T${Date.now()}`,
    paidAt: new Date().toISOString(),
  })
  const res = await app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    payload: text,
    headers: signedHeaders('POST', '/api/orders/callback', text),
  })
  if (res.statusCode !== 200) throw new Error(res.body)
}

async function ticket(ref: string | number, token?: string) {
  const res = await app.inject({ method: 'POST', url: `/api/orders/${ref}/stream-ticket`, headers: token ? bearer(token) : {} })
  return { status: res.statusCode, body: res.json() }
}
async function ticketOk(ref: string | number, token?: string): Promise<string> {
  const r = await ticket(ref, token)
  if (r.status !== 200) throw new Error(JSON.stringify(r.body))
  return r.body.data.ticket
}

interface Msg {
  type: string
  id?: string
  order?: Record<string, unknown>
  reason?: string
  sseId?: string
}

/** An SSE client over node:http: the status, then every message; `next(type)` waits for the next one of that type. */
function sse(path: string, headers: Record<string, string> = {}) {
  const msgs: Msg[] = []
  let waiters: (() => void)[] = []
  let res: IncomingMessage | undefined
  let ended = false
  const req = httpRequest({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers }, agent: false })
  const opened = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('error', reject)
    req.on('response', (r) => {
      res = r
      if (r.statusCode !== 200) {
        let body = ''
        r.on('data', (c) => (body += c))
        r.on('end', () => resolve({ status: r.statusCode!, body }))
        return
      }
      resolve({ status: 200, body: '' })
      let buf = ''
      r.setEncoding('utf8')
      r.on('data', (c: string) => {
        buf += c
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (!data) continue
          const m = JSON.parse(data) as Msg
          const id = /^id: (.*)$/m.exec(frame)?.[1]
          if (id) m.sseId = id
          msgs.push(m)
        }
        for (const w of waiters) w()
        waiters = []
      })
      r.on('close', () => {
        ended = true
        for (const w of waiters) w()
        waiters = []
      })
    })
    req.end()
  })
  let seen = 0
  return {
    opened,
    msgs,
    get ended() {
      return ended
    },
    /** The next message (after those already taken), skipping heartbeats unless asked for. */
    async next(type?: string, timeoutMs = 10_000): Promise<Msg> {
      const end = Date.now() + timeoutMs
      for (;;) {
        while (seen < msgs.length) {
          const m = msgs[seen++]!
          if (type ? m.type === type : m.type !== 'heartbeat') return m
        }
        if (ended) throw new Error(`stream ended before a ${type ?? 'message'}: ${JSON.stringify(msgs)}`)
        if (Date.now() > end) throw new Error(`no ${type ?? 'message'} within ${timeoutMs} ms: ${JSON.stringify(msgs)}`)
        await new Promise<void>((r) => {
          waiters.push(r)
          setTimeout(r, 100)
        })
      }
    },
    close() {
      req.destroy()
      res?.destroy()
    },
  }
}

async function openStreams(): Promise<number> {
  const res = await app.inject('/metrics')
  let n = 0
  for (const m of res.body.matchAll(/^paysys_live_streams\{transport="(?:sse|ws)"\} (\d+)$/gm)) n += Number(m[1])
  return n
}
async function streamsBackToZero(t: Test) {
  const end = Date.now() + 5000
  while ((await openStreams()) !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  t.equal(await openStreams(), 0, 'open streams back to 0 (/metrics)')
}

const alice = await registerUser(app, 'alice-live@example.com')
const bob = await registerUser(app, 'bob-live@example.com')
const admin = await registerAdmin(app, sql, 'admin-live@example.com')

t.test('tickets: the owner or an admin by token, a guest order by its orderNo; nobody else', async (t) => {
  const order = await insertOrder(alice.userId)
  const own = await ticket(order.id, alice.token)
  t.equal(own.status, 200)
  t.match(own.body.data, {
    ticket: /^[A-Za-z0-9_-]{43}$/,
    eventsUrl: `/api/orders/${order.id}/events?ticket=${own.body.data.ticket}`,
    wsUrl: `/api/orders/${order.id}/ws?ticket=${own.body.data.ticket}`,
  })
  t.ok(new Date(own.body.data.expiresAt).getTime() > Date.now(), 'expires in the future')
  t.equal((await ticket(order.orderNo, alice.token)).status, 200, 'by orderNo too')
  t.equal((await ticket(order.id, admin.token)).status, 200, 'an admin')
  t.match(await ticket(order.id, bob.token), { status: 403, body: { error: 'FORBIDDEN' } }, "another user's order")
  t.match(await ticket(order.orderNo, bob.token), { status: 403 }, "another user's order by orderNo")
  t.match(await ticket(order.id), { status: 401 }, 'no token, numeric id')
  t.match(await ticket(order.orderNo), { status: 401 }, "no token: a registered user's order needs the token")
  t.match(await ticket(order.id, 'not-a-jwt'), { status: 401 }, 'a bad token')
  t.match(await ticket(999999, alice.token), { status: 404, body: { error: 'ORDER_NOT_FOUND' } })
  t.match(await ticket('x;drop', alice.token), { status: 400 })

  const guest = await app.deps.users.findOrCreateGuest('guest-live@example.com', '')
  const guestOrder = await insertOrder(guest.id)
  t.equal((await ticket(guestOrder.orderNo)).status, 200, 'a guest order by its orderNo, without a token')
  t.match(await ticket(guestOrder.id), { status: 401 }, 'but not by its numeric id')
})

t.test('SSE: the current state, then the payment applied by the callback, then end; tickets are single use', async (t) => {
  const order = await insertOrder(alice.userId)
  const tk = await ticketOk(order.id, alice.token)
  const s = sse(`/api/orders/${order.id}/events?ticket=${tk}`)
  t.equal((await s.opened).status, 200)
  const first = await s.next('order')
  t.match(first.order, {
    id: order.id,
    orderNo: order.orderNo,
    status: 'PENDING_PAYMENT',
    paid: false,
    creditsGranted: false,
    final: false,
  })
  t.equal(first.sseId, first.id, 'the SSE id is the message id')
  t.equal(await openStreams(), 1)

  const again = sse(`/api/orders/${order.id}/events?ticket=${tk}`)
  t.match(await again.opened, { status: 401, body: /STREAM_TICKET_INVALID/ }, 'a reused ticket')

  await pay(order)
  const paid = await s.next('order')
  t.match(paid.order, { status: 'PAID', paymentStatus: 'PAID', paid: true, creditsGranted: true, credits: 500, final: true, refunds: [] })
  t.ok(paid.order!.paidAt, 'paidAt')
  t.not(paid.id, first.id, 'a new id for a new state')
  t.match(await s.next('end'), { reason: 'final' })
  await new Promise((r) => setTimeout(r, 100))
  t.ok(s.ended, 'the server closed the stream')

  // A stream opened on a final order gets its state and ends.
  const late = sse(`/api/orders/${order.id}/events?ticket=${await ticketOk(order.id, alice.token)}`)
  t.match((await late.next('order')).order, { status: 'PAID', final: true })
  t.match(await late.next('end'), { reason: 'final' })
  await streamsBackToZero(t)
})

t.test('hostile: expired, unknown, wrong-order tickets; bad query; no upgrade on the WebSocket route', async (t) => {
  const a = await insertOrder(alice.userId)
  const b = await insertOrder(alice.userId)
  const expired = await ticketOk(a.id, alice.token)
  await sql`update live_tickets set expires_at = now() - interval '1 second'`
  t.match(await sse(`/api/orders/${a.id}/events?ticket=${expired}`).opened, { status: 401, body: /STREAM_TICKET_INVALID/ }, 'expired')
  t.match(await sse(`/api/orders/${a.id}/events?ticket=${'A'.repeat(43)}`).opened, { status: 401 }, 'unknown')
  const forA = await ticketOk(a.id, alice.token)
  t.match(await sse(`/api/orders/${b.id}/events?ticket=${forA}`).opened, { status: 401 }, "another order's ticket")
  t.match(await sse(`/api/orders/${a.id}/events?ticket=${forA}`).opened, { status: 401 }, '…which that attempt used up')
  t.match(await sse(`/api/orders/${a.id}/events`).opened, { status: 400 }, 'no ticket')
  t.match(await sse(`/api/orders/${a.id}/events?ticket=short`).opened, { status: 400 }, 'malformed ticket')
  t.match(await sse(`/api/orders/999999/events?ticket=${'A'.repeat(43)}`).opened, { status: 404 })
  const plain = await app.inject(`/api/orders/${a.id}/ws?ticket=${await ticketOk(a.id, alice.token)}`)
  t.equal(plain.statusCode, 426, 'GET without Upgrade')
  t.equal(await openStreams(), 0)
})

t.test('caps: per user and per instance, 429 TOO_MANY_STREAMS; closed streams free their slots', async (t) => {
  const order = await insertOrder(alice.userId)
  const open = async (token: string) => {
    const s = sse(`/api/orders/${order.id}/events?ticket=${await ticketOk(order.id, token)}`)
    return { s, status: (await s.opened).status, body: (await s.opened).body }
  }
  const mine = [await open(alice.token), await open(alice.token), await open(alice.token)]
  t.same(
    mine.map((x) => x.status),
    [200, 200, 200],
  )
  const fourth = await open(alice.token)
  t.match(fourth, { status: 429, body: /TOO_MANY_STREAMS/ }, 'a 4th stream of one user')
  const others = [await open(admin.token), await open(admin.token), await open(admin.token)]
  t.same(
    others.map((x) => x.status),
    [200, 200, 200],
  )
  t.match(await open(admin.token), { status: 429 }, 'the instance is full (6)')
  t.equal(await openStreams(), 6)
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /paysys_live_streams_refused_total\{cap="user"\} 1/)
  t.match(metrics, /paysys_live_streams_refused_total\{cap="instance"\} 1/)
  mine[0]!.s.close()
  await until(async () => (await openStreams()) === 5)
  const after = await open(alice.token)
  t.equal(after.status, 200, 'a closed stream frees its slot')
  for (const x of [...mine, ...others, after]) x.s.close()
  await streamsBackToZero(t)
})

t.test('resume with Last-Event-ID: an unchanged state is not sent again; heartbeats keep coming', async (t) => {
  const order = await insertOrder(alice.userId)
  const first = sse(`/api/orders/${order.id}/events?ticket=${await ticketOk(order.id, alice.token)}`)
  const m = await first.next('order')
  first.close()
  const resumed = sse(`/api/orders/${order.id}/events?ticket=${await ticketOk(order.id, alice.token)}`, { 'last-event-id': m.id! })
  await resumed.next('heartbeat')
  await resumed.next('heartbeat')
  t.same(
    resumed.msgs.filter((x) => x.type === 'order'),
    [],
    'no state repeated',
  )
  await sql`update orders set status = 'CANCELLED' where id = ${order.id}`
  t.match((await resumed.next('order')).order, { status: 'CANCELLED', paymentStatus: 'FAILED', final: true })
  t.match(await resumed.next('end'), { reason: 'final' })
  await streamsBackToZero(t)
})

t.test('WebSocket: the same messages; refusals are HTTP statuses before the upgrade', async (t) => {
  const order = await insertOrder(alice.userId)
  const tk = await ticketOk(order.id, alice.token)
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/orders/${order.id}/ws?ticket=${tk}`)
  const msgs: Msg[] = []
  const closed = new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code)))
  ws.addEventListener('message', (e) => msgs.push(JSON.parse(String(e.data))))
  await new Promise((r, j) => (ws.addEventListener('open', r), ws.addEventListener('error', j)))
  await until(async () => msgs.some((m) => m.type === 'order'))
  t.match(
    msgs.find((m) => m.type === 'order'),
    { type: 'order', id: String, order: { id: order.id, status: 'PENDING_PAYMENT' } },
  )
  t.equal(await openStreams(), 1)

  const upgrade = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('upgrade', (_res, socket) => {
        socket.destroy()
        resolve(101)
      })
      req.on('error', reject)
      req.end()
    })
  t.equal(await upgrade(`/api/orders/${order.id}/ws?ticket=${tk}`), 401, 'a reused ticket: 401, no upgrade')
  t.equal(await upgrade(`/api/orders/${order.id}/ws?ticket=${'B'.repeat(43)}`), 401, 'an unknown ticket: 401')
  t.equal(await upgrade(`/api/orders/999999/ws?ticket=${'B'.repeat(43)}`), 404, 'an unknown order: 404')

  await pay(order)
  t.equal(await closed, 1000, 'closed normally after the final state')
  const orderMsgs = msgs.filter((m) => m.type === 'order')
  t.match(orderMsgs.at(-1), { order: { status: 'PAID', creditsGranted: true, final: true } })
  t.match(msgs.at(-1), { type: 'end', reason: 'final' })
  await streamsBackToZero(t)
})

t.test('the listener connection is killed: it reconnects and every open stream gets the state it missed', async (t) => {
  const order = await insertOrder(alice.userId)
  const s = sse(`/api/orders/${order.id}/events?ticket=${await ticketOk(order.id, alice.token)}`)
  t.match((await s.next('order')).order, { status: 'PENDING_PAYMENT' })
  const killed = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity
    where application_name = 'main-live' and datname = current_database()`
  t.equal(killed.length, 1, 'one listening connection for this instance')
  // Changed while nobody listens (or just after): the reconnect's re-read brings it.
  await sql`update orders set status = 'EXPIRED' where id = ${order.id}`
  t.match((await s.next('order')).order, { status: 'EXPIRED', final: true })
  await until(async () => /paysys_live_listener_reconnects_total [1-9]/.test((await app.inject('/metrics')).body))
  t.match((await app.inject('/metrics')).body, /paysys_live_listener_connected 1/)
  await streamsBackToZero(t)
})

t.test('idle streams are ended; shutdown ends every stream cleanly', async (t) => {
  const idle = await startMain({ LIVE_IDLE_TIMEOUT_MS: '300', LIVE_HEARTBEAT_MS: '100' })
  await idle.app.listen({ port: 0, host: '127.0.0.1' })
  const p2 = (idle.app.server.address() as { port: number }).port
  const u = await registerUser(idle.app, 'idle@example.com')
  const [prod] = await idle.sql`select id from products where package_code = 'CREDITS_500'`
  const [o] =
    await idle.sql`insert into orders (order_no, user_id, product_id, kind, product_name, credits, amount_fen, expire_at, customer_email)
    values (${newOrderNo()}, ${u.userId}, ${prod!.id}, 'credits', 'x', 500, 2500, now() + interval '30 minutes', 'x@example.com') returning id`
  const tk = async () =>
    (await idle.app.inject({ method: 'POST', url: `/api/orders/${o!.id}/stream-ticket`, headers: bearer(u.token) })).json().data.ticket
  const read = (ticketValue: string) =>
    new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: p2, path: `/api/orders/${o!.id}/events?ticket=${ticketValue}`, agent: false },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (c) => (body += c))
          res.on('end', () => resolve(body))
        },
      )
      req.on('error', reject)
      req.end()
    })
  const body = await read(await tk())
  t.match(body, /event: heartbeat/, 'heartbeats')
  t.match(body, /event: end\ndata: \{"type":"end","reason":"idle"\}/, 'ended as idle')

  const pending = read(await tk())
  await until(async () => /paysys_live_streams\{transport="sse"\} 1/.test((await idle.app.inject('/metrics')).body))
  await idle.close()
  t.match(await pending, /"reason":"shutdown"/, 'shutdown: end, then the server closed the stream')
})

async function until(fn: () => Promise<boolean>, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}
