/**
 * Durable outgoing notifications (any provider).
 *
 * `auto` deliveries are rows in `notify_deliveries`; a poller claims due rows with
 * `FOR UPDATE SKIP LOCKED` (a lease, so a crash mid-request only delays the retry), sends them, records
 * every attempt in `notify_attempts`, and reschedules on the provider's retry schedule until the merchant
 * acknowledges (per-provider rule) or the schedule is exhausted. Pending rows survive restarts.
 * `manual`/`raw` deliveries (control API) are sent once, right away, and recorded the same way.
 */
import { request } from 'undici'
import type postgres from 'postgres'
import type { Sql } from '@paysys/db'
import type { DeliveryRules } from './provider.ts'

/** A pool or a transaction. */
export type Q = postgres.ISql

export type DeliveryKind = 'auto' | 'manual' | 'raw'

export interface DeliveryRequest {
  provider: string
  kind: DeliveryKind
  reference: string | null
  method: 'POST' | 'GET'
  url: string
  headers: Record<string, string>
  body: string | null
  /** First attempt not before now + delayMs (default: now). */
  delayMs?: number
}

export interface AttemptResult {
  status: number | null
  body: string | null
  error: string | null
  durationMs: number
}

/** Did the merchant acknowledge? (Each provider has its rule, e.g. HTTP 200 and the body exactly `success`.) */
export type AckRule = (status: number, body: string) => boolean

interface DeliveryRow {
  id: number
  provider: string
  reference: string | null
  method: string
  url: string
  headers: Record<string, string>
  body: string | null
  attempts: number
}

interface Logger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

const LEASE_MS = 120_000
const BATCH = 16
const MAX_STORED_BODY = 4000

export type DeliveryService = ReturnType<typeof createDeliveryService>

