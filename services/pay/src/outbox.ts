/**
 * Delivers queued events to main (`POST /api/orders/callback`, signed) until main acknowledges.
 *
 * The outbox table is the source of truth: an event row is written in the transaction of the state
 * change it describes. Delivery runs on pg-boss (`startOutboxJobs`): right after the commit an
 * `outbox-deliver` job is queued for the event; a failed delivery queues the next job for when its
 * backoff ends; a periodic rescue task delivers any due event whose job was lost (a crash between
 * commit and queueing, a job queue hiccup).
 *
 * Every delivery first claims the row with a guarded lease (next_attempt_at pushed past the HTTP
 * timeout, only if PENDING and due), so duplicate jobs, the rescue task and several pay instances
 * never deliver one event at the same time, and no transaction stays open during the HTTP call. A
 * crash mid-delivery leaves the lease to expire and the event is delivered again: main is
 * idempotent by event id. Failures back off exponentially (1 s, 2 s, 4 s … capped at 10 min);
 * after 24 h (since creation, or since a person resent it) an event is DEAD.
 */
import type { Sql } from '@paysys/db'
import { createServiceClient, type ServiceKey } from '@paysys/service-auth'
import type { FastifyBaseLogger } from 'fastify'
import { ensureQueue, every, type PgBoss } from '@paysys/server-kit'

export const CALLBACK_PATH = '/api/orders/callback'
export const DELIVER_QUEUE = 'outbox-deliver'
export const RESCUE_TASK = 'outbox-rescue'

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void }

export interface OutboxOptions {
  sql: Sql
  mainUrl: string
  key: ServiceKey
  log: Log
  /** HTTP timeout per delivery. */
  timeoutMs?: number
  /** Events one rescue pass claims at most. */
  batchSize?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** After this long since the event was created (or resent), a failing event is given up (DEAD). */
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

/** What one delivery attempt came to. RETRY: still PENDING, due again at `nextAttemptAt`. */
export type Delivery =
  | { eventId: string; outcome: 'DELIVERED' }
  | { eventId: string; outcome: 'RETRY'; nextAttemptAt: Date }
  | { eventId: string; outcome: 'DEAD' }

export function createOutbox(opts: OutboxOptions) {
  const { sql, log } = opts
  const timeoutMs = opts.timeoutMs ?? 10_000
  const batchSize = opts.batchSize ?? 20
  const baseDelayMs = opts.baseDelayMs ?? 1000
  const maxDelayMs = opts.maxDelayMs ?? 10 * 60_000
  const giveUpAfterMs = opts.giveUpAfterMs ?? 24 * 3600_000
  // The lease must outlast a delivery, or another instance could pick the event up meanwhile.
  const leaseMs = timeoutMs * 2 + 5_000
  const client = createServiceClient({ baseUrl: opts.mainUrl, key: opts.key, timeoutMs })

  /** Due PENDING events (due for at least `overdueMs`), oldest first, leased. */
  async function claimDue(overdueMs: number): Promise<Claimed[]> {
    return (await sql<Claimed[]>`
      with due as (
        select id from outbox
         where status = 'PENDING' and next_attempt_at <= now() - make_interval(secs => ${overdueMs / 1000})
         order by next_attempt_at, id
         limit ${batchSize}
         for update skip locked
      )
      update outbox o set next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
        from due where o.id = due.id
      returning o.id, o.event_id as "eventId", o.payload, o.attempts`) as Claimed[]
  }

  /** The event, leased, if it is PENDING and due; otherwise (delivered, dead, leased elsewhere, backing off) nothing. */
  async function claimOne(eventId: string): Promise<Claimed | undefined> {
    const [row] = await sql<Claimed[]>`
      update outbox set next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
       where event_id = ${eventId} and status = 'PENDING' and next_attempt_at <= now()
      returning id, event_id as "eventId", payload, attempts`
    return row
  }

  async function deliver(e: Claimed): Promise<Delivery> {
    let error: string
    try {
      const res = await client.post<unknown>(CALLBACK_PATH, e.payload)
      if (res.status >= 200 && res.status < 300) {
        await sql`
          update outbox set status = 'DELIVERED', delivered_at = now(), attempts = attempts + 1, last_error = null
           where id = ${e.id} and status = 'PENDING'`
        log.info({ eventId: e.eventId, attempts: e.attempts + 1 }, 'event delivered to main')
        return { eventId: e.eventId, outcome: 'DELIVERED' }
      }
      error = `HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`
    } catch (err) {
      error = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 500)
    }
    const delayMs = backoffMs(e.attempts, baseDelayMs, maxDelayMs)
    const [row] = await sql<{ status: string; nextAttemptAt: Date }[]>`
      update outbox
         set attempts = attempts + 1,
             last_error = ${error},
             next_attempt_at = now() + make_interval(secs => ${delayMs / 1000}),
             status = case when coalesce(resent_at, created_at) < now() - make_interval(secs => ${giveUpAfterMs / 1000})
                           then 'DEAD' else 'PENDING' end
       where id = ${e.id} and status = 'PENDING'
      returning status, next_attempt_at as "nextAttemptAt"`
    if (row?.status === 'DEAD') {
      log.error({ eventId: e.eventId, attempts: e.attempts + 1, error }, 'event given up: main never acknowledged it')
      return { eventId: e.eventId, outcome: 'DEAD' }
    }
    log.warn({ eventId: e.eventId, attempts: e.attempts + 1, retryInMs: delayMs, error }, 'event delivery failed; will retry')
    return { eventId: e.eventId, outcome: 'RETRY', nextAttemptAt: row?.nextAttemptAt ?? new Date(Date.now() + delayMs) }
  }

