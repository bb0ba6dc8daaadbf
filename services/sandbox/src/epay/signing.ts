/**
 * Epay (彩虹易支付) MD5 signatures, provider side, written directly on node:crypto (sharing nothing
 * with the pay service).
 *
 * Every parameter except `sign`, `sign_type` and empty values, sorted by key, `k=v` joined by `&`
 * with raw (decoded) values, then the merchant key appended directly (no `&key=`); lower-case hex MD5.
 * "Empty" is the server's `isEmpty` (includes/functions.php, used by `Payment::getSignContent`):
 * `trim($v) === ''`, so a whitespace-only value is left out too (the merchant SDK's `getSign` keeps
 * it, and the server refuses such a request: see PROTOCOLS.md). The same rule covers merchant
 * requests (submit.php, mapi.php) and the sandbox's notifies and returns.
 */
import { createHash, createSign, createVerify, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'

export type Params = Record<string, string>

/** Adds `sign` and `sign_type` to notify/return/answer parameters (MD5 for V1 orders, RSA for V2). */
export type Signer = (params: Params) => Params

/** PHP's `trim($v) === ''`: nothing but spaces, tabs, line breaks, NUL and vertical tabs (not JavaScript's wider whitespace). */
export const isEmpty = (v: string): boolean => /^[ \t\n\r\0\x0B]*$/.test(v)

export function signContent(params: Params): string {
  return Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && !isEmpty(params[k]!))
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}

export function md5Sign(params: Params, key: string): string {
  return createHash('md5')
    .update(signContent(params) + key, 'utf8')
    .digest('hex')
}

/** A merchant request's signature check (`sign` must be the lower-case hex MD5, as Epay compares with ===). */
export function verifySign(params: Params, key: string): boolean {
  const sign = params.sign
  if (typeof sign !== 'string' || !/^[0-9a-f]{32}$/.test(sign)) return false
  return timingSafeEqual(Buffer.from(md5Sign(params, key), 'ascii'), Buffer.from(sign, 'ascii'))
}

/** Drops empty values and adds `sign` and `sign_type=MD5` (notify and return parameters). */
export function signParams(params: Params, key: string): Params {
  const clean: Params = {}
  for (const [k, v] of Object.entries(params)) if (k !== 'sign' && k !== 'sign_type' && !isEmpty(v)) clean[k] = v
  return { ...clean, sign: md5Sign(clean, key), sign_type: 'MD5' }
}

/** A key that is not the merchant's (the control API's `wrongKey`). */
export function randomKey(): string {
  return randomBytes(16).toString('hex')
}

/** Constant-time comparison of the merchant key given to api.php. */
export function sameKey(given: unknown, key: string): boolean {
  if (typeof given !== 'string') return false
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(key, 'utf8').digest()
  return timingSafeEqual(a, b)
}

// ---- V2 (api/pay/*): SHA256withRSA over the same sign string ----

/** Drops empty values, adds `timestamp` (unless given), then `sign` (base64 SHA256withRSA with Epay's platform key) and `sign_type=RSA`. */
export function rsaSignParams(params: Params, key: KeyObject): Params {
  const clean: Params = {}
  for (const [k, v] of Object.entries(params)) if (k !== 'sign' && k !== 'sign_type' && !isEmpty(v)) clean[k] = v
  clean.timestamp ??= String(Math.floor(Date.now() / 1000))
  return { ...clean, sign: createSign('RSA-SHA256').update(signContent(clean), 'utf8').sign(key, 'base64'), sign_type: 'RSA' }
}

/** A V2 merchant request's signature, checked with the merchant's public key. */
export function rsaVerify(params: Params, key: KeyObject): boolean {
  if (typeof params.sign !== 'string' || !params.sign) return false
  try {
    return createVerify('RSA-SHA256').update(signContent(params), 'utf8').verify(key, params.sign, 'base64')
  } catch {
    return false
  }
}
