/**
 * Alipay's asynchronous notify (form POST to notify_url) and synchronous browser return
 * (GET to return_url), both signed with the platform key over every parameter except
 * `sign` and `sign_type`.
 */
import type { KeyObject } from 'node:crypto'
import type { SandboxConfig } from '../config.ts'
import { scaleSchedule } from '../provider.ts'
import type { DeliveryRequest, AckRule, Q, DeliveryService } from '../deliveries.ts'
import { chinaTime, fenToYuan, randomDigits, randomToken } from '../util.ts'
import { signNotifyParams, type Params } from './signing.ts'
import type { Trade } from './trades.ts'

/** Alipay retries 8 times in about 25 h: after 4m, 10m, 10m, 1h, 2h, 6h, 15h. */
export const ALIPAY_RETRY_SCHEDULE_MS = [4, 10, 10, 60, 120, 360, 900].map((m) => m * 60_000)

/** The merchant acknowledges with HTTP 200 and the body exactly `success`. */
export const alipayAck: AckRule = (status, body) => status === 200 && body === 'success'

export const scaledSchedule = (config: Pick<SandboxConfig, 'timeFactor' | 'minRetryMs'>): number[] =>
  scaleSchedule(ALIPAY_RETRY_SCHEDULE_MS, config)

export const NOTIFY_TAMPER_FIELDS = ['total_amount', 'app_id', 'out_trade_no', 'trade_status'] as const
export type NotifyTamper = Partial<Record<(typeof NOTIFY_TAMPER_FIELDS)[number], string>>

/** The unsigned `trade_status_sync` parameters for a trade (as a paid trade, unless told otherwise). */
export function notifyParams(trade: Trade, sellerId: string): Params {
  const paid = fenToYuan(trade.total_amount)
  const params: Params = {
    notify_type: 'trade_status_sync',
    notify_id: `${randomToken(32)}${randomDigits(3)}`,
    notify_time: chinaTime(),
    app_id: trade.app_id,
    auth_app_id: trade.app_id,
    charset: 'utf-8',
    version: '1.0',
    out_trade_no: trade.out_trade_no,
    trade_no: trade.trade_no,
    trade_status: 'TRADE_SUCCESS',
    total_amount: fenToYuan(trade.total_amount),
    receipt_amount: paid,
    invoice_amount: paid,
    buyer_pay_amount: paid,
    point_amount: '0.00',
    gmt_create: chinaTime(trade.created_at),
    gmt_payment: chinaTime(trade.paid_at ?? new Date()),
    seller_id: sellerId,
    buyer_id: trade.buyer_id ?? `2088${randomDigits(12)}`,
    subject: trade.subject,
    fund_bill_list: JSON.stringify([{ amount: paid, fundChannel: 'ALIPAYACCOUNT' }]),
  }
  if (trade.body) params.body = trade.body
  return params
}

export interface SignedNotify {
  params: Params
  body: string
}

/**
 * Signs the notify. `tamper` values replace the real ones before signing (a validly signed notify
 * carrying wrong data, to test the merchant's cross-checks), or after signing with
 * `tamperAfterSign` (the signature then no longer matches). `signingKey` defaults to the platform key.
 */
export function signedNotify(
  params: Params,
  signingKey: KeyObject,
  opts: { tamper?: NotifyTamper; tamperAfterSign?: boolean } = {},
): SignedNotify {
  const tamper = Object.fromEntries(Object.entries(opts.tamper ?? {}).filter(([, v]) => v !== undefined)) as Params
  let signed = signNotifyParams(opts.tamperAfterSign ? params : { ...params, ...tamper }, signingKey)
  if (opts.tamperAfterSign) signed = { ...signed, ...tamper }
  return { params: signed, body: new URLSearchParams(signed).toString() }
}

export function notifyDelivery(trade: Trade, notify: SignedNotify, kind: DeliveryRequest['kind']): DeliveryRequest {
  return {
    provider: 'alipay',
    kind,
    reference: trade.out_trade_no,
    method: 'POST',
    url: trade.notify_url!,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: notify.body,
  }
}

/** Inside the payment's transaction: schedules the durable notify when the trade has a notify_url. */
export async function scheduleNotify(
  tx: Q,
  deliveries: DeliveryService,
  config: SandboxConfig,
  key: KeyObject,
  trade: Trade,
  delayMs = 0,
): Promise<boolean> {
  if (!trade.notify_url || !config.alipay) return false
  const notify = signedNotify(notifyParams(trade, config.alipay.sellerId), key)
  await deliveries.enqueue(tx, { ...notifyDelivery(trade, notify, 'auto'), delayMs })
  return true
}

/**
 * Inside the refund's transaction: Alipay notifies the merchant of a refund too, on the payment's
 * notify_url, with the trade's status after it (TRADE_SUCCESS after a partial refund, TRADE_CLOSED
 * after a full one) and the refund fields: out_biz_no (the refund request number), refund_fee (the
 * trade's refunded total) and gmt_refund.
 */
export async function scheduleRefundNotify(
  tx: Q,
  deliveries: DeliveryService,
  config: SandboxConfig,
  key: KeyObject,
  trade: Trade,
  refund: { out_request_no: string; refunded_total: number; created_at: Date },
): Promise<boolean> {
  if (!trade.notify_url || !config.alipay) return false
  const params: Params = {
    ...notifyParams(trade, config.alipay.sellerId),
    trade_status: trade.status,
    out_biz_no: refund.out_request_no,
    refund_fee: fenToYuan(refund.refunded_total),
    gmt_refund: `${chinaTime(refund.created_at)}.${String(refund.created_at.getMilliseconds()).padStart(3, '0')}`,
  }
  if (trade.closed_at) params.gmt_close = chinaTime(trade.closed_at)
  await deliveries.enqueue(tx, { ...notifyDelivery(trade, signedNotify(params, key), 'auto'), delayMs: 0 })
  return true
}

/**
 * The browser's return URL after paying: return_url + signed `alipay.trade.{page|wap}.pay.return`
 * parameters (percent-encoded, spaces as %20). Null without a return_url.
 */
export function signedReturnUrl(trade: Trade, sellerId: string, key: KeyObject): string | null {
  if (!trade.return_url) return null
  const params = signNotifyParams(
    {
      app_id: trade.app_id,
      auth_app_id: trade.app_id,
      charset: 'utf-8',
      method: trade.channel === 'wap' ? 'alipay.trade.wap.pay.return' : 'alipay.trade.page.pay.return',
      out_trade_no: trade.out_trade_no,
      trade_no: trade.trade_no,
      total_amount: fenToYuan(trade.total_amount),
      seller_id: sellerId,
      timestamp: chinaTime(),
      version: '1.0',
    },
    key,
  )
  const query = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&')
  const hashAt = trade.return_url.indexOf('#')
  const base = hashAt >= 0 ? trade.return_url.slice(0, hashAt) : trade.return_url
  const hash = hashAt >= 0 ? trade.return_url.slice(hashAt) : ''
  return `${base}${base.includes('?') ? '&' : '?'}${query}${hash}`
}
