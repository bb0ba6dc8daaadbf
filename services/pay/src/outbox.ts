/**
 * Delivers queued events to main (`POST /api/orders/callback`, signed) until main acknowledges.
 *
 * Events are claimed with `FOR UPDATE SKIP LOCKED` and leased (next_attempt_at pushed past the
 * HTTP timeout) in one short statement, so several instances never deliver the same event at the
 * same time and no transaction stays open during the HTTP call. A crash mid-delivery leaves the
 * lease to expire and the event is delivered again: main is idempotent by event id.
 * Failures back off exponentially (1 s, 2 s, 4 s … capped at 10 min); after 24 h an event is DEAD.
 */
import type { Sql } from '@paysys/db'
import { createServiceClient, type ServiceKey } from '@paysys/service-auth'

export const CALLBACK_PATH = '/api/orders/callback'

export interface OutboxOptions {
  sql: Sql
  mainUrl: string
  key: ServiceKey
  pollMs: number
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void }
  /** HTTP timeout per delivery. */
  timeoutMs?: number
  batchSize?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** After this long since the event was created, a failing event is given up (DEAD). */
  giveUpAfterMs?: number
}

/** Delay before retry number `attempts + 1`: base · 2^attempts, capped. */
export function backoffMs(attempts: number, baseMs = 1000, maxMs = 10 * 60_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempts, 30))
}

interface Claimed {
  id: number
  eventId: string
  payload: unknown
  attempts: number
}

export function createOutboxWorker(opts: OutboxOptions) {
  const { sql, log } = opts
  const timeoutMs = opts.timeoutMs ?? 10_000
  const batchSize = opts.batchSize ?? 20
  const baseDelayMs = opts.baseDelayMs ?? 1000
  const maxDelayMs = opts.maxDelayMs ?? 10 * 60_000
  const giveUpAfterMs = opts.giveUpAfterMs ?? 24 * 3600_000
  // The lease must outlast a delivery, or another instance could pick the event up meanwhile.
  const leaseMs = timeoutMs * 2 + 5_000
  const client = createServiceClient({ baseUrl: opts.mainUrl, key: opts.key, timeoutMs })

  let timer: NodeJS.Timeout | undefined
  let running: Promise<number> | undefined
  let stopped = true
  let wakeRequested = false

  async function claim(): Promise<Claimed[]> {
    return (await sql<Claimed[]>`
      with due as (
        select id from outbox
         where status = 'PENDING' and next_attempt_at <= now()
         order by next_attempt_at, id
         limit ${batchSize}
         for update skip locked
      )
      update outbox o set next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
        from due where o.id = due.id
      returning o.id, o.event_id as "eventId", o.payload, o.attempts`) as Claimed[]
  }

  async function deliver(e: Claimed): Promise<boolean> {
    let error: string
    try {
      const res = await client.post<unknown>(CALLBACK_PATH, e.payload)
      if (res.status >= 200 && res.status < 300) {
        await sql`
          update outbox set status = 'DELIVERED', delivered_at = now(), attempts = attempts + 1, last_error = null
           where id = ${e.id} and status = 'PENDING'`
        log.info({ eventId: e.eventId, attempts: e.attempts + 1 }, 'event delivered to main')
        return true
      }
      error = `HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`
    } catch (err) {
      error = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 500)
    }
    const delayMs = backoffMs(e.attempts, baseDelayMs, maxDelayMs)
    const [row] = await sql<{ status: string }[]>`
      update outbox
         set attempts = attempts + 1,
             last_error = ${error},
             next_attempt_at = now() + make_interval(secs => ${delayMs / 1000}),
             status = case when created_at < now() - make_interval(secs => ${giveUpAfterMs / 1000}) then 'DEAD' else 'PENDING' end
       where id = ${e.id} and status = 'PENDING'
      returning status`
    if (row?.status === 'DEAD')
      log.error({ eventId: e.eventId, attempts: e.attempts + 1, error }, 'event given up: main never acknowledged it')
    else log.warn({ eventId: e.eventId, attempts: e.attempts + 1, retryInMs: delayMs, error }, 'event delivery failed; will retry')
    return false
  }

  /** One pass: claims due events and delivers them. Returns how many were claimed. */
  async function runOnce(): Promise<number> {
    const batch = await claim()
    await Promise.all(batch.map(deliver))
    return batch.length
  }

  function schedule(ms: number) {
    if (stopped) return
    clearTimeout(timer)
    timer = setTimeout(tick, ms)
  }

  async function tick() {
    if (stopped || running) return
    wakeRequested = false
    let claimed = 0
    running = runOnce().catch((err: Error) => {
      log.error({ err: { message: err.message } }, 'outbox pass failed')
      return 0
    })
    try {
      claimed = await running
    } finally {
      running = undefined
    }
    // A full batch or a wake-up during the pass: go again at once.
    schedule(claimed >= batchSize || wakeRequested ? 0 : opts.pollMs)
  }

  return {
    runOnce,
    start() {
      if (!stopped) return
      stopped = false
      schedule(0)
    },
    /** Deliver soon (an event was just queued). */
    wake() {
      if (stopped) return
      if (running) wakeRequested = true
      else schedule(0)
    },
    /** Stops polling and waits for the pass in progress. */
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
      await client.close()
    },
  }
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>
