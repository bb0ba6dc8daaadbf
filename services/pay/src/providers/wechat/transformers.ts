/**
 * Pure data mapping between WeChat Pay v3's wire format and ours. No I/O: unit-tested without a
 * network. WeChat amounts are integer fen, like ours: they are checked, never converted.
 */
import type { ProviderTrade, RefundNotice, RefundResult, TradeState } from '../types.ts'

export const WECHAT_CHANNELS = ['native', 'jsapi', 'h5'] as const
export type WechatChannel = (typeof WECHAT_CHANNELS)[number]

export function isWechatChannel(channel: string): channel is WechatChannel {
  return (WECHAT_CHANNELS as readonly string[]).includes(channel)
}

/** `trade_state` of a transaction (query answer, decrypted notify resource). */
export const WECHAT_TRADE_STATES = ['SUCCESS', 'REFUND', 'NOTPAY', 'CLOSED', 'REVOKED', 'USERPAYING', 'PAYERROR'] as const
export type WechatTradeState = (typeof WECHAT_TRADE_STATES)[number]

/**
 * The one mapping of WeChat trade states to ours. Only SUCCESS is a payment.
 * - REFUND (paid, then refunded) is not a payment to record now: to an attempt still PENDING it is
 *   a closed trade, as Alipay's TRADE_CLOSED after a full refund.
 * - PAYERROR (the bank refused) is not final: the buyer may pay again until the trade is closed.
 * Anything else is UNKNOWN, never SUCCEEDED.
 */
export function wechatTradeState(state: unknown): TradeState {
  if (typeof state !== 'string' || !(WECHAT_TRADE_STATES as readonly string[]).includes(state)) return 'UNKNOWN'
  const known = state as WechatTradeState
  switch (known) {
    case 'SUCCESS':
      return 'SUCCEEDED'
    case 'NOTPAY':
    case 'USERPAYING':
    case 'PAYERROR':
      return 'PENDING'
    case 'CLOSED':
    case 'REVOKED':
    case 'REFUND':
      return 'CLOSED'
    default: {
      const exhaustive: never = known
      return exhaustive
    }
  }
}

/** Largest amount we send in one trade (fen); WeChat's own cap is lower per merchant. */
const MAX_FEN = 100_000_000_00

/** A WeChat fen amount (positive safe integer), or null. Strings and fractions are refused: never rounded. */
export function wechatFen(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= MAX_FEN ? value : null
}

/** Our fen → WeChat's `amount.total`; anything but a positive integer is a bug and throws. */
export function toWechatTotal(fen: number): number {
  if (wechatFen(fen) === null) throw new RangeError(`not an integer fen amount: ${fen}`)
  return fen
}

const CST_OFFSET_MS = 8 * 3600_000

/** RFC 3339 in China Standard Time, as WeChat writes times: `2024-05-01T12:00:04+08:00`. */
export function toWechatTime(date: Date): string {
  return `${new Date(date.getTime() + CST_OFFSET_MS).toISOString().slice(0, 19)}+08:00`
}

/** An RFC 3339 time with an explicit offset (WeChat's `success_time`), or null. */
export function fromWechatTime(value: unknown): Date | null {
  if (typeof value !== 'string') return null
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? null : d
}

/** A Native `code_url` lives 2 hours (WeChat: "code_url有效期为2小时，过期后扫码不能再发起支付"). */
export const CODE_URL_LIFETIME_MS = 2 * 3600_000

/**
 * When the provider payment dies, sent as `time_expire` (whole seconds, as it is written): the order's
 * expiry, and for Native at most the code_url's 2 hours, so the trade dies with its QR code and a
 * cached QR code is never served dead. JSAPI and H5 are asked again on every create (the same prepay
 * answered while it lives, a fresh h5_url each time: it lives 5 minutes), so they live as the order does.
 */
export function wechatExpiry(channel: WechatChannel, orderExpireAt: Date | null, now = Date.now()): Date | null {
  const cap = channel === 'native' ? now + CODE_URL_LIFETIME_MS : Infinity
  const at = Math.min(orderExpireAt?.getTime() ?? Infinity, cap)
  return Number.isFinite(at) ? new Date(Math.floor(at / 1000) * 1000) : null
}