  return {
    /** Delivers one event if it is PENDING and due (a job's work); null when there was nothing to do. */
    async deliverEvent(eventId: string): Promise<Delivery | null> {
      const claimed = await claimOne(eventId)
      return claimed ? deliver(claimed) : null
    },
    /**
     * One pass over due events (the rescue task's work, and the way tests drive delivery): claims up
     * to `batchSize` events due for at least `overdueMs` and delivers them.
     */
    async runOnce(overdueMs = 0): Promise<Delivery[]> {
      const batch = await claimDue(overdueMs)
      return Promise.all(batch.map(deliver))
    },
    batchSize,
    close: () => client.close(),
  }
}

export type Outbox = ReturnType<typeof createOutbox>

export interface OutboxJobsOptions {
  /** Period of the rescue task. */
  rescueSeconds: number
  /**
   * The rescue task leaves an event this long past due to its job (default 2 s), so it does not
   * race the jobs; it only picks up what no job delivered.
   */
  rescueOverdueMs?: number
  /** Jobs one worker fetches at a time (delivered in parallel). */
  batchSize?: number
  log: FastifyBaseLogger
}

export interface OutboxJobs {
  /** Queues a delivery job for an event just written (fast path: the local worker is woken). */
  queue(eventId: string): Promise<void>
}

/** Runs delivery on `boss`: the `outbox-deliver` queue and the periodic rescue task. */
export async function startOutboxJobs(boss: PgBoss, outbox: Outbox, opts: OutboxJobsOptions): Promise<OutboxJobs> {
  const { log } = opts
  const rescueOverdueMs = opts.rescueOverdueMs ?? 2_000
  // A job is retried by pg-boss only when it threw (the database was unreachable); a failed
  // delivery is not an error, it queues the next job itself.
  await ensureQueue(boss, { name: DELIVER_QUEUE, retryLimit: 5, retryDelay: 2, retryBackoff: true, expireInSeconds: 120 })

  const send = (eventId: string, startAfter?: Date) => boss.send(DELIVER_QUEUE, { eventId }, startAfter ? { startAfter } : {})

  /** A failed delivery's next try: a job starting when its backoff ends (the rescue task covers a failed send). */
  async function followUp(d: Delivery) {
    if (d.outcome !== 'RETRY') return
    await send(d.eventId, d.nextAttemptAt).catch((err: Error) =>
      log.warn({ eventId: d.eventId, err: { message: err.message } }, 'could not queue the next delivery; the rescue task will'),
    )
  }

  const workerId = await boss.work<{ eventId: string }>(
    DELIVER_QUEUE,
    { batchSize: opts.batchSize ?? 10, pollingIntervalSeconds: 0.5 },
    async (jobs) => {
      const results = await Promise.allSettled(
        jobs.map(async (job) => {
          const d = await outbox.deliverEvent(job.data.eventId)
          if (d) await followUp(d)
        }),
      )
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason // retried by pg-boss; a duplicate delivery job is harmless
    },
  )

  await every(
    boss,
    {
      name: RESCUE_TASK,
      seconds: opts.rescueSeconds,
      run: async () => {
        for (;;) {
          const batch = await outbox.runOnce(rescueOverdueMs)
          if (batch.length) log.warn({ events: batch.length }, 'outbox rescue delivered events no job had delivered')
          for (const d of batch) await followUp(d)
          if (batch.length < outbox.batchSize) return
        }
      },
    },
    log,
  )

  return {
    async queue(eventId) {
      await send(eventId)
      boss.notifyWorker(workerId)
    },
  }
}

