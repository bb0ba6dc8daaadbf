/**
 * Delivers queued events to main in batches (`POST /api/orders/callbacks`, one signed call per batch)
 * until main acknowledges each of them.
 *
 * The outbox table is the source of truth: an event row is written in the transaction of the state
 * change it describes. Delivery is a local drain loop (`startOutboxJobs`): after the commit the writer
 * wakes it (an in-process signal, no round trip); it claims up to `batchSize` due PENDING events with
 * a guarded lease (`FOR UPDATE SKIP LOCKED`, next_attempt_at pushed past the HTTP timeout), sends them
 * in one signed call, and repeats while events are due, with up to `concurrency` calls in flight. main
 * answers per event id: only the acknowledged events become DELIVERED (one UPDATE), only the failed
 * ones back off (one UPDATE), so one bad event never holds back the rest. A wake that was lost (a
 * crash between commit and wake, another instance's events) is covered by a drain at start and by
 * the periodic `outbox-rescue` task (pg-boss, one instance at a time); a failed event's next try is
 * a local timer at the end of its backoff (and the rescue task should this instance be gone).
 *
 * The lease keeps duplicate wakes, the rescue task and several pay instances from delivering one
 * event at the same time, and no transaction stays open during the HTTP call. A crash mid-delivery
 * leaves the lease to expire and the events are delivered again: main is idempotent by event id.
 * Failures back off exponentially (1 s, 2 s, 4 s … capped at 10 min); after 24 h (since creation,
 * or since a person resent it) an event is DEAD.
 */
import { CALLBACK_BATCH_MAX, type EventResult } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { createServiceClient, type ServiceKey } from '@paysys/service-auth'
import type { FastifyBaseLogger } from 'fastify'
import { every, type PgBoss } from '@paysys/server-kit'

/** main's bulk endpoint (the single-event `/api/orders/callback` stays for other signed callers). */
export const CALLBACKS_PATH = '/api/orders/callbacks'
export const RESCUE_TASK = 'outbox-rescue'

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void }

export interface OutboxOptions {
  sql: Sql
  mainUrl: string
  key: ServiceKey
  log: Log
  /** HTTP timeout per bulk call. */
  timeoutMs?: number
  /** Events one delivery claims and sends in one call at most. */
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

/** main's answer, per event id: undefined when acknowledged, else why not (kept as last_error). */
function answerOf(batch: Claimed[], res: { status: number; body: unknown }): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>()
  const results = (res.body as { data?: { results?: EventResult[] } } | null)?.data?.results
  if (res.status < 200 || res.status >= 300 || !Array.isArray(results)) {
    const error = `HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`
    for (const e of batch) out.set(e.eventId, error)
    return out
  }
  for (const e of batch) out.set(e.eventId, 'not answered by main')
  for (const r of results) {
    if (!out.has(r.eventId)) continue
    out.set(r.eventId, 'outcome' in r ? undefined : `HTTP ${r.status} ${r.error}: ${r.message}`.slice(0, 500))
  }
  return out
}

