/**
 * Epay's asynchronous notify and browser return. Both carry the same MD5-signed parameters
 * (`pid, trade_no, out_trade_no, type, name, money, trade_status=TRADE_SUCCESS, param?, sign,
 * sign_type=MD5`) in the query string: the notify is a **GET** to notify_url, the return a 302 to
 * return_url. The merchant acknowledges when the body *contains* `success` (Epay ignores the status).
 */
import type { SandboxConfig } from '../config.ts'
import { scaleSchedule } from '../provider.ts'
import type { AckRule, DeliveryRequest, DeliveryService, Q } from '../deliveries.ts'
import { fenToYuan } from '../util.ts'
import type { Params, Signer } from './signing.ts'
import type { EpayTrade, MoneyStyle } from './trades.ts'

/** Epay's cron retries after 1m, 3m, 20m, 1h and 2h (6 attempts in all). */
export const EPAY_RETRY_SCHEDULE_MS = [1, 3, 20, 60, 120].map((m) => m * 60_000)

export const epayAck: AckRule = (_status, body) => body.includes('success')

export const epayScaledSchedule = (config: Pick<SandboxConfig, 'timeFactor' | 'minRetryMs'>): number[] =>
  scaleSchedule(EPAY_RETRY_SCHEDULE_MS, config)

/** "25.00" (fixed, as older servers print the decimal column) or "25" / "9.9" (float, as newer ones do). */
export function formatMoney(fen: number, style: MoneyStyle): string {
  const fixed = fenToYuan(fen)
  return style === 'float' ? fixed.replace(/\.?0+$/, '') || '0' : fixed
}

export const NOTIFY_TAMPER_FIELDS = ['money', 'pid', 'out_trade_no', 'trade_no', 'trade_status', 'type', 'name'] as const
export type NotifyTamper = Partial<Record<(typeof NOTIFY_TAMPER_FIELDS)[number], string>>

/** The unsigned notify/return parameters of a trade (as a paid trade). */
export function notifyParams(trade: EpayTrade, style: MoneyStyle = trade.money_style): Params {
  const params: Params = {
    pid: trade.pid,
    trade_no: trade.trade_no,
    out_trade_no: trade.out_trade_no,
    type: trade.type,
    name: trade.name,
    money: formatMoney(trade.money, style),
    trade_status: 'TRADE_SUCCESS',
  }
  if (trade.param) params.param = trade.param
  return params
}

/**
 * Signs with `sign` (MD5 with the merchant key, or RSA for a V2 order). `tamper` values replace the real ones before signing (a valid signature over wrong
 * data), or after signing with `tamperAfterSign` (the signature no longer matches).
 */
export function signedNotifyParams(params: Params, sign: Signer, opts: { tamper?: NotifyTamper; tamperAfterSign?: boolean } = {}): Params {
  const tamper = Object.fromEntries(Object.entries(opts.tamper ?? {}).filter(([, v]) => v !== undefined)) as Params
  if (opts.tamperAfterSign) return { ...sign(params), ...tamper }
  return sign({ ...params, ...tamper })
}

/** `url` + `?` (or `&` when it already has a query) + the URL-encoded parameters, before any `#`. */
export function withQuery(url: string, params: Params): string {
  const hashAt = url.indexOf('#')
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url
  const hash = hashAt >= 0 ? url.slice(hashAt) : ''
  return `${base}${base.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}${hash}`
}

export function notifyDelivery(reference: string | null, url: string, signed: Params, kind: DeliveryRequest['kind']): DeliveryRequest {
  return { provider: 'epay', kind, reference, method: 'GET', url: withQuery(url, signed), headers: {}, body: null }
}

/** Inside the payment's transaction: the durable notify, retried on Epay's schedule. */
export async function scheduleNotify(tx: Q, deliveries: DeliveryService, sign: Signer, trade: EpayTrade, delayMs = 0): Promise<void> {
  const signed = signedNotifyParams(notifyParams(trade), sign)
  await deliveries.enqueue(tx, { ...notifyDelivery(trade.out_trade_no, trade.notify_url, signed, 'auto'), delayMs })
}

/** The browser's way back after paying: return_url with the same signed parameters. Null without a return_url. */
export function signedReturnUrl(trade: EpayTrade, sign: Signer): string | null {
  if (!trade.return_url) return null
  return withQuery(trade.return_url, signedNotifyParams(notifyParams(trade), sign))
}
