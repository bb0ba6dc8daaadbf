/**
 * The one LISTEN connection of this instance on channel `order_events` (the trigger of migration 0004
 * NOTIFYs the order id of every change in the committing transaction). Notifications arrive on any
 * instance, whichever one applied the change. While the connection is down notifications are lost, so
 * after every (re)connect `onListening` runs and the hub re-reads every watched order; reconnects back
 * off from 250 ms to 5 s until the database is back, and never stop until `close()`.
 */
import postgres from 'postgres'
import type { FastifyBaseLogger } from 'fastify'

export const ORDER_EVENTS_CHANNEL = 'order_events'

export interface OrderEventsListener {
  readonly connected: boolean
  readonly reconnects: number
  close(): Promise<void>
}

export function startOrderEventsListener(opts: {
  databaseUrl: string
  log: FastifyBaseLogger
  onOrder: (orderId: number) => void
  /** After the first LISTEN and after every reconnect: notifications may have been missed meanwhile. */
  onListening: (reconnect: boolean) => void
}): OrderEventsListener {
  let connected = false
  let closed = false
  let everConnected = false
  let reconnects = 0
  let delay = 250
  let timer: NodeJS.Timeout | undefined
  let attempt: Promise<void> | undefined

  // postgres.js takes onnotify (its own listen() uses it) but does not declare it in its types.
  const onnotify = {
    onnotify: (channel: string, payload: string) => {
      if (channel !== ORDER_EVENTS_CHANNEL) return
      try {
        const id = Number((JSON.parse(payload) as { id?: unknown }).id)
        if (Number.isSafeInteger(id) && id > 0) opts.onOrder(id)
      } catch {
        opts.log.warn({ payload: payload.slice(0, 100) }, 'live: unreadable order_events payload')
      }
    },
  }
  const client = postgres(opts.databaseUrl, {
    ...onnotify,
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: 'main-live' },
    onclose: () => {
      if (!connected || closed) return
      connected = false
      opts.log.warn('live: order_events listener connection lost; reconnecting')
      schedule()
    },
  })

  const listen = async () => {
    try {
      await client.unsafe(`listen "${ORDER_EVENTS_CHANNEL}"`)
      if (closed) return
      connected = true
      delay = 250
      const reconnect = everConnected
      if (reconnect) reconnects++
      everConnected = true
      if (reconnect) opts.log.info({ reconnects }, 'live: order_events listener reconnected')
      opts.onListening(reconnect)
    } catch (err) {
      if (closed) return
      opts.log.warn({ err: { message: (err as Error).message }, retryInMs: delay }, 'live: cannot LISTEN yet')
      schedule()
    }
  }
  function schedule() {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = undefined
      attempt = listen()
    }, delay)
    delay = Math.min(delay * 2, 5000)
  }
  attempt = listen()

  return {
    get connected() {
      return connected
    },
    get reconnects() {
      return reconnects
    },
    async close() {
      closed = true
      if (timer) clearTimeout(timer)
      await attempt?.catch(() => {})
      connected = false
      await client.end({ timeout: 2 })
    },
  }
}
