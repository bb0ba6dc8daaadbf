/**
 * Which day a provider's bill puts a refund on, and so which of our refunds a day's bill must list.
 *
 * WeChat dates a refund by its acceptance: "交易时间: 指该笔交易的支付成功时间或发起退款成功时间（注：
 * 不是退款成功时间）" and "退款发起成功就会出账，出账后退款状态不会更新" (WeChat Pay, 交易账单详细说明,
 * pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html). A refund accepted at
 * 23:50 and completed at 00:10 is on the first day's bill, as PROCESSING. Our nearest record of the
 * acceptance is when we asked (refunds.created_at, seconds before WeChat's create_time); its
 * success_time (refunded_at) would put it on the wrong day. Alipay's 业务明细 dates a refund by its
 * 完成时间, and its refunds complete when asked: refunded_at.
 */
import type { Sql } from '@paysys/db'
import type { ProviderName } from '../providers/types.ts'

export type RefundDayBasis = 'ACCEPTED' | 'COMPLETED'

const BY_ACCEPTANCE: ReadonlySet<string> = new Set<ProviderName>(['WECHAT_PAY'])

export const refundDayBasis = (provider: ProviderName): RefundDayBasis => (BY_ACCEPTANCE.has(provider) ? 'ACCEPTED' : 'COMPLETED')

/**
 * SQL condition (on `refunds` aliased `r`) for the refunds the provider's bill of [start, end)
 * should list: by acceptance, every refund asked for then that has not failed (pending ones too:
 * the bill lists them as PROCESSING); by completion, those that succeeded then.
 */
export function refundsOfDay(sql: Sql, provider: ProviderName, start: Date, end: Date) {
  return refundDayBasis(provider) === 'ACCEPTED'
    ? sql`r.status in ('SUCCEEDED', 'PENDING') and r.created_at >= ${start} and r.created_at < ${end}`
    : sql`r.status = 'SUCCEEDED' and r.refunded_at >= ${start} and r.refunded_at < ${end}`
}
