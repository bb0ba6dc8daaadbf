/**
 * WeChat Pay's payment notification: a JSON POST to notify_url whose `resource` is the
 * transaction encrypted with the APIv3 key (AEAD_AES_256_GCM), signed with the platform key (or public key) in the
 * `Wechatpay-*` headers. The merchant acknowledges with HTTP 200 or 204; anything else (or no
 * answer) is retried on WeChat's schedule. Each attempt is signed anew (fresh timestamp and nonce),
 * the body (and so the notification id and ciphertext) stays the same.
 */
import { randomUUID, type KeyObject } from 'node:crypto'
import type { SandboxConfig } from '../config.ts'
import { scaleSchedule } from '../provider.ts'
import type { AckRule, DeliveryRequest, DeliveryService, Q } from '../deliveries.ts'
import { aeadEncrypt, signatureHeaders, type EncryptedResource, type WechatKeys } from './signing.ts'
import type { WxRefund, WxTrade } from './trades.ts'

/** 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h (16 attempts in about 24 h). */
export const WECHAT_RETRY_SCHEDULE_MS = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600].map(
  (s) => s * 1000,
)

/** HTTP 200 or 204 means received (200 with {code:"FAIL"} is not retried by WeChat either). */
export const wechatAck: AckRule = (status) => status === 200 || status === 204

export const wechatScaledSchedule = (config: Pick<SandboxConfig, 'timeFactor' | 'minRetryMs'>): number[] =>
  scaleSchedule(WECHAT_RETRY_SCHEDULE_MS, config)

const CST_OFFSET_MS = 8 * 3600_000

/** RFC 3339 in China time, as WeChat writes times: 2024-05-01T12:00:04+08:00. */
export function wechatTime(d: Date | number = Date.now()): string {
  const ms = typeof d === 'number' ? d : d.getTime()
  return `${new Date(ms + CST_OFFSET_MS).toISOString().slice(0, 19)}+08:00`
}

export const TRADE_STATE_DESC: Record<string, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '未支付',
  CLOSED: '已关闭',
  REVOKED: '已撤销（付款码支付）',
  USERPAYING: '用户支付中（付款码支付）',
  PAYERROR: '支付失败(其他原因，如银行返回失败)',
}

/**
 * The transaction object, as query answers and (decrypted) notifies carry it. An unpaid
 * transaction has no transaction_id, payer or success_time (`asPaid` forces the paid shape,
 * for notifies sent through the control API).
 */
export function transactionObject(t: WxTrade, opts: { asPaid?: boolean } = {}): Record<string, unknown> {
  const paid = opts.asPaid || t.paid_at !== null
  // A payment notification always says SUCCESS (as sent at payment time), whatever happened since.
  const state = opts.asPaid ? 'SUCCESS' : t.trade_state
  const tx: Record<string, unknown> = {
    mchid: t.mchid,
    appid: t.appid,
    out_trade_no: t.out_trade_no,
  }
  if (paid) tx.transaction_id = t.transaction_id
  tx.trade_type = t.trade_type
  tx.trade_state = state
  tx.trade_state_desc = TRADE_STATE_DESC[state] ?? ''
  if (paid) {
    tx.bank_type = 'OTHERS'
    tx.attach = t.attach ?? ''
    tx.success_time = wechatTime(t.paid_at ?? new Date())
    tx.payer = { openid: t.payer_openid ?? 'o' + t.id.slice(3).padEnd(27, '0') }
    tx.amount = { total: t.total, payer_total: t.total, currency: 'CNY', payer_currency: 'CNY' }
  } else {
    tx.attach = t.attach ?? ''
    tx.amount = { total: t.total, currency: 'CNY', payer_currency: 'CNY' }
  }
  return tx
}

export const NOTIFY_TAMPER_FIELDS = ['amount_total', 'mchid', 'appid', 'out_trade_no', 'trade_state', 'transaction_id'] as const
export type NotifyTamper = Partial<Record<(typeof NOTIFY_TAMPER_FIELDS)[number], string | number>>

export function applyTamper(tx: Record<string, unknown>, tamper: NotifyTamper): Record<string, unknown> {
  const out: Record<string, unknown> = { ...tx }
  for (const [k, v] of Object.entries(tamper)) {
    if (v === undefined) continue
    if (k === 'amount_total') {
      const amount = { ...(out.amount as Record<string, unknown>) }
      // A numeric string becomes a number, as WeChat writes amounts; anything else is sent as given.
      amount.total = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v
      amount.payer_total = amount.total
      out.amount = amount
    } else {
      out[k] = v
    }
  }
  return out
}

const SUMMARIES: Record<string, string> = {
  'TRANSACTION.SUCCESS': '支付成功',
  'REFUND.SUCCESS': '退款成功',
  'REFUND.ABNORMAL': '退款异常',
  'REFUND.CLOSED': '退款关闭',
}

export interface NotifyOptions {
  /** Sign with this key instead of the platform key. */
  signingKey?: KeyObject
  /** Put this serial into Wechatpay-Serial instead of the platform certificate's. */
  serial?: string
  /** Flip bits of the ciphertext (inside transaction_id's digits) after encrypting: only the GCM tag can tell. */
  corruptCiphertext?: boolean
  /** Event type (default TRANSACTION.SUCCESS). */
  eventType?: string
  /** resource.original_type and the AEAD associated data: `transaction` (default) or `refund`. */
  originalType?: 'transaction' | 'refund'
}

