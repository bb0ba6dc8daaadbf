/**
 * Pure data mapping between Epay's (彩虹易支付) wire format and ours: MD5 signing, amounts, the one
 * status mapping, and the shapes of mapi.php / api.php answers and notifies. No I/O here: everything
 * is unit-tested without a network.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { fenToYuanString, parseYuan } from '@paysys/money'
import type { ProviderTrade, TradeState } from '../types.ts'

export type Params = Record<string, string>

/** Our channels are Epay's payment types. */
export const EPAY_CHANNELS = ['alipay', 'wxpay', 'qqpay', 'bank'] as const
export type EpayChannel = (typeof EPAY_CHANNELS)[number]

export function isEpayChannel(channel: string): channel is EpayChannel {
  return (EPAY_CHANNELS as readonly string[]).includes(channel)
}

/** mapi.php's `device`: where the buyer is (seed 002's device list); `jump` (not a place) asks for the jump URL. */
export const EPAY_DEVICES = ['pc', 'mobile', 'qq', 'wechat', 'alipay'] as const
export type EpayDevice = (typeof EPAY_DEVICES)[number]

/** Our request's device → Epay's; absent or unknown means a computer. */
export function toEpayDevice(device: string | undefined): EpayDevice {
  const d = (device ?? '').toLowerCase()
  return (EPAY_DEVICES as readonly string[]).includes(d) ? (d as EpayDevice) : 'pc'
}

// ---- MD5 signatures ----

/**
 * "Empty" as the Epay server means it (`isEmpty` in 彩虹易支付's includes/functions.php): `trim($v) === ''`,
 * with PHP's trim set (space, \t, \n, \r, \0, \x0B), so a whitespace-only value counts as empty.
 */
export function isEmptyForSign(value: string): boolean {
  return /^[ \t\n\r\0\x0B]*$/.test(value)
}

/**
 * Every parameter except `sign`, `sign_type` and empty values (see `isEmptyForSign`), sorted by key,
 * `k=v` joined by `&`, raw values: the server's sign string. (The merchant SDK keeps a whitespace-only
 * value; the server, which verifies, leaves it out, so a create signed the SDK's way is refused.)
 */
export function signContent(params: Params): string {
  return Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && !isEmptyForSign(params[k]!))
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}

/** md5(content + key), lower-case hex: the key is appended directly (no `&key=`). */
export function epaySign(params: Params, key: string): string {
  return createHash('md5')
    .update(signContent(params) + key, 'utf8')
    .digest('hex')
}

/**
 * The parameters with empty values dropped, plus `sign` and `sign_type=MD5`. A whitespace-only value is
 * sent as it is but not signed, as the server verifies.
 */
export function signedParams(params: Params, key: string): Params {
  const clean: Params = {}
  for (const [k, v] of Object.entries(params)) if (k !== 'sign' && k !== 'sign_type' && v !== '') clean[k] = v
  return { ...clean, sign: epaySign(clean, key), sign_type: 'MD5' }
}

/** Constant-time check of `sign` (32 hex digits; Epay writes lower case, upper case is accepted). */
export function verifyEpaySign(params: Params, key: string): boolean {
  const given = params.sign
  if (typeof given !== 'string' || !/^[0-9a-fA-F]{32}$/.test(given)) return false
  return timingSafeEqual(Buffer.from(epaySign(params, key), 'hex'), Buffer.from(given, 'hex'))
}

// ---- money ----

/** Fen → Epay's yuan string: 2500 → "25.00". */
export function toEpayAmount(amount: number): string {
  return fenToYuanString(amount)
}

/**
 * Epay's yuan amount → fen, compared numerically: "25", "25.0", "25.00" and 25 are all 2500, "9.9" is
 * 990 (newer servers print money as a float). Zeros past the second decimal are tolerated ("9.900");
 * anything else (more precision, signs, exponents, garbage) is null.
 */
export function fromEpayAmount(value: unknown): number | null {
  let text: string
  if (typeof value === 'number') text = String(value)
  else if (typeof value === 'string') text = value.trim()
  else return null
  const m = /^(\d+)(?:\.(\d*?)0*)?$/.exec(text)
  if (!m || (m[2] ?? '').length > 2 || text.endsWith('.')) return null
  try {
    return parseYuan(m[2] ? `${m[1]}.${m[2]}` : m[1]!)
  } catch {
    return null
  }
}

