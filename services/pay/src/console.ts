/**
 * Read-only figures for the operator console (main's `/api/admin/console/*` is the way in for
 * people): the health of the money pipeline — the outbox backlog, dead events, each provider's last
 * reconciliation and its open differences, notifies that failed verification in the last hour —
 * and everything pay knows about one order (attempts, notifies, events, refunds), for its page.
 * All figures are read from the database, so they are the same whichever pay instance answers.
 * Notify bodies are never returned: the console shows verdicts and reasons, not raw provider input.
 */
import type { Sql } from '@paysys/db'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export interface ConsoleHealth {
  outbox: { pending: number; oldestPendingAgeSeconds: number | null; dead: number }
  verificationFailuresLastHour: number
  verificationFailuresByProvider: Record<string, number>
  reconciliations: {
    provider: string
    enabled: boolean
    openDifferences: number
    lastRun: {
      id: number
      billDay: string
      status: string
      differences: number
      repaired: number
      error: string | null
      startedAt: string
      finishedAt: string | null
    } | null
  }[]
}

export function createConsoleQueries(sql: Sql, enabledProviders: () => string[]) {
  return {
    async health(): Promise<ConsoleHealth> {
      const [[outbox], failures, runs, open] = await Promise.all([
        sql<{ pending: number; oldestAge: number | null; dead: number }[]>`
          select (select count(*) from outbox where status = 'PENDING')::int as pending,
                 (select extract(epoch from now() - min(created_at)) from outbox where status = 'PENDING')::float8 as "oldestAge",
                 (select count(*) from outbox where status = 'DEAD')::int as dead`,
        // REJECTED = the notify did not verify (signature, amount, app id, unknown order…).
        sql<{ provider: string; n: number }[]>`
          select provider, count(*)::int as n from notify_log
           where verdict = 'REJECTED' and received_at > now() - interval '1 hour' group by provider`,
        sql<
          {
            id: number
            provider: string
            billDay: string
            status: string
            differences: number
            repaired: number
            error: string | null
            startedAt: Date
            finishedAt: Date | null
          }[]
        >`
          select distinct on (provider) id, provider, bill_day as "billDay", status, differences, repaired, error,
                 started_at as "startedAt", finished_at as "finishedAt"
            from reconciliation_runs order by provider, id desc`,
        sql<{ provider: string; n: number }[]>`
          select provider, count(*)::int as n from reconciliation_differences where status = 'OPEN' group by provider`,
      ])
      const byProvider = Object.fromEntries(failures.map((f) => [f.provider, f.n]))
      const openBy = new Map(open.map((o) => [o.provider, o.n]))
      const enabled = enabledProviders()
      const providers = [...new Set([...enabled, ...runs.map((r) => r.provider)])].sort()
      return {
        outbox: {
          pending: outbox!.pending,
          oldestPendingAgeSeconds: outbox!.oldestAge === null ? null : Math.round(outbox!.oldestAge),
          dead: outbox!.dead,
        },
        verificationFailuresLastHour: failures.reduce((a, f) => a + f.n, 0),
        verificationFailuresByProvider: byProvider,
        reconciliations: providers.map((provider) => {
          const r = runs.find((x) => x.provider === provider)
          return {
            provider,
            enabled: enabled.includes(provider),
            openDifferences: openBy.get(provider) ?? 0,
            lastRun: r
              ? {
                  id: Number(r.id),
                  billDay: r.billDay,
                  status: r.status,
                  differences: r.differences,
                  repaired: r.repaired,
                  error: r.error,
                  startedAt: r.startedAt.toISOString(),
                  finishedAt: iso(r.finishedAt),
                }
              : null,
          }
        }),
      }
    },

    /** What pay holds about one order, each list oldest first. */
    async orderTrail(orderNo: string) {
      const attempts = await sql<
        {
          id: string
          outTradeNo: string
          provider: string
          channel: string
          amount: number
          status: string
          tradeNo: string | null
          paidVia: string | null
          createdAt: Date
          paidAt: Date | null
          closedAt: Date | null
        }[]
      >`
        select id, out_trade_no as "outTradeNo", provider, channel, amount, status, trade_no as "tradeNo", paid_via as "paidVia",
               created_at as "createdAt", paid_at as "paidAt", closed_at as "closedAt"
          from payment_attempts where order_no = ${orderNo} order by created_at, id`
      const tradeNos = attempts.map((a) => a.outTradeNo)
      const [notifies, events, refunds] = await Promise.all([
        tradeNos.length
          ? sql<{ id: number; provider: string; outTradeNo: string; verdict: string; reason: string | null; receivedAt: Date }[]>`
              select id, provider, out_trade_no as "outTradeNo", verdict, reason, received_at as "receivedAt"
                from notify_log where out_trade_no in ${sql(tradeNos)} order by received_at, id limit 200`
          : Promise.resolve([]),
        sql<
          {
            eventId: string
            type: string
            status: string
            attempts: number
            lastError: string | null
            createdAt: Date
            deliveredAt: Date | null
            refundNo: string | null
          }[]
        >`
          select event_id as "eventId", event_type as type, status, attempts, last_error as "lastError", created_at as "createdAt",
                 delivered_at as "deliveredAt", payload->>'refundNo' as "refundNo"
            from outbox
           where payment_attempt_id in (select id from payment_attempts where order_no = ${orderNo})
              or refund_id in (select id from refunds where order_no = ${orderNo})
           order by created_at, id`,
        sql<
          {
            refundNo: string
            provider: string
            amount: number
            kind: string
            status: string
            failureReason: string | null
            createdAt: Date
            refundedAt: Date | null
          }[]
        >`
          select refund_no as "refundNo", provider, amount, kind, status, failure_reason as "failureReason", created_at as "createdAt",
                 refunded_at as "refundedAt"
            from refunds where order_no = ${orderNo} order by created_at, id`,
      ])
      return {
        orderNo,
        attempts: attempts.map((a) => ({
          ...a,
          amount: Number(a.amount),
          createdAt: a.createdAt.toISOString(),
          paidAt: iso(a.paidAt),
          closedAt: iso(a.closedAt),
        })),
        notifies: notifies.map((n) => ({ ...n, id: Number(n.id), receivedAt: n.receivedAt.toISOString() })),
        events: events.map((e) => ({ ...e, createdAt: e.createdAt.toISOString(), deliveredAt: iso(e.deliveredAt) })),
        refunds: refunds.map((r) => ({
          ...r,
          amount: Number(r.amount),
          createdAt: r.createdAt.toISOString(),
          refundedAt: iso(r.refundedAt),
        })),
      }
    },
  }
}
export type ConsoleQueries = ReturnType<typeof createConsoleQueries>
