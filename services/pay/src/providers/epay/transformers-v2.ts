/**
 * Pure data mapping of Epay's V2 API (彩虹易支付 `api/pay/*`, RSA): SHA256withRSA signatures over the
 * same sign string as V1 (./transformers.ts `signContent`), the create answer's `pay_type`/`pay_info`
 * (seed 002's vocabulary), and V2's `code: 0` answers. No I/O.
 */
import { createSign, createVerify, type KeyObject } from 'node:crypto'
import type { CreatePaymentResult } from '../types.ts'
import { signContent, type Params } from './transformers.ts'

/** The merchant's signature: base64 SHA256withRSA of the sign string. */
export function rsaSign(params: Params, key: KeyObject): string {
  return createSign('RSA-SHA256').update(signContent(params), 'utf8').sign(key, 'base64')
}

/** The parameters with empty values dropped, plus `timestamp` (unix s), `sign` and `sign_type=RSA`. */
export function signedV2Params(params: Params, key: KeyObject, now = Date.now()): Params {
  const clean: Params = {}
  for (const [k, v] of Object.entries(params)) if (k !== 'sign' && k !== 'sign_type' && v !== '') clean[k] = v
  clean.timestamp = String(Math.floor(now / 1000))
  return { ...clean, sign: rsaSign(clean, key), sign_type: 'RSA' }
}

/** Epay's signature on an answer or a notify (values as strings: numbers are signed as PHP prints them). */
export function verifyV2Sign(params: Record<string, unknown>, key: KeyObject): boolean {
  const sign = params.sign
  if (typeof sign !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(sign)) return false
  const flat: Params = {}
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'string') flat[k] = v
    else if (typeof v === 'number' || typeof v === 'boolean') flat[k] = String(v)
    else if (v !== null && v !== undefined) return false
  }
  try {
    return createVerify('RSA-SHA256').update(signContent(flat), 'utf8').verify(key, sign, 'base64')
  } catch {
    return false
  }
}

/** V2's `method`: what the buyer's page can do (seed 002). Anything else is sent as `web`. */
export const V2_METHODS = ['web', 'jump', 'jsapi', 'app', 'scan', 'applet'] as const

export type V2CreateAnswer =
  { ok: true; tradeNo: string | null; payType: string; payInfo: string } | { ok: false; code: unknown; msg: string; unsigned?: boolean }

/** api/pay/create's JSON: `{code: 0, trade_no, pay_type, pay_info, timestamp, sign}`, signed by Epay; else `code ≠ 0` with `msg`. */
export function parseV2Create(body: unknown, platformKey: KeyObject): V2CreateAnswer {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, code: null, msg: '易支付返回格式错误' }
  const b = body as Record<string, unknown>
  if (b.code !== 0 && b.code !== '0') return { ok: false, code: b.code, msg: typeof b.msg === 'string' ? b.msg : '易支付下单失败' }
  if (!verifyV2Sign(b, platformKey)) return { ok: false, code: b.code, msg: '易支付返回的签名无效', unsigned: true }
  if (typeof b.pay_type !== 'string' || typeof b.pay_info !== 'string')
    return { ok: false, code: b.code, msg: '易支付返回缺少 pay_type/pay_info' }
  return { ok: true, tradeNo: typeof b.trade_no === 'string' ? b.trade_no : null, payType: b.pay_type, payInfo: b.pay_info }
}

/**
 * Our presentation of a V2 answer (its own words travel along as providerPayType/payInfo): jump and
 * urlscheme are jumps, qrcode a QR code, html a form, jsapi the parameters. Null for what a web page
 * cannot use (app, scan, wxplugin, wxapp).
 */
export function presentV2(a: Extract<V2CreateAnswer, { ok: true }>): CreatePaymentResult | null {
  const raw = { providerPayType: a.payType, payInfo: a.payInfo }
  switch (a.payType) {
    case 'jump':
    case 'urlscheme':
      return { payType: 'jump', paymentUrl: a.payInfo, ...raw }
    case 'qrcode':
      return { payType: 'qrcode', qrCode: a.payInfo, ...raw }
    case 'html':
      return { payType: 'form', formHtml: a.payInfo, ...raw }
    case 'jsapi': {
      try {
        const params = JSON.parse(a.payInfo) as unknown
        if (params && typeof params === 'object' && !Array.isArray(params))
          return { payType: 'jsapi', jsapiParams: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])), ...raw }
      } catch {
        /* not presentable */
      }
      return null
    }
    default:
      return null
  }
}

/** A V2 answer (query, refund) as V1's shape for the shared parsers: `code: 0` becomes 1; not found stays apart. */
export function v2AsV1(
  body: unknown,
  platformKey: KeyObject,
): { kind: 'ok'; body: Record<string, unknown> } | { kind: 'not-found' } | { kind: 'error'; code: unknown; msg: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { kind: 'error', code: null, msg: '易支付返回格式错误' }
  const b = body as Record<string, unknown>
  const msg = typeof b.msg === 'string' ? b.msg : ''
  if (b.code !== 0 && b.code !== '0')
    return /不存在/.test(msg) ? { kind: 'not-found' } : { kind: 'error', code: b.code, msg: msg || '易支付请求失败' }
  if (!verifyV2Sign(b, platformKey)) return { kind: 'error', code: b.code, msg: '易支付返回的签名无效' }
  return { kind: 'ok', body: { ...b, code: 1 } }
}