// ---- status ----

/**
 * Every status Epay reports: api.php's order `status` (0 unpaid, 1 paid, 2 refunded, 3 frozen) and the
 * notify's `trade_status` (only ever TRADE_SUCCESS).
 */
export const EPAY_STATUSES = ['0', '1', '2', '3', 'TRADE_SUCCESS'] as const
export type EpayStatus = (typeof EPAY_STATUSES)[number]

/**
 * The one mapping of Epay statuses to ours. Refunded (2) was paid and given back: for an attempt still
 * pending it is as good as closed. Frozen (3) is a dispute hold: neither paid nor closed for us, so
 * UNKNOWN. Anything else is UNKNOWN, never SUCCEEDED.
 */
export function epayTradeState(status: unknown): TradeState {
  const s = typeof status === 'number' && Number.isInteger(status) ? String(status) : status
  if (typeof s !== 'string' || !(EPAY_STATUSES as readonly string[]).includes(s)) return 'UNKNOWN'
  const known = s as EpayStatus
  switch (known) {
    case '0':
      return 'PENDING'
    case '1':
    case 'TRADE_SUCCESS':
      return 'SUCCEEDED'
    case '2':
      return 'CLOSED'
    case '3':
      return 'UNKNOWN'
    default: {
      const exhaustive: never = known
      return exhaustive
    }
  }
}

// Epay times are "yyyy-MM-dd HH:mm:ss" in China Standard Time (UTC+8).
export function fromEpayTime(value: unknown): Date | null {
  if (typeof value !== 'string') return null
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value.trim())
  if (!m) return null
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`)
  return Number.isNaN(d.getTime()) ? null : d
}

// ---- create ----

export interface CreateFields {
  pid: string
  type: EpayChannel
  outTradeNo: string
  notifyUrl: string
  returnUrl: string
  name: string
  /** Integer fen. */
  amount: number
}

/** The unsigned parameters of submit.php (and, with `clientip` and `device`, of mapi.php). */
export function createParams(f: CreateFields, mapi?: { clientIp: string; device: EpayDevice | 'jump' }): Params {
  const params: Params = {
    pid: f.pid,
    type: f.type,
    out_trade_no: f.outTradeNo,
    notify_url: f.notifyUrl,
    return_url: f.returnUrl,
    // Epay keeps 127 bytes of the name; it is part of what a repeated request must match.
    name: f.name,
    money: toEpayAmount(f.amount),
  }
  if (mapi) {
    params.clientip = mapi.clientIp
    params.device = mapi.device
  }
  return params
}

export type MapiAnswer =
  | { ok: true; tradeNo: string | null; payurl: string | null; qrcode: string | null; urlscheme: string | null }
  | { ok: false; code: unknown; msg: string }

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null)
const isOne = (v: unknown) => v === 1 || v === '1'

/** mapi.php's JSON: `{code:1, trade_no, payurl | qrcode | urlscheme}`, or `code ≠ 1` with `msg`. */
export function parseMapiAnswer(body: unknown): MapiAnswer {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, code: null, msg: '易支付返回格式错误' }
  const b = body as Record<string, unknown>
  if (!isOne(b.code)) return { ok: false, code: b.code, msg: typeof b.msg === 'string' ? b.msg : '易支付下单失败' }
  return { ok: true, tradeNo: str(b.trade_no), payurl: str(b.payurl), qrcode: str(b.qrcode), urlscheme: str(b.urlscheme) }
}

/**
 * How to present a mapi.php answer: a computer shows the QR code when there is one (it scans with a
 * phone), a phone jumps to payurl (or the app scheme). Null when the answer has nothing we can present.
 */
export function presentMapi(
  a: Extract<MapiAnswer, { ok: true }>,
  device: EpayDevice | 'jump',
): { payType: 'qrcode'; qrCode: string } | { payType: 'jump'; paymentUrl: string } | null {
  if (device === 'pc' && a.qrcode) return { payType: 'qrcode', qrCode: a.qrcode }
  const jump = a.payurl ?? a.urlscheme
  if (jump) return { payType: 'jump', paymentUrl: jump }
  if (a.qrcode) return { payType: 'qrcode', qrCode: a.qrcode }
  return null
}

export const PUNCHOUT_FORM_NAME = 'punchout_form'

const escapeAttr = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/**
 * An auto-submitting POST form to submit.php, named `punchout_form` like Alipay's (seed 003's frontend
 * inserts the HTML and calls `document.forms['punchout_form'].submit()`).
 */
export function submitFormHtml(action: string, params: Params): string {
  const inputs = Object.entries(params)
    .map(([k, v]) => `<input type="hidden" name="${escapeAttr(k)}" value="${escapeAttr(v)}">`)
    .join('\n')
  return `<form name="${PUNCHOUT_FORM_NAME}" id="${PUNCHOUT_FORM_NAME}" method="post" action="${escapeAttr(action)}" accept-charset="utf-8">
