/**
 * Pure data mapping between Alipay's wire format and ours. No I/O here: everything is unit-tested
 * without a network.
 */
import { fenToYuanString, parseYuan } from '@paysys/money'
import type { ProviderTrade, TradeState } from '../types.ts'

export const ALIPAY_CHANNELS = ['page', 'wap', 'qr'] as const
export type AlipayChannel = (typeof ALIPAY_CHANNELS)[number]

export function isAlipayChannel(channel: string): channel is AlipayChannel {
  return (ALIPAY_CHANNELS as readonly string[]).includes(channel)
}

/** Alipay's trade statuses (alipay.trade.query `trade_status`, notify `trade_status`). */
export const ALIPAY_TRADE_STATUSES = ['WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED'] as const
export type AlipayTradeStatus = (typeof ALIPAY_TRADE_STATUSES)[number]

/**
 * The one mapping of Alipay trade statuses to ours. TRADE_FINISHED (paid, no longer refundable)
 * is as paid as TRADE_SUCCESS. TRADE_CLOSED also covers "fully refunded", which callers only
 * apply to attempts still PENDING. Anything else is UNKNOWN, never SUCCEEDED.
 */
export function alipayTradeState(status: unknown): TradeState {
  if (typeof status !== 'string' || !(ALIPAY_TRADE_STATUSES as readonly string[]).includes(status)) return 'UNKNOWN'
  const known = status as AlipayTradeStatus
  switch (known) {
    case 'WAIT_BUYER_PAY':
      return 'PENDING'
    case 'TRADE_SUCCESS':
    case 'TRADE_FINISHED':
      return 'SUCCEEDED'
    case 'TRADE_CLOSED':
      return 'CLOSED'
    default: {
      const exhaustive: never = known
      return exhaustive
    }
  }
}

/** Fen → Alipay's yuan string: 2500 → "25.00". */
export function toAlipayAmount(amount: number): string {
  return fenToYuanString(amount)
}

/** Alipay's yuan string → fen, or null when it is not a sane amount ("25.00" → 2500). */
export function fromAlipayAmount(value: unknown): number | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null
  try {
    return parseYuan(typeof value === 'number' ? value : value.trim())
  } catch {
    return null
  }
}

// Alipay times are "yyyy-MM-dd HH:mm:ss" in China Standard Time (UTC+8, no daylight saving).
const CST_OFFSET_MS = 8 * 3600_000

export function toAlipayTime(date: Date): string {
  const d = new Date(date.getTime() + CST_OFFSET_MS)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
}

export function fromAlipayTime(value: unknown): Date | null {
  if (typeof value !== 'string') return null
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value.trim())
  if (!m) return null
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) - CST_OFFSET_MS
  const date = new Date(ms)
  // Reject impossible dates (2024-02-31) instead of letting Date roll them over.
  return toAlipayTime(date) === value.trim() ? date : null
}

interface ChannelSpec {
  method: string
  productCode?: string
  flow: 'page' | 'precreate'
}

const CHANNELS: Record<AlipayChannel, ChannelSpec> = {
  page: { method: 'alipay.trade.page.pay', productCode: 'FAST_INSTANT_TRADE_PAY', flow: 'page' },
  wap: { method: 'alipay.trade.wap.pay', productCode: 'QUICK_WAP_WAY', flow: 'page' },
  qr: { method: 'alipay.trade.precreate', flow: 'precreate' },
}

export function channelSpec(channel: AlipayChannel): ChannelSpec {
  return CHANNELS[channel]
}

/** An Alipay QR code (precreate) can be paid for two hours at most, whatever time_expire says. */
export const QR_LIFETIME_MS = 2 * 3600_000

/**
 * The time_expire sent with every create: the order's expiry, never later; for a QR code at most its
 * two hours (a new trade is made after it); two hours when the order has none.
 */
export function providerExpiry(channel: AlipayChannel, orderExpireAt: Date | null, now = Date.now()): Date {
  const cap = new Date(now + QR_LIFETIME_MS)
  if (!orderExpireAt) return cap
  return channel === 'qr' && orderExpireAt > cap ? cap : orderExpireAt
}

/** biz_content of a create call (page.pay / wap.pay / precreate); `expireAt` is `providerExpiry`'s. */
export function createBizContent(
  channel: AlipayChannel,
  input: { outTradeNo: string; amount: number; subject: string; expireAt: Date },
): Record<string, string> {
  const spec = CHANNELS[channel]
  const biz: Record<string, string> = {
    out_trade_no: input.outTradeNo,
    total_amount: toAlipayAmount(input.amount),
    subject: input.subject,
  }
  if (spec.productCode) biz.product_code = spec.productCode
  // Seconds are cut, so the trade never outlives the given moment.
  biz.time_expire = toAlipayTime(input.expireAt)
  return biz
}

export const PUNCHOUT_FORM_NAME = 'punchout_form'

/**
 * The SDK names its auto-submitting form `alipaySDKSubmit<timestamp>`. Seed 003's frontend inserts
 * the HTML with innerHTML (so the script does not run) and calls
 * `document.forms['punchout_form'].submit()`: rename the form, its id and the script's reference.
 */