export function createDeliveryService(opts: {
  sql: Sql
  log: Logger
  timeoutMs: number
  pollMs: number
  /**
   * Per provider: acknowledgement, retry schedule (read when an attempt fails, so a restart with
   * another time factor applies to pending deliveries too) and per-attempt header rewriting.
   */
  rules: ReadonlyMap<string, DeliveryRules>
  /** Extra periodic housekeeping run on every poll (e.g. expiring trades). */
  onTick?: () => Promise<void>
}) {
  const { sql, log } = opts
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let stopped = true

  async function httpSend(d: Pick<DeliveryRow, 'method' | 'url' | 'headers' | 'body'>): Promise<AttemptResult> {
    const started = Date.now()
    try {
      const res = await request(d.url, {
        method: d.method as 'POST' | 'GET',
        headers: d.headers,
        body: d.method === 'GET' ? undefined : (d.body ?? ''),
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      })
      const text = await res.body.text()
      return { status: res.statusCode, body: text, error: null, durationMs: Date.now() - started }
    } catch (err) {
      const e = err as Error & { code?: string }
      return { status: null, body: null, error: `${e.code ?? e.name}: ${e.message}`.slice(0, 500), durationMs: Date.now() - started }
    }
  }

  function acked(provider: string, r: AttemptResult): boolean {
    const rule = opts.rules.get(provider)?.ack
    return r.status !== null && r.body !== null && rule !== undefined && rule(r.status, r.body)
  }

  async function recordAttempt(tx: Q, d: { id: number; provider: string; reference: string | null }, attempt: number, r: AttemptResult) {
    await tx`
      insert into notify_attempts (delivery_id, provider, reference, attempt, status, response_body, error, duration_ms)
      values (${d.id}, ${d.provider}, ${d.reference}, ${attempt}, ${r.status}, ${r.body === null ? null : r.body.slice(0, MAX_STORED_BODY)},
              ${r.error}, ${r.durationMs})`
  }

  async function deliver(d: DeliveryRow): Promise<void> {
    const attempt = d.attempts + 1
    const prepare = opts.rules.get(d.provider)?.prepare
    const r = await httpSend(prepare ? { ...d, headers: prepare(d) } : d)
    const ok = acked(d.provider, r)
    const delays = opts.rules.get(d.provider)?.schedule ?? []
    await sql.begin(async (tx) => {
      await recordAttempt(tx, d, attempt, r)
      if (ok) {
        await tx`update notify_deliveries set state = 'DELIVERED', attempts = ${attempt}, delivered_at = now()
                 where id = ${d.id} and state = 'PENDING'`
      } else if (attempt > delays.length) {
        await tx`update notify_deliveries set state = 'GAVE_UP', attempts = ${attempt} where id = ${d.id} and state = 'PENDING'`
      } else {
        const delay = delays[attempt - 1] ?? 0
        await tx`update notify_deliveries set attempts = ${attempt},
                   next_attempt_at = now() + ${delay} * interval '1 millisecond'
                 where id = ${d.id} and state = 'PENDING'`
      }
    })
    log.info({ deliveryId: d.id, reference: d.reference, attempt, status: r.status, acked: ok }, 'notify attempt')
  }

  async function tickOnce(): Promise<number> {
    const due = await sql<DeliveryRow[]>`
      with due as (
        select id from notify_deliveries
        where state = 'PENDING' and next_attempt_at <= now()
        order by next_attempt_at, id
        limit ${BATCH}
        for update skip locked
      )
      update notify_deliveries d set next_attempt_at = now() + ${LEASE_MS} * interval '1 millisecond'
      from due where d.id = due.id
      returning d.id, d.provider, d.reference, d.method, d.url, d.headers, d.body, d.attempts`
    await Promise.all(
      due.map((d) => deliver(d).catch((err: Error) => log.warn({ deliveryId: d.id, err: err.message }, 'notify delivery failed'))),
    )
    return due.length
  }

  async function tick(): Promise<void> {
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      try {
        do {
          again = false
          await opts.onTick?.()
          while ((await tickOnce()) === BATCH && !stopped) {
            /* drain */
          }
        } while (again && !stopped)
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'notify worker tick failed')
      } finally {
        running = undefined
      }
    })()
    return running
  }

  return {
    /** Inserts a durable delivery (inside the caller's transaction when `tx` is given). Call `kick()` after commit. */
    async enqueue(tx: Q, req: DeliveryRequest): Promise<number> {
      const [row] = await tx<{ id: number }[]>`
        insert into notify_deliveries (provider, kind, reference, method, url, headers, body, next_attempt_at)
        values (${req.provider}, ${req.kind}, ${req.reference}, ${req.method}, ${req.url}, ${sql.json(req.headers)}, ${req.body},
                now() + ${req.delayMs ?? 0} * interval '1 millisecond')
        returning id`
      return row!.id
    },

    /** Sends once, now, records the attempt, and returns what the merchant answered. */
    async sendNow(req: Omit<DeliveryRequest, 'delayMs'>): Promise<AttemptResult & { deliveryId: number }> {
      const [row] = await sql<{ id: number }[]>`
        insert into notify_deliveries (provider, kind, reference, method, url, headers, body, state)
        values (${req.provider}, ${req.kind}, ${req.reference}, ${req.method}, ${req.url}, ${sql.json(req.headers)}, ${req.body}, 'SENDING')
        returning id`
      const d = { id: row!.id, provider: req.provider, reference: req.reference }
      const r = await httpSend(req)
      const ok = acked(req.provider, r)
      await sql.begin(async (tx) => {
        await recordAttempt(tx, d, 1, r)
        await tx`update notify_deliveries set state = 'SENT', attempts = 1, delivered_at = ${ok ? new Date() : null} where id = ${d.id}`
      })
      return { ...r, deliveryId: d.id }
    },

    /** Runs a poll now (e.g. right after a commit that enqueued something). */
    kick(): void {
      if (!stopped) void tick()
    },

    start(): void {
      if (!stopped) return
      stopped = false
      timer = setInterval(() => void tick(), opts.pollMs)
      void tick()
    },

    async stop(): Promise<void> {
      stopped = true
      if (timer) clearInterval(timer)
      timer = undefined
      await running
    },
  }
}