${inputs}
<input type="submit" value="立即支付" style="display:none">
</form>
<script>document.forms['${PUNCHOUT_FORM_NAME}'].submit();</script>`
}

/** The GET variant of the same page jump: submit.php with the signed parameters in the query string. */
export function submitUrl(action: string, params: Params): string {
  return `${action}?${new URLSearchParams(params).toString()}`
}

// ---- notify ----

/**
 * Parses the notify's parameters (a query string, or a form body). Duplicate keys make it ambiguous
 * which value was signed, so such notifies are refused (null).
 */
export function parseNotifyParams(raw: string): Params | null {
  if (!raw.trim()) return null
  let parsed: URLSearchParams
  try {
    parsed = new URLSearchParams(raw)
  } catch {
    return null
  }
  const out: Params = Object.create(null) as Params
  for (const [k, v] of parsed) {
    if (!k || k in out) return null
    out[k] = v
  }
  return Object.keys(out).length ? { ...out } : null
}

/** The trade a (verified) notify describes, or null when a required field is missing or malformed. */
export function tradeFromNotify(params: Params): ProviderTrade | null {
  const outTradeNo = params.out_trade_no
  const tradeNo = params.trade_no
  const status = params.trade_status
  const amount = fromEpayAmount(params.money)
  if (!outTradeNo || !tradeNo || !status || amount === null) return null
  return { outTradeNo, state: epayTradeState(status), providerStatus: status, tradeNo, amount, paidAt: null }
}

// ---- api.php ----

export type OrderAnswer = { kind: 'found'; trade: ProviderTrade } | { kind: 'not-found' } | { kind: 'error'; code: unknown; msg: string }

/** api.php?act=order's JSON: code 1 with the order, code -1 "订单号不存在", other codes are errors (-3 wrong pid/key). */
export function parseOrderAnswer(body: unknown, outTradeNo: string): OrderAnswer {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { kind: 'error', code: null, msg: '易支付返回格式错误' }
  const b = body as Record<string, unknown>
  if (b.code === -1 || b.code === '-1') return { kind: 'not-found' }
  if (!isOne(b.code)) return { kind: 'error', code: b.code, msg: typeof b.msg === 'string' ? b.msg : '易支付查询失败' }
  const status = typeof b.status === 'number' || typeof b.status === 'string' ? String(b.status) : ''
  const state = epayTradeState(status)
  const tradeNo = str(b.trade_no)
  const amount = b.money === undefined || b.money === null ? null : fromEpayAmount(b.money)
  if (state === 'SUCCEEDED' && (!tradeNo || amount === null)) return { kind: 'error', code: b.code, msg: '易支付查询结果不完整' }
  return {
    kind: 'found',
    trade: {
      outTradeNo: str(b.out_trade_no) ?? outTradeNo,
      state,
      providerStatus: status,
      tradeNo,
      amount,
      paidAt: fromEpayTime(b.endtime),
    },
  }
}

/** api.php?act=refund's JSON: `{code:1, msg:"退款成功", money}`, else `code ≠ 1` with `msg`. */
export function parseRefundAnswer(body: unknown): { ok: true } | { ok: false; code: unknown; msg: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, code: null, msg: '易支付返回格式错误' }
  const b = body as Record<string, unknown>
  return isOne(b.code) ? { ok: true } : { ok: false, code: b.code, msg: typeof b.msg === 'string' ? b.msg : '易支付退款失败' }
}