export function nameFormPunchout(formHtml: string): string {
  const m = /name="([^"]+)"/.exec(formHtml.slice(formHtml.indexOf('<form')))
  const generated = m?.[1]
  if (!generated || !/^alipaySDKSubmit\d*$/.test(generated)) throw new Error('unexpected alipay-sdk form markup')
  return formHtml.split(generated).join(PUNCHOUT_FORM_NAME).trim()
}

/**
 * Parses an application/x-www-form-urlencoded notification body. Duplicate keys make it
 * ambiguous which value was signed, so such bodies are refused (null).
 */
export function parseFormBody(raw: string): Record<string, string> | null {
  if (!raw.trim()) return null
  let params: URLSearchParams
  try {
    params = new URLSearchParams(raw)
  } catch {
    return null
  }
  const out: Record<string, string> = Object.create(null)
  for (const [k, v] of params) {
    if (!k || k in out) return null
    out[k] = v
  }
  return Object.keys(out).length ? { ...out } : null
}

/** The trade a notification describes, or null when a required field is missing or malformed. */
export function tradeFromNotify(params: Record<string, string>): ProviderTrade | null {
  const outTradeNo = params.out_trade_no
  const status = params.trade_status
  const amount = fromAlipayAmount(params.total_amount)
  if (!outTradeNo || !status || amount === null) return null
  const state = alipayTradeState(status)
  const tradeNo = params.trade_no || null
  if (state === 'SUCCEEDED' && !tradeNo) return null
  return {
    outTradeNo,
    state,
    providerStatus: status,
    tradeNo,
    amount,
    paidAt: fromAlipayTime(params.gmt_payment),
  }
}

/** The trade in a (camelCased) alipay.trade.query answer. */
export function tradeFromQuery(result: Record<string, unknown>, outTradeNo: string): ProviderTrade | null {
  const status = typeof result.tradeStatus === 'string' ? result.tradeStatus : ''
  const tradeNo = typeof result.tradeNo === 'string' && result.tradeNo ? result.tradeNo : null
  const amount = result.totalAmount === undefined ? null : fromAlipayAmount(result.totalAmount)
  const state = alipayTradeState(status)
  if (state === 'SUCCEEDED' && (!tradeNo || amount === null)) return null
  return {
    outTradeNo: typeof result.outTradeNo === 'string' && result.outTradeNo ? result.outTradeNo : outTradeNo,
    state,
    providerStatus: status,
    tradeNo,
    amount,
    paidAt: fromAlipayTime(result.sendPayDate),
  }
}

// ---- refunds ----

/** biz_content of alipay.trade.refund: out_request_no is our refundNo (Alipay's idempotency key per refund). */
export function refundBizContent(input: { outTradeNo: string; refundNo: string; amount: number; reason?: string }): Record<string, string> {
  const biz: Record<string, string> = {
    out_trade_no: input.outTradeNo,
    refund_amount: toAlipayAmount(input.amount),
    out_request_no: input.refundNo,
  }
  if (input.reason) biz.refund_reason = input.reason.slice(0, 256)
  return biz
}

/**
 * Sub codes after which the same request may simply be sent again (same out_request_no). Every
 * other business failure is final for this refundNo.
 */
const RETRYABLE_REFUND_SUB_CODES = new Set(['ACQ.SYSTEM_ERROR', 'ACQ.SELLER_BALANCE_NOT_ENOUGH', 'aop.ACQ.SYSTEM_ERROR'])

export type AlipayRefundOutcome =
  /** Money moved by this very call. */
  | { kind: 'SUCCEEDED' }
  /** Accepted, but no fund change in this call (a repeat): confirm with refund.query. */
  | { kind: 'CONFIRM' }
  | { kind: 'RETRY'; reason: string }
  | { kind: 'FAILED'; reason: string }

/** What a (camelCased) alipay.trade.refund answer means. */
export function refundOutcome(res: Record<string, unknown>): AlipayRefundOutcome {
  const code = String(res.code ?? '')
  const subCode = String(res.subCode ?? res.sub_code ?? '')
  const subMsg = String(res.subMsg ?? res.sub_msg ?? res.msg ?? '')
  if (code === '10000') return (res.fundChange ?? res.fund_change) === 'Y' ? { kind: 'SUCCEEDED' } : { kind: 'CONFIRM' }
  // 20000: service temporarily unavailable; the outcome is unknown, asking again is safe.
  if (code === '20000' || RETRYABLE_REFUND_SUB_CODES.has(subCode)) return { kind: 'RETRY', reason: `${code} ${subCode} ${subMsg}`.trim() }
  return { kind: 'FAILED', reason: `${subCode || code} ${subMsg}`.trim() }
}

/**
 * A (camelCased) alipay.trade.fastpay.refund.query answer: did refund `refundNo` of `amount` fen
 * succeed? Alipay answers Success with no refund fields for a refund it does not know.
 */
export function refundQuerySucceeded(res: Record<string, unknown>, amount: number): boolean {
  if (String(res.code ?? '') !== '10000') return false
  const status = res.refundStatus ?? res.refund_status
  if (status !== undefined && status !== 'REFUND_SUCCESS') return false
  const refunded = fromAlipayAmount(res.refundAmount ?? res.refund_amount)
  return refunded === amount
}