// ---- the operator's view: list events, resend a dead one ----

export type EventStatus = 'PENDING' | 'DELIVERED' | 'DEAD'

export interface OutboxEvent {
  eventId: string
  type: string
  status: EventStatus
  orderNo: string | null
  outTradeNo: string | null
  refundNo: string | null
  attempts: number
  lastError: string | null
  createdAt: string
  nextAttemptAt: string
  deliveredAt: string | null
  resentAt: string | null
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

function eventColumns(sql: Sql) {
  return sql`
    o.event_id as "eventId", o.event_type as type, o.status, o.payload->>'orderNo' as "orderNo", a.out_trade_no as "outTradeNo",
    o.payload->>'refundNo' as "refundNo", o.attempts, o.last_error as "lastError", o.created_at as "createdAt",
    o.next_attempt_at as "nextAttemptAt", o.delivered_at as "deliveredAt", o.resent_at as "resentAt"`
}

type EventRow = Omit<OutboxEvent, 'createdAt' | 'nextAttemptAt' | 'deliveredAt' | 'resentAt'> & {
  createdAt: Date
  nextAttemptAt: Date
  deliveredAt: Date | null
  resentAt: Date | null
}

const present = (r: EventRow): OutboxEvent => ({
  ...r,
  createdAt: r.createdAt.toISOString(),
  nextAttemptAt: r.nextAttemptAt.toISOString(),
  deliveredAt: iso(r.deliveredAt),
  resentAt: iso(r.resentAt),
})

export type ResendOutcome = { kind: 'RESENT'; event: OutboxEvent } | { kind: 'NOT_FOUND' } | { kind: 'NOT_DEAD'; status: EventStatus }

export function createOutboxAdmin(sql: Sql) {
  return {
    /** Events, newest first, optionally of one status. */
    async list(q: { status?: EventStatus; limit: number; offset: number }) {
      const where = q.status ? sql`where o.status = ${q.status}` : sql``
      const [rows, [count]] = await Promise.all([
        sql<EventRow[]>`
          select ${eventColumns(sql)} from outbox o left join payment_attempts a on a.id = o.payment_attempt_id
          ${where} order by o.id desc limit ${q.limit} offset ${q.offset}`,
        sql<{ n: number }[]>`select count(*)::int as n from outbox o ${where}`,
      ])
      return { content: rows.map(present), totalElements: count!.n, limit: q.limit, offset: q.offset }
    },

    /**
     * DEAD → PENDING, due now, with a new 24 h retry window; attempts and the last error are kept.
     * Only a DEAD event can be resent (a PENDING one is being retried, a DELIVERED one arrived).
     */
    async resend(eventId: string): Promise<ResendOutcome> {
      const [row] = await sql<EventRow[]>`
        with resent as (
          update outbox set status = 'PENDING', next_attempt_at = now(), resent_at = now()
           where event_id = ${eventId} and status = 'DEAD'
          returning *
        )
        select ${eventColumns(sql)} from resent o left join payment_attempts a on a.id = o.payment_attempt_id`
      if (row) return { kind: 'RESENT', event: present(row) }
      const [found] = await sql<{ status: EventStatus }[]>`select status from outbox where event_id = ${eventId}`
      return found ? { kind: 'NOT_DEAD', status: found.status } : { kind: 'NOT_FOUND' }
    },
  }
}

export type OutboxAdmin = ReturnType<typeof createOutboxAdmin>
