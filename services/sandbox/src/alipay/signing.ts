/**
 * Alipay openapi RSA2 signatures, provider side, written directly on node:crypto
 * (deliberately sharing nothing with the pay service, which uses alipay-sdk).
 *
 * - Merchant requests: every parameter except `sign` (sign_type included), sorted by key,
 *   `k=v` joined by `&`, raw (decoded) values; RSA-SHA256, base64.
 * - Gateway responses: RSA-SHA256 over the exact JSON text of the `xxx_response` node.
 * - Async notifies and browser returns: every parameter except `sign` and `sign_type`, sorted, `k=v&…`.
 */
import { createPrivateKey, createPublicKey, createSign, createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto'

export type Params = Record<string, string>

/** `k=v` pairs sorted by key (UTF-16 code-unit order, as Java's TreeMap and JS sort do), joined by `&`. */
export function signContent(params: Params, exclude: readonly string[], opts: { dropEmpty: boolean }): string {
  return Object.keys(params)
    .filter((k) => !exclude.includes(k) && (!opts.dropEmpty || params[k] !== ''))
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}

export function rsa2Sign(content: string, privateKey: KeyObject | string): string {
  return createSign('RSA-SHA256').update(content, 'utf8').sign(privateKey, 'base64')
}

export function rsa2Verify(content: string, signature: string, publicKey: KeyObject | string): boolean {
  if (!/^[A-Za-z0-9+/=\s]{16,2048}$/.test(signature)) return false
  try {
    return createVerify('RSA-SHA256').update(content, 'utf8').verify(publicKey, signature, 'base64')
  } catch {
    return false
  }
}

/**
 * Verifies a merchant request. The official rule drops empty values; alipay-sdk signs them as `k=`.
 * Either form is accepted.
 */
export function verifyRequest(params: Params, merchantPublicKey: KeyObject): boolean {
  const sign = params.sign
  if (!sign) return false
  const official = signContent(params, ['sign'], { dropEmpty: true })
  if (rsa2Verify(official, sign, merchantPublicKey)) return true
  const withEmpty = signContent(params, ['sign'], { dropEmpty: false })
  return withEmpty !== official && rsa2Verify(withEmpty, sign, merchantPublicKey)
}

/** Adds `sign_type=RSA2` and `sign` to notify/return parameters (signed without sign and sign_type). */
export function signNotifyParams(params: Params, privateKey: KeyObject): Params {
  const clean: Params = {}
  for (const [k, v] of Object.entries(params)) if (k !== 'sign' && v !== '') clean[k] = v
  const sign = rsa2Sign(signContent(clean, ['sign', 'sign_type'], { dropEmpty: true }), privateKey)
  return { ...clean, sign_type: clean.sign_type ?? 'RSA2', sign }
}

/**
 * The gateway's JSON answer: `{"<method>_response":<node>,"sign":"…"}`; the signature covers exactly
 * the node's text as written, and `sign` comes last (alipay-sdk cuts the node out of the raw text).
 */
export function signedResponseText(responseKey: string, node: Record<string, unknown>, privateKey: KeyObject): string {
  const nodeText = JSON.stringify(node)
  const sign = rsa2Sign(nodeText, privateKey)
  return `{${JSON.stringify(responseKey)}:${nodeText},"sign":${JSON.stringify(sign)}}`
}

export interface AlipayKeys {
  merchantPublic: KeyObject
  platformPrivate: KeyObject
}

export function loadKeys(merchantPublicPem: string, platformPrivatePem: string): AlipayKeys {
  return { merchantPublic: createPublicKey(merchantPublicPem), platformPrivate: createPrivateKey(platformPrivatePem) }
}

/** A fresh RSA key that is not the platform's (the control API's `wrongKey`). */
export function randomPrivateKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
}
