/**
 * pay's business metrics, next to server-kit's HTTP and process metrics on `app.metrics`.
 *
 * What lives in the database (payment attempts by provider and status, the outbox backlog) is read
 * at scrape time, so every instance reports the same truth and a restart loses nothing. What only
 * one process sees — each notification's verdict — is counted where it is decided.
 */
import type { FastifyBaseLogger } from 'fastify'
import { Counter, Gauge, type Registry } from 'prom-client'
import { PAYMENT_STATUSES } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { sharedScrapeRead } from '@paysys/server-kit'
import { PROVIDERS } from './providers/index.ts'
import type { NotifyHandled } from './flows.ts'

export interface PayMetrics {
  /** One provider notification and its verdict (called once per notify, whatever it contained). */
  notification(provider: string, handled: Pick<NotifyHandled, 'verdict' | 'reason'>): void
}

// Labels come from our own closed lists; anything else (never expected) is folded so that a
// caller can never create series at will.
const providerLabel = (p: string) => (PROVIDERS.includes(p) ? p : 'OTHER')
const reasonLabel = (r: string | null) => (r && /^[A-Z][A-Z0-9_]{0,47}$/.test(r) ? r : 'OTHER')

export function registerPayMetrics(registry: Registry, deps: { sql: Sql; log: FastifyBaseLogger }): PayMetrics {
  const { sql, log } = deps

  const readAttempts = sharedScrapeRead(
    async () =>
      (await sql<{ provider: string; status: string; n: number }[]>`
        select provider, status, count(*)::int as n from payment_attempts group by provider, status`) as {
        provider: string
        status: string
        n: number
      }[],
    { log },
  )
  new Gauge({
    name: 'paysys_payment_attempts',
    help: 'Payment attempts (provider trades) by provider and status, read from the database at scrape time',
    labelNames: ['provider', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await readAttempts()
      this.reset()
      // Database unreachable: no figures rather than stale ones (/readyz says why).
      if (!rows) return
      for (const provider of PROVIDERS) for (const status of PAYMENT_STATUSES) this.set({ provider, status }, 0)
      for (const r of rows) this.set({ provider: r.provider, status: r.status }, r.n)
    },
  })

  // One statement for the three outbox gauges: the pending part rides the partial due-index.
  const readOutbox = sharedScrapeRead(
    async () => {
      const [r] = await sql<{ pending: number; oldestAge: number | null; dead: number }[]>`
      select (select count(*) from outbox where status = 'PENDING')::int as pending,
             (select extract(epoch from now() - min(created_at)) from outbox where status = 'PENDING')::float8 as "oldestAge",
             (select count(*) from outbox where status = 'DEAD')::int as dead`
      return r!
    },
    { log },
  )
  const outboxGauge = (name: string, help: string, value: (r: { pending: number; oldestAge: number | null; dead: number }) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const r = await readOutbox()
        this.reset()
        if (r) this.set(value(r))
      },
    })
  outboxGauge('paysys_outbox_pending', 'Events for main not yet acknowledged (backlog of the outbox)', (r) => r.pending)
  outboxGauge(
    'paysys_outbox_oldest_pending_age_seconds',
    'Age of the oldest event main has not acknowledged yet; 0 when none is pending',
    (r) => Math.max(0, r.oldestAge ?? 0),
  )
  outboxGauge('paysys_outbox_dead', 'Events given up after retrying for 24 h (need a person)', (r) => r.dead)

  const notifications = new Counter({
    name: 'paysys_notifications_total',
    help: 'Provider notifications received, by provider and verdict (ACCEPTED, DUPLICATE, IGNORED, REJECTED)',
    labelNames: ['provider', 'verdict'] as const,
    registers: [registry],
  })
  const verificationFailures = new Counter({
    name: 'paysys_notify_verification_failures_total',
    help: 'Rejected provider notifications by reason (BAD_SIGNATURE, AMOUNT_MISMATCH, UNKNOWN_ORDER, …; INTERNAL_ERROR is ours)',
    labelNames: ['provider', 'reason'] as const,
    registers: [registry],
  })

  return {
    notification(provider, handled) {
      const p = providerLabel(provider)
      notifications.inc({ provider: p, verdict: handled.verdict })
      if (handled.verdict === 'REJECTED') verificationFailures.inc({ provider: p, reason: reasonLabel(handled.reason) })
    },
  }
}