/** WeChat limits `description` to 127 characters. */
export function wechatDescription(subject: string): string {
  return [...subject].slice(0, 127).join('')
}

export interface TransactionInput {
  outTradeNo: string
  amount: number
  subject: string
  expireAt: Date | null
  openid?: string
  clientIp?: string
}

/** The body of a `/v3/pay/transactions/{native,jsapi,h5}` request (appid and mchid are added by the SDK). */
export function transactionBody(input: TransactionInput, notifyUrl: string) {
  return {
    description: wechatDescription(input.subject),
    out_trade_no: input.outTradeNo,
    notify_url: notifyUrl,
    amount: { total: toWechatTotal(input.amount), currency: 'CNY' },
    ...(input.expireAt ? { time_expire: toWechatTime(input.expireAt) } : {}),
  }
}

/** JSAPI: the payer is the WeChat user (openid under our appid). */
export function jsapiBody(input: TransactionInput & { openid: string }, notifyUrl: string) {
  return { ...transactionBody(input, notifyUrl), payer: { openid: input.openid } }
}

/** H5 (mobile browser outside WeChat): WeChat wants the buyer's IP and the kind of site. */
export function h5Body(input: TransactionInput & { clientIp: string }, notifyUrl: string) {
  const h5Info = { type: 'Wap', app_name: [...wechatDescription(input.subject)].slice(0, 32).join('') }
  return { ...transactionBody(input, notifyUrl), scene_info: { payer_client_ip: input.clientIp, h5_info: h5Info } }
}

/** Why a create request can never succeed for this channel (null when it can). */
export function createProblem(input: { channel: string; openid?: string; clientIp?: string }): string | null {
  if (input.channel === 'jsapi' && !input.openid) return '微信 JSAPI 支付需要 openid（付款用户在该公众号下的 openid）'
  if (input.channel === 'h5' && !input.clientIp) return '微信 H5 支付需要 clientIp（付款用户的客户端 IP）'
  return null
}

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The trade a transaction object describes (query answer or decrypted notify resource), or null
 * when a field a payment needs is missing or malformed.
 */
export function tradeFromTransaction(tx: unknown): ProviderTrade | null {
  if (!isObject(tx)) return null
  const outTradeNo = typeof tx.out_trade_no === 'string' && tx.out_trade_no ? tx.out_trade_no : null
  const status = typeof tx.trade_state === 'string' ? tx.trade_state : ''
  if (!outTradeNo) return null
  const state = wechatTradeState(status)
  const amountNode = isObject(tx.amount) ? tx.amount : {}
  const amount = amountNode.total === undefined ? null : wechatFen(amountNode.total)
  if (amountNode.total !== undefined && amount === null) return null
  const tradeNo = typeof tx.transaction_id === 'string' && tx.transaction_id ? tx.transaction_id : null
  if (state === 'SUCCEEDED') {
    if (!tradeNo || amount === null) return null
    // Paid in another currency would not be the amount we asked for.
    if (amountNode.currency !== undefined && amountNode.currency !== 'CNY') return null
  }
  return { outTradeNo, state, providerStatus: status, tradeNo, amount, paidAt: fromWechatTime(tx.success_time) }
}

/** The merchant and app a transaction belongs to (checked against ours before it is believed). */
export function transactionOwner(tx: unknown): { mchid: unknown; appid: unknown } {
  return isObject(tx) ? { mchid: tx.mchid, appid: tx.appid } : { mchid: undefined, appid: undefined }
}

/** A notification envelope: `{id, event_type, resource_type, resource:{…}}`, or null. */
export interface NotifyEnvelope {
  id: string
  eventType: string
  resource: { algorithm: unknown; ciphertext: unknown; nonce: unknown; associated_data: unknown; original_type: unknown }
}

