/**
 * Which of our refunds a provider's bill of a day must list, by the day the provider puts a refund
 * on (`PaymentProvider.billRefundDay`).
 *
 * ACCEPTED: the bill dates a refund by its acceptance and freezes its state then, so a refund accepted
 * at 23:50 and completed at 00:10 is on the first day's bill, still processing. Our nearest record
 * of the acceptance is when we asked (refunds.created_at, seconds before the provider's own time);
 * refunded_at would put it on the wrong day. COMPLETED (the default): the bill lists refunds made
 * that day: refunded_at.
 */
import type { Sql } from '@paysys/db'

export type RefundDayBasis = 'ACCEPTED' | 'COMPLETED'

/**
 * SQL condition (on `refunds` aliased `r`) for the refunds the provider's bill of [start, end)
 * should list: by acceptance, every refund asked for then that has not failed (pending ones too:
 * the bill lists them as processing); by completion, those that succeeded then.
 */
export function refundsOfDay(sql: Sql, basis: RefundDayBasis, start: Date, end: Date) {
  return basis === 'ACCEPTED'
    ? sql`r.status in ('SUCCEEDED', 'PENDING', 'ABNORMAL') and r.created_at >= ${start} and r.created_at < ${end}`
    : sql`r.status = 'SUCCEEDED' and r.refunded_at >= ${start} and r.refunded_at < ${end}`
}
