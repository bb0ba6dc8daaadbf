/**
 * This instance's open order streams (SSE and WebSocket alike) and how they learn about changes.
 *
 * Streams are grouped by order. A change notified on `order_events` (by any instance, see listener.ts)
 * or a new stream schedules one read of that order; reads of one order never overlap (a change arriving
 * during a read marks the order dirty and reads it again after), so every stream sees the states in
 * order and 2,000 streams of one order cost one query. A stream is sent a state only when it differs
 * from the last one it got (or from the `Last-Event-ID` it resumed with); a final state is followed by
 * `end` and the stream is closed. When the listener reconnects, every watched order is read again: the
 * notifications of the gap are lost, the state is not. A read that fails is retried after a second.
 *
 * Bounded: at most `maxStreams` per instance and `maxStreamsPerUser` per user (429 beyond), a heartbeat
 * every `heartbeatMs`, a stream with no change for `idleTimeoutMs` ended (`idle`), a client that stops
 * reading (64 KiB unsent) cut off (`slow`), and `shutdown()` ends every stream cleanly.
 */
import type { FastifyBaseLogger } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { LiveConfig } from './config.ts'
import type { LiveMessage, VersionedState } from './state.ts'

export type Transport = 'sse' | 'ws'

/** One open connection, as the hub sees it: the transport writes the message and closes the connection. */
export interface StreamSink {
  transport: Transport
  send(msg: LiveMessage): void
  /** Bytes written but not yet taken by the client. */
  backlog(): number
  close(): void
}

interface Stream {
  orderId: number
  userId: number
  sink: StreamSink
  lastVersion: string | undefined
  lastChangeAt: number
  closed: boolean
}

export type RefusalReason = 'instance' | 'user'

export interface LiveHub {
  /** Refuses (429) before any work: the instance, or this user, has no room (`open` checks again, atomically). */
  precheck(userId?: number): void
  /** Adds the stream (429 when the instance or the user is full) and schedules its first state; returns its remover. */
  open(s: { orderId: number; userId: number; sink: StreamSink; lastEventId?: string }): () => void
  /** A change of this order was notified. */
  changed(orderId: number): void
  /** Read every watched order again (after the listener reconnected). */
  rereadAll(): void
  counts(): Record<Transport, number>
  refused(): Record<RefusalReason, number>
  shutdown(): void
}

const MAX_BACKLOG = 64 * 1024

export function createLiveHub(deps: {
  config: LiveConfig
  log: FastifyBaseLogger
  read: (ids: readonly number[]) => Promise<Map<number, VersionedState>>
}): LiveHub {
  const { config, log } = deps
  const byOrder = new Map<number, Set<Stream>>()
  const byUser = new Map<number, number>()
  const open = { sse: 0, ws: 0 }
  const refusals = { instance: 0, user: 0 }
  let closing = false
  /** Orders being read now; `true` = changed again meanwhile, read once more after. */
  const reading = new Map<number, boolean>()

  const total = () => open.sse + open.ws

  function admit(userId?: number) {
    if (closing) throw new AppError(503, 'SERVICE_UNAVAILABLE', '服务正在重启，请稍后重试')
    if (total() >= config.maxStreams) {
      refusals.instance++
      throw new AppError(429, 'TOO_MANY_STREAMS', '实时连接过多，请稍后重试')
    }
    if (userId !== undefined && (byUser.get(userId) ?? 0) >= config.maxStreamsPerUser) {
      refusals.user++
      throw new AppError(429, 'TOO_MANY_STREAMS', `同一账号最多同时打开 ${config.maxStreamsPerUser} 个实时连接`)
    }
  }

  function remove(s: Stream) {
    if (s.closed) return
    s.closed = true
    open[s.sink.transport]--
    const set = byOrder.get(s.orderId)
    set?.delete(s)
    if (set && !set.size) byOrder.delete(s.orderId)
    const n = (byUser.get(s.userId) ?? 1) - 1
    if (n > 0) byUser.set(s.userId, n)
    else byUser.delete(s.userId)
  }

  function end(s: Stream, reason: Extract<LiveMessage, { type: 'end' }>['reason']) {
    if (s.closed) return
    remove(s)
    try {
      s.sink.send({ type: 'end', reason })
    } finally {
      s.sink.close()
    }
  }

  function deliver(s: Stream, msg: LiveMessage) {
    if (s.closed) return
    if (s.sink.backlog() > MAX_BACKLOG) return end(s, 'slow')
    s.sink.send(msg)
  }

  function schedule(orderId: number) {
    if (!byOrder.has(orderId) || closing) return
    if (reading.has(orderId)) {
      reading.set(orderId, true)
      return
    }
    reading.set(orderId, false)
    void read([orderId])
  }

  async function read(ids: number[]) {
    let states: Map<number, VersionedState> | undefined
    try {
      states = await deps.read(ids)
    } catch (err) {
      log.warn({ err: { message: (err as Error).message }, orders: ids.length }, 'live: cannot read order state; retrying')
    }
    if (!states) {
      // Database trouble: keep the streams, try again shortly.
      setTimeout(() => {
        for (const id of ids) reading.delete(id)
        for (const id of ids) schedule(id)
      }, 1000).unref()
      return
    }
    const now = Date.now()
    for (const id of ids) {
      const again = reading.get(id)
      reading.delete(id)
      const streams = byOrder.get(id)
      if (streams) {
        const v = states.get(id)
        for (const s of [...streams]) {
          if (!v) {
            end(s, 'gone')
            continue
          }
          if (s.lastVersion !== v.version) {
            s.lastVersion = v.version
            s.lastChangeAt = now
            deliver(s, { type: 'order', id: v.version, order: v.state })
          }
          if (v.state.final) end(s, 'final')
        }
      }
      if (again) schedule(id)
    }
  }

  const beat = setInterval(() => {
    const now = Date.now()
    for (const set of byOrder.values()) {
      for (const s of [...set]) {
        if (now - s.lastChangeAt >= config.idleTimeoutMs) end(s, 'idle')
        else deliver(s, { type: 'heartbeat' })
      }
    }
  }, config.heartbeatMs)
  beat.unref()

  return {
    precheck: admit,
    open({ orderId, userId, sink, lastEventId }) {
      admit(userId)
      const s: Stream = { orderId, userId, sink, lastVersion: lastEventId, lastChangeAt: Date.now(), closed: false }
      byUser.set(userId, (byUser.get(userId) ?? 0) + 1)
      open[sink.transport]++
      let set = byOrder.get(orderId)
      if (!set) byOrder.set(orderId, (set = new Set()))
      set.add(s)
      // Also for a resumed stream: a final state it already saw must still end it.
      schedule(orderId)
      return () => remove(s)
    },
    changed: schedule,
    rereadAll() {
      // One query per 500 orders; an order being read now is just marked to be read again.
      const ids: number[] = []
      for (const id of byOrder.keys()) {
        if (reading.has(id)) reading.set(id, true)
        else {
          reading.set(id, false)
          ids.push(id)
        }
      }
      for (let i = 0; i < ids.length; i += 500) void read(ids.slice(i, i + 500))
    },
    counts: () => ({ ...open }),
    refused: () => ({ ...refusals }),
    shutdown() {
      closing = true
      clearInterval(beat)
      for (const set of [...byOrder.values()]) for (const s of [...set]) end(s, 'shutdown')
    },
  }
}