export function parseNotifyEnvelope(raw: string): NotifyEnvelope | null {
  let body: unknown
  try {
    body = JSON.parse(raw)
  } catch {
    return null
  }
  if (!isObject(body) || !isObject(body.resource) || typeof body.event_type !== 'string') return null
  const r = body.resource
  return {
    id: typeof body.id === 'string' ? body.id : '',
    eventType: body.event_type,
    resource: {
      algorithm: r.algorithm,
      ciphertext: r.ciphertext,
      nonce: r.nonce,
      associated_data: r.associated_data,
      original_type: r.original_type,
    },
  }
}

/**
 * Refund `status`: SUCCESS | PROCESSING | CLOSED | ABNORMAL. ABNORMAL (the money parked in WeChat's
 * intermediate account, finished by hand) is neither made nor given up. Unknown is PENDING (ask
 * again), never SUCCEEDED; only CLOSED is FAILED.
 */
export function wechatRefundState(status: unknown): RefundResult['state'] {
  switch (status) {
    case 'SUCCESS':
      return 'SUCCEEDED'
    case 'ABNORMAL':
      return 'ABNORMAL'
    case 'CLOSED':
      return 'FAILED'
    default:
      return 'PENDING'
  }
}

/**
 * Whether a signed error answer to a refund create proves the refund was not and will not be made:
 * a 400 (the request itself is wrong: PARAM_ERROR, INVALID_REQUEST, …) and USER_ACCOUNT_ABNORMAL (the
 * buyer's account is gone; WeChat: "商户可自行处理退款"). Everything else may succeed when asked again
 * with the same out_refund_no: WeChat's failures (5xx, SYSTEM_ERROR), rate limiting (429
 * FREQUENCY_LIMITED), the merchant's balance (NOT_ENOUGH), permissions (403 NO_AUTH), 404s.
 */
export function refundRefusedForGood(status: number, code: string): boolean {
  if (['SYSTEM_ERROR', 'FREQUENCY_LIMITED', 'NOT_ENOUGH'].includes(code)) return false
  return status === 400 || (status === 403 && code === 'USER_ACCOUNT_ABNORMAL')
}

/** A refund answer (create or query) in our terms, or null when malformed. */
export function refundFromAnswer(data: unknown): RefundResult | null {
  if (!isObject(data) || !isObject(data.amount)) return null
  const refundNo = typeof data.out_refund_no === 'string' ? data.out_refund_no : null
  const amount = wechatFen(data.amount.refund)
  if (!refundNo || amount === null) return null
  const state = wechatRefundState(data.status)
  return {
    refundNo,
    amount,
    state,
    refundedAt: state === 'SUCCEEDED' ? fromWechatTime(data.success_time) : null,
    ...(state === 'FAILED' || state === 'ABNORMAL' ? { failureReason: `refund status ${String(data.status)}` } : {}),
  }
}

/**
 * The refund a decrypted refund notify (退款结果通知: event_type REFUND.SUCCESS / REFUND.ABNORMAL /
 * REFUND.CLOSED, original_type refund) reports, or null when malformed or when its `refund_status`
 * is not the one its event type names. Mapped by the same wechatRefundState as a query answer.
 */
export function refundFromNotice(eventType: string, data: unknown): RefundNotice | null {
  if (!isObject(data) || !isObject(data.amount)) return null
  const outTradeNo = typeof data.out_trade_no === 'string' && data.out_trade_no ? data.out_trade_no : null
  if (!outTradeNo || eventType !== `REFUND.${String(data.refund_status)}`) return null
  const refund = refundFromAnswer({ ...data, status: data.refund_status })
  return refund && { ...refund, outTradeNo }
}

/** The `{code, message}` of a WeChat error answer (body text), for errors and logs. */
export function errorOf(text: unknown): { code: string; message: string } {
  if (typeof text === 'string') {
    try {
      const v: unknown = JSON.parse(text)
      if (isObject(v)) return { code: String(v.code ?? ''), message: String(v.message ?? '') }
    } catch {
      /* not JSON */
    }
  } else if (isObject(text)) {
    return { code: String(text.code ?? ''), message: String(text.message ?? '') }
  }
  return { code: '', message: typeof text === 'string' ? text.slice(0, 200) : '' }
}
