/**
 * Periodic sweep (until the pg-boss jobs of a later issue): overdue PENDING_PAYMENT orders become
 * EXPIRED (guarded, `FOR UPDATE SKIP LOCKED`, so several instances share the work), their provider
 * trades are closed through pay (retried on later passes while pay is down), PENDING refunds are
 * sent to pay again, and old idempotency keys are forgotten.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '@paysys/db'
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

export function createOrderSweeper(deps: {
  sql: Sql
  orders: OrdersRepo
  pay: PayClient
  refunds: RefundService
  /** Reconciliation: asks pay (which asks the provider) about stale pending orders. */
  sync?: (order: OrderRow) => Promise<OrderRow>
  reconcileAfterS?: number
  log: FastifyBaseLogger
  intervalMs: number
  batch?: number
  /** PENDING refunds younger than this are left to the request that made them. */
  refundRetryAfterS?: number
}) {
  const { orders, log } = deps
  const batch = deps.batch ?? 100
  let timer: NodeJS.Timeout | undefined
  let running: Promise<SweepResult | undefined> | undefined
  let lastPrune = 0

  async function runOnce(): Promise<SweepResult> {
    const result: SweepResult = { expired: 0, tradesClosed: 0, paidOnClose: 0, refundsRetried: 0, reconciled: 0, reconciledPaid: 0 }
    const expired = await orders.expireDue(batch)
    result.expired = expired.length
    if (expired.length) log.info({ orders: expired.map((o) => o.orderNo) }, 'orders expired')
    for (const order of await orders.tradeClosePending(batch)) {
      try {
        const r = await closeProviderTrade(deps, order)
        await orders.markTradeClosed(order.id)
        if (r.kind === 'PAID') result.paidOnClose++
        else result.tradesClosed++
      } catch (err) {
        log.warn({ orderNo: order.orderNo, err: { message: (err as Error).message } }, 'closing the provider trade failed; will retry')
      }
    }
    result.refundsRetried = await deps.refunds.retryPending(deps.refundRetryAfterS ?? 30)
    // A payment whose notify or push never arrived is found here, even with no one polling.
    if (deps.sync) {
      for (const order of await orders.claimStalePending(deps.reconcileAfterS ?? 120, batch)) {
        result.reconciled++
        if ((await deps.sync(order)).status !== 'PENDING_PAYMENT') result.reconciledPaid++
      }
      if (result.reconciledPaid) log.info({ paid: result.reconciledPaid, checked: result.reconciled }, 'reconciliation found paid orders')
    }
    if (Date.now() - lastPrune > 3600_000) {
      lastPrune = Date.now()
      await pruneIdempotencyKeys(deps.sql)
    }
    return result
  }

  function tick() {
    if (running) return
    running = runOnce()
      .catch((err: Error) => {
        log.error({ err: { message: err.message } }, 'order sweep failed')
        return undefined
      })
      .finally(() => {
        running = undefined
      })
  }

  return {
    runOnce,
    start() {
      if (timer) return
      timer = setInterval(tick, deps.intervalMs)
      tick()
    },
    /** Stops the timer and waits for the pass in progress. */
    async stop() {
      clearInterval(timer)
      timer = undefined
      await running
    },
  }
}
export type OrderSweeper = ReturnType<typeof createOrderSweeper>
