/**
 * Pay's own re-query of stale pending attempts (a periodic task on pay's pg-boss): an attempt still
 * PENDING some minutes after it was made is asked about at the provider, so a payment whose notify
 * never came is recorded (and pushed to main) without waiting for main to poll. A payment found is
 * recorded exactly like a notify (`flows.requery` → recordProven: PAID + outbox event, once); a
 * trade the provider closed is marked CLOSED, as the status call does; a trade the provider never
 * created (the buyer never opened the cashier) changes nothing. An attempt closed here while the
 * provider did not know its trade yet (`close_unconfirmed`: it stays payable there until its
 * provider expiry) is asked about too until then, so a payment of it is found even without a notify.
 * Each pass also resends the duplicate-payment refunds still pending (refunds.ts), and at most once an
 * hour forgets the provider event ids older than their retention (provider-events.ts).
 *
 * Attempts are claimed with a guarded `last_queried_at` update (FOR UPDATE SKIP LOCKED), so several
 * pay instances never query one attempt at once, and each attempt is asked at most once per
 * `olderThanSeconds`. Attempts older than `withinHours` are left to the daily reconciliation.
 */
import type { Sql } from '@paysys/db'
import type { FastifyBaseLogger } from 'fastify'
import type { PaymentFlows } from './flows.ts'
import type { ProviderName } from './providers/types.ts'
import type { RefundFlows } from './refunds.ts'
import { pruneProviderEvents } from './provider-events.ts'

const PRUNE_EVERY_MS = 3600_000

export const STALE_ATTEMPT_TASK = 'stale-attempt-requery'

interface StaleAttempt {
  id: string
  orderNo: string
  outTradeNo: string
  provider: ProviderName
  providerRef: string | null
}

export function createStaleAttemptSweep(deps: {
  sql: Sql
  flows: Pick<PaymentFlows, 'requery'>
  refunds?: Pick<RefundFlows, 'retryDuplicates'>
  log: FastifyBaseLogger
  /** An attempt is stale this long after it was made (and is re-asked at most this often). */
  olderThanSeconds: number
  /** Attempts one pass claims at most (default 50). */
  batchSize?: number
  /** Only attempts younger than this are swept (default 24 h). */
  withinHours?: number
  /** Provider queries in flight at once (default 4). */
  concurrency?: number
}) {
  const { sql, flows, log, olderThanSeconds } = deps
  const batchSize = deps.batchSize ?? 50
  const withinHours = deps.withinHours ?? 24
  const concurrency = deps.concurrency ?? 4
  let lastPruneAt = 0

  async function claim(): Promise<StaleAttempt[]> {
    return (await sql<StaleAttempt[]>`
      with stale as (
        select id from payment_attempts
         where (status = 'PENDING'
                or (status = 'CLOSED' and close_unconfirmed
                    and coalesce(provider_expire_at, expire_at, created_at + interval '2 hours') > now() - interval '10 minutes'))
           and created_at <= now() - make_interval(secs => ${olderThanSeconds})
           and created_at > now() - make_interval(hours => ${withinHours})
           and (last_queried_at is null or last_queried_at <= now() - make_interval(secs => ${olderThanSeconds}))
         order by last_queried_at nulls first, created_at, id
         limit ${batchSize}
         for update skip locked
      )
      update payment_attempts a set last_queried_at = now()
        from stale where a.id = stale.id
      returning a.id, a.order_no as "orderNo", a.out_trade_no as "outTradeNo", a.provider, a.provider_ref as "providerRef"`) as StaleAttempt[]
  }

  /** One pass: claims stale attempts and asks the provider about each. Returns how many were claimed. */
  async function runOnce(): Promise<number> {
    const batch = await claim()
    for (let i = 0; i < batch.length; i += concurrency) {
      await Promise.all(
        batch.slice(i, i + concurrency).map(async (a) => {
          try {
            await flows.requery(a.provider, a.outTradeNo, a.providerRef)
          } catch (err) {
            // Asked again next period; the reconciliation and main's pull are there too.
            log.warn(
              { orderNo: a.orderNo, outTradeNo: a.outTradeNo, err: { message: (err as Error).message } },
              'stale attempt re-query failed',
            )
          }
        }),
      )
    }
    if (batch.length) log.info({ attempts: batch.length }, 'stale pending attempts re-queried')
    try {
      await deps.refunds?.retryDuplicates(olderThanSeconds)
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'duplicate payment refunds not retried')
    }
    if (Date.now() - lastPruneAt >= PRUNE_EVERY_MS) {
      lastPruneAt = Date.now()
      try {
        const pruned = await pruneProviderEvents(sql)
        if (pruned) log.info({ pruned }, 'old provider event ids pruned')
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'provider events not pruned')
      }
    }
    return batch.length
  }

  return { runOnce }
}

export type StaleAttemptSweep = ReturnType<typeof createStaleAttemptSweep>