export interface BuiltNotify {
  body: string
  headers: Record<string, string>
  /** The notification id (same for every retry). */
  id: string
  resource: Record<string, unknown>
}

/** The notification JSON with `tx` encrypted into `resource`, and its signature headers. */
export function buildNotify(tx: Record<string, unknown>, keys: WechatKeys, opts: NotifyOptions = {}): BuiltNotify {
  const plaintext = JSON.stringify(tx)
  const originalType = opts.originalType ?? 'transaction'
  const resource: EncryptedResource & { original_type: string } = {
    original_type: originalType,
    ...aeadEncrypt(plaintext, keys.apiV3Key, originalType),
  }
  if (opts.corruptCiphertext) resource.ciphertext = corrupt(resource.ciphertext, plaintext)
  const id = randomUUID()
  const eventType = opts.eventType ?? 'TRANSACTION.SUCCESS'
  const body = JSON.stringify({
    id,
    create_time: wechatTime(),
    resource_type: 'encrypt-resource',
    event_type: eventType,
    summary: SUMMARIES[eventType] ?? eventType,
    resource,
  })
  return { body, headers: notifyHeaders(body, keys, opts), id, resource: tx }
}

export function notifyHeaders(
  body: string,
  keys: WechatKeys,
  opts: Pick<NotifyOptions, 'signingKey' | 'serial'> = {},
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'Mozilla/4.0',
    ...signatureHeaders(body, opts.signingKey ?? keys.signingPrivate, opts.serial ?? keys.signingSerial),
  }
}

/**
 * GCM is a stream cipher: ciphertext byte i encrypts plaintext byte i. XOR 0x01 on a digit of
 * transaction_id turns it into another digit, so a decryption that skips the tag check yields
 * valid JSON for a different (unpaid-for) transaction id; a correct one fails on the tag.
 */
function corrupt(ciphertextB64: string, plaintext: string): string {
  const data = Buffer.from(ciphertextB64, 'base64')
  const marker = '"transaction_id":"'
  const at = plaintext.indexOf(marker)
  const offset = at >= 0 ? Buffer.byteLength(plaintext.slice(0, at + marker.length), 'utf8') : 0
  data[offset] = data[offset]! ^ 0x01
  return data.toString('base64')
}

export function notifyDelivery(
  trade: Pick<WxTrade, 'out_trade_no' | 'notify_url'>,
  n: BuiltNotify,
  kind: DeliveryRequest['kind'],
): DeliveryRequest {
  return {
    provider: 'wechat',
    kind,
    reference: trade.out_trade_no,
    method: 'POST',
    url: trade.notify_url,
    headers: n.headers,
    body: n.body,
  }
}

/** Inside the payment's transaction: schedules the durable TRANSACTION.SUCCESS notify. */
export async function scheduleNotify(tx: Q, deliveries: DeliveryService, keys: WechatKeys, trade: WxTrade, delayMs = 0): Promise<void> {
  const n = buildNotify(transactionObject(trade), keys)
  await deliveries.enqueue(tx, { ...notifyDelivery(trade, n, 'auto'), delayMs })
}

/**
 * The refund object of a refund notify (退款结果通知, decrypted): the refund's state as
 * `refund_status`, success_time only once SUCCESS, no appid (refunds belong to the merchant).
 */
export function refundNotifyObject(r: WxRefund, t: WxTrade): Record<string, unknown> {
  return {
    mchid: t.mchid,
    transaction_id: t.transaction_id,
    out_trade_no: t.out_trade_no,
    refund_id: r.refund_id,
    out_refund_no: r.out_refund_no,
    refund_status: r.status,
    ...(r.status === 'SUCCESS' && r.success_time ? { success_time: wechatTime(r.success_time) } : {}),
    user_received_account: '支付用户零钱',
    amount: { total: r.total, refund: r.refund, payer_total: r.total, payer_refund: r.refund },
  }
}

/**
 * Inside the transaction that settled the refund: schedules the durable REFUND.<status> notify to the
 * refund request's notify_url (WeChat sends to the merchant platform's refund URL without one: the
 * sandbox has none, so nothing is sent). Retried on the payment notify's schedule, as WeChat does.
 */
export function refundNotifier(deliveries: DeliveryService, keys: WechatKeys) {
  return async (tx: Q, r: WxRefund, t: WxTrade): Promise<void> => {
    if (!r.notify_url || r.status === 'PROCESSING') return
    const n = buildNotify(refundNotifyObject(r, t), keys, { eventType: `REFUND.${r.status}`, originalType: 'refund' })
    // Listed by the control API under the out_refund_no (`notifications?outTradeNo=<out_refund_no>`).
    await deliveries.enqueue(tx, { ...notifyDelivery({ out_trade_no: r.out_refund_no, notify_url: r.notify_url }, n, 'auto') })
  }
}

/** Re-signs a durable notify before each attempt (same body, fresh timestamp and nonce). */
export function resignAttempt(keys: WechatKeys) {
  return (d: { headers: Record<string, string>; body: string | null }): Record<string, string> => ({
    ...d.headers,
    ...signatureHeaders(d.body ?? '', keys.signingPrivate, keys.signingSerial),
  })
}
