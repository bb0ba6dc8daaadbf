/**
 * Closing an order's provider trade through pay (cancel, expiry, paying with credits instead).
 * Pay answers 409 ORDER_NOT_PAYABLE with the PaymentStatusResponse when the buyer has already
 * paid: that payment is then recorded here (the order becomes PAID), never lost.
 */
import type { FastifyBaseLogger } from 'fastify'
import { AppError, type PaymentStatusResponse } from '@paysys/contracts'
import type { PayClient } from '../pay-client.ts'
import type { OrderRow, OrdersRepo } from './repo.ts'

export type CloseTradeOutcome = { kind: 'CLOSED' } | { kind: 'PAID'; order: OrderRow }

function paidStatus(details: unknown): PaymentStatusResponse | undefined {
  const s = details as Partial<PaymentStatusResponse> | undefined
  return s && s.status === 'PAID' && typeof s.amount === 'number' && typeof s.orderNo === 'string'
    ? (s as PaymentStatusResponse)
    : undefined
}

export async function closeProviderTrade(
  deps: { pay: PayClient; orders: OrdersRepo; log: FastifyBaseLogger },
  order: OrderRow,
  requestId?: string,
): Promise<CloseTradeOutcome> {
  try {
    await deps.pay.close(order.orderNo, requestId)
    return { kind: 'CLOSED' }
  } catch (err) {
    if (!(err instanceof AppError)) throw err
    // Pay never started a payment for it: nothing to close.
    if (err.error === 'PAYMENT_NOT_FOUND') return { kind: 'CLOSED' }
    const s = err.error === 'ORDER_NOT_PAYABLE' ? paidStatus(err.details) : undefined
    if (!s) throw err
    const r = await deps.orders.markPaid({
      orderNo: order.orderNo,
      amountFen: s.amount,
      tradeNo: s.tradeNo ?? '',
      paidAt: s.paidAt ? new Date(s.paidAt) : new Date(),
      provider: s.method,
      channel: s.channel,
    })
    if (r.outcome === 'AMOUNT_MISMATCH')
      deps.log.error({ orderNo: order.orderNo }, 'paid amount differs from the order amount: needs a person')
    else deps.log.warn({ orderNo: order.orderNo, outcome: r.outcome }, 'closing the trade found it paid: order marked PAID')
    const fresh = r.outcome === 'NOT_FOUND' || r.outcome === 'DUPLICATE' ? order : r.order
    return { kind: 'PAID', order: fresh }
  }
}