export function createOutbox(opts: OutboxOptions) {
  const { sql, log } = opts
  const timeoutMs = opts.timeoutMs ?? 10_000
  const batchSize = Math.min(opts.batchSize ?? 100, CALLBACK_BATCH_MAX)
  const baseDelayMs = opts.baseDelayMs ?? 1000
  const maxDelayMs = opts.maxDelayMs ?? 10 * 60_000
  const giveUpAfterMs = opts.giveUpAfterMs ?? 24 * 3600_000
  // The lease must outlast a delivery, or another instance could pick the events up meanwhile.
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

  /** Acknowledged events: DELIVERED, in one statement. */
  async function delivered(batch: Claimed[]): Promise<Delivery[]> {
    if (!batch.length) return []
    await sql`
      update outbox set status = 'DELIVERED', delivered_at = now(), attempts = attempts + 1, last_error = null
       where id = any(${batch.map((e) => e.id)}::bigint[]) and status = 'PENDING'`
    return batch.map((e) => ({ eventId: e.eventId, outcome: 'DELIVERED' }))
  }

  /** Failed events: each backs off by its own attempts (or is given up), in one statement. */
  async function failed(batch: Claimed[], errors: Map<string, string | undefined>): Promise<Delivery[]> {
    if (!batch.length) return []
    const rows = await sql<{ eventId: string; status: string; nextAttemptAt: Date; attempts: number; error: string }[]>`
      update outbox o
         set attempts = o.attempts + 1,
             last_error = f.error,
             next_attempt_at = now() + make_interval(secs => least(${maxDelayMs}::float8, ${baseDelayMs}::float8 * power(2, least(o.attempts, 30))) / 1000),
             status = case when coalesce(o.resent_at, o.created_at) < now() - make_interval(secs => ${giveUpAfterMs / 1000})
                           then 'DEAD' else 'PENDING' end
        from unnest(${batch.map((e) => e.id)}::bigint[], ${batch.map((e) => errors.get(e.eventId) ?? 'failed')}::text[]) as f(id, error)
       where o.id = f.id and o.status = 'PENDING'
      returning o.event_id as "eventId", o.status, o.next_attempt_at as "nextAttemptAt", o.attempts, f.error`
    return rows.map((r) => {
      if (r.status === 'DEAD') {
        log.error({ eventId: r.eventId, attempts: r.attempts, error: r.error }, 'event given up: main never acknowledged it')
        return { eventId: r.eventId, outcome: 'DEAD' }
      }
      log.warn({ eventId: r.eventId, attempts: r.attempts, retryAt: r.nextAttemptAt, error: r.error }, 'event delivery failed; will retry')
      return { eventId: r.eventId, outcome: 'RETRY', nextAttemptAt: r.nextAttemptAt }
    })
  }

  /** One signed call for the batch; DELIVERED only what main acknowledged, backoff only what failed. */
  async function deliver(batch: Claimed[]): Promise<Delivery[]> {
    if (!batch.length) return []
    let answer: Map<string, string | undefined>
    try {
      answer = answerOf(batch, await client.post<unknown>(CALLBACKS_PATH, { events: batch.map((e) => e.payload) }))
    } catch (err) {
      const error = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 500)
      answer = new Map(batch.map((e) => [e.eventId, error]))
    }
    const acked = batch.filter((e) => answer.get(e.eventId) === undefined)
    const [ok, bad] = await Promise.all([
      delivered(acked),
      failed(
        batch.filter((e) => answer.get(e.eventId) !== undefined),
        answer,
      ),
    ])
    if (ok.length) log.info({ events: ok.length }, 'events delivered to main')
    return [...ok, ...bad]
  }

  return {
    /**
     * One delivery: claims up to `batchSize` events due for at least `overdueMs` and sends them to
     * main in one call (the drain loop's and the rescue task's work, and the way tests drive delivery).
     */
    async runOnce(overdueMs = 0): Promise<Delivery[]> {
      return deliver(await claimDue(overdueMs))
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
   * The rescue task leaves an event this long past due to the drain loop of the instance that wrote
   * it (default 2 s); it only picks up what no wake delivered.
   */
  rescueOverdueMs?: number
  /** Bulk calls in flight at once on this instance. */
  concurrency?: number
  log: FastifyBaseLogger
}

export interface OutboxJobs {
  /** An event was just committed: drain the due events now (in-process; a lost wake is covered by the rescue task). */
  wake(): void
  /** Stops the loop and its timer; resolves when no delivery is in flight. */
  stop(): Promise<void>
}

/** Runs delivery: the local drain loop, woken by writers and by its retry timer, and the periodic rescue task on `boss`. */
export async function startOutboxJobs(boss: PgBoss, outbox: Outbox, opts: OutboxJobsOptions): Promise<OutboxJobs> {
  const { log } = opts
  const rescueOverdueMs = opts.rescueOverdueMs ?? 2_000
  const concurrency = opts.concurrency ?? 4
  let wanted = false // a wake came since the last claim began
  let running = 0
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let timerAt = Infinity
  let idle: (() => void) | undefined

  /** The earliest retry among these deliveries wakes the loop when its backoff ends. */
  function retryLater(ds: Delivery[]) {
    const at = Math.min(...ds.map((d) => (d.outcome === 'RETRY' ? d.nextAttemptAt.getTime() : Infinity)))
    if (at === Infinity || at >= timerAt || stopped) return
    clearTimeout(timer)
    timerAt = at
    timer = setTimeout(
      () => {
        timerAt = Infinity
        wake()
      },
      Math.max(0, at - Date.now()) + 5,
    )
    timer.unref()
  }

  async function drain() {
    try {
      while (wanted && !stopped) {
        wanted = false
        const ds = await outbox.runOnce(0)
        retryLater(ds)
        if (ds.length >= outbox.batchSize) wanted = true // more may be due
      }
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'outbox delivery failed; retried in 1 s (and by the rescue task)')
      retryLater([{ eventId: '', outcome: 'RETRY', nextAttemptAt: new Date(Date.now() + 1000) }])
    } finally {
      running--
      if (running === 0) idle?.()
    }
  }

  function wake() {
    wanted = true
    if (stopped || running >= concurrency) return
    running++
    void drain()
  }

  await every(
    boss,
    {
      name: RESCUE_TASK,
      seconds: opts.rescueSeconds,
      run: async () => {
        for (;;) {
          const batch = await outbox.runOnce(rescueOverdueMs)
          if (batch.length) log.warn({ events: batch.length }, 'outbox rescue delivered events no wake had delivered')
          retryLater(batch)
          if (batch.length < outbox.batchSize) return
        }
      },
    },
    log,
  )
  wake() // what is due already (left by a crash or a stop)

  return {
    wake,
    async stop() {
      stopped = true
      clearTimeout(timer)
      if (running > 0) await new Promise<void>((r) => (idle = r))
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
