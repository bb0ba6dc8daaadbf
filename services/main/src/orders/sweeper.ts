/**
 * main's background work, as separate periodic tasks on pg-boss (`every`: one run of a task at a
 * time across all instances, chained `seconds` apart; a crashed instance's run is retried elsewhere):
 * - `orders-expire`: overdue PENDING_PAYMENT orders become EXPIRED (guarded, `FOR UPDATE SKIP LOCKED`)
 *   and their provider trades are closed through pay (retried on later runs while pay is down);
 * - `refunds-retry`: PENDING refunds are sent to pay again;
 * - `orders-reconcile`: stale pending orders are re-queried through pay (which asks the provider);
 * - `idempotency-prune`: old idempotency keys are forgotten (hourly).
 * Each step is a plain function too; `runOnce()` runs the first three in order (tests).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '@paysys/db'
import { every, stopJobs, type PgBoss } from '@paysys/server-kit'
import { pruneIdempotencyKeys } from '../idempotency.ts'
import type { PayClient } from '../pay-client.ts'
import type { RefundService } from '../refunds.ts'
import type { OrderRow, OrdersRepo } from './repo.ts'
import { closeProviderTrade } from './trades.ts'

export interface SweepResult {
  expired: number
  tradesClosed: number
  paidOnClose: number
  refundsRetried: number
  /** Stale pending orders re-queried through pay, and how many of them turned out paid. */
  reconciled: number
  reconciledPaid: number
}

/** Periods of the tasks (ms; pg-boss runs them at most every 0.5 s). */
export interface SweepPeriods {
  expireMs: number
  refundsMs: number
  reconcileMs: number
  pruneMs?: number
}

export function createOrderSweeper(deps: {
  sql: Sql
  orders: OrdersRepo
  pay: PayClient
  refunds: RefundService
  /** Reconciliation: asks pay (which asks the provider) about stale pending orders. */
  sync?: (order: OrderRow) => Promise<OrderRow>
  reconcileAfterS?: number
  log: FastifyBaseLogger
  batch?: number
  /** PENDING refunds younger than this are left to the request that made them. */
  refundRetryAfterS?: number
}) {
  const { orders, log } = deps
  const batch = deps.batch ?? 100
  let boss: PgBoss | undefined

  /** Expires overdue orders (all of them, a batch at a time), then closes the trades still open. */
  async function expire(): Promise<Pick<SweepResult, 'expired' | 'tradesClosed' | 'paidOnClose'>> {
    const result = { expired: 0, tradesClosed: 0, paidOnClose: 0 }
    const closed: string[] = []
    for (;;) {
      const expired = await orders.expireDue(batch)
      result.expired += expired.length
      if (expired.length) log.info({ orders: expired.map((o) => o.orderNo) }, 'orders expired')
      if (expired.length < batch) break
    }
    for (const order of await orders.tradeClosePending(batch)) {
      try {
        const r = await closeProviderTrade(deps, order)
        await orders.markTradeClosed(order.id)
        closed.push(order.orderNo)
        if (r.kind === 'PAID') result.paidOnClose++
        else result.tradesClosed++
      } catch (err) {
        log.warn({ orderNo: order.orderNo, err: { message: (err as Error).message } }, 'closing the provider trade failed; will retry')
      }
    }
    if (closed.length) log.info({ orders: closed, paidOnClose: result.paidOnClose }, 'provider trades closed')
    return result
  }

  async function retryRefunds(): Promise<number> {
    return deps.refunds.retryPending(deps.refundRetryAfterS ?? 30)
  }

  /** A payment whose notify or push never arrived is found here, even with no one polling. */
  async function reconcile(): Promise<Pick<SweepResult, 'reconciled' | 'reconciledPaid'>> {
    const result = { reconciled: 0, reconciledPaid: 0 }
    if (!deps.sync) return result
    for (const order of await orders.claimStalePending(deps.reconcileAfterS ?? 120, batch)) {
      result.reconciled++
      if ((await deps.sync(order)).status !== 'PENDING_PAYMENT') result.reconciledPaid++
    }
    if (result.reconciledPaid) log.info({ paid: result.reconciledPaid, checked: result.reconciled }, 'reconciliation found paid orders')
    return result
  }

  async function prune(): Promise<number> {
    return pruneIdempotencyKeys(deps.sql)
  }

  async function runOnce(): Promise<SweepResult> {
    const expired = await expire()
    const refundsRetried = await retryRefunds()
    return { ...expired, refundsRetried, ...(await reconcile()) }
  }

  return {
    expire,
    retryRefunds,
    reconcile,
    prune,
    runOnce,
    /** Registers the tasks on `boss` (every instance does; pg-boss runs each on one at a time); stop() stops it. */
    async start(jobs: PgBoss, periods: SweepPeriods) {
      boss = jobs
      const s = (ms: number) => ms / 1000
      await every(jobs, { name: 'orders-expire', seconds: s(periods.expireMs), run: expire }, log)
      await every(jobs, { name: 'refunds-retry', seconds: s(periods.refundsMs), run: retryRefunds }, log)
      await every(jobs, { name: 'orders-reconcile', seconds: s(periods.reconcileMs), run: reconcile }, log)
      await every(jobs, { name: 'idempotency-prune', seconds: s(periods.pruneMs ?? 3600_000), run: prune }, log)
    },
    /** Stops pg-boss: no new runs here; waits (up to 10 s) for the runs in progress, then closes its pool. */
    async stop() {
      const jobs = boss
      boss = undefined
      await stopJobs(jobs)
    },
  }
}
export type OrderSweeper = ReturnType<typeof createOrderSweeper>
