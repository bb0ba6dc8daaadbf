/**
 * WeChat Pay v3 signatures and AEAD, pure functions of (raw body, headers, key, now) on node:crypto.
 *
 * wechatpay-node-v3 signs our requests, but it verifies no response, and its `decipher_gcm` never
 * checks the GCM tag (a tampered ciphertext decrypts without error): both are done here.
 */
import { createDecipheriv, createPublicKey, createVerify, X509Certificate, type KeyObject } from 'node:crypto'

/**
 * A key responses and notifies are signed with, named by `Wechatpay-Serial`: a platform certificate
 * (serial in upper-case hex) or the WeChat Pay public key (微信支付公钥, serial `PUB_KEY_ID_…`).
 */
export interface PlatformCert {
  /** Upper-case, as `verifySignedMessage` looks it up. */
  serial: string
  publicKey: KeyObject
}

export function platformCertFromPem(pem: string): PlatformCert {
  const cert = new X509Certificate(pem)
  return { serial: cert.serialNumber.toUpperCase(), publicKey: cert.publicKey }
}

/** `PUB_KEY_ID_` followed by letters, digits or `_` (WeChat's are `PUB_KEY_ID_01` + digits). */
export const WECHAT_PUBLIC_KEY_ID_RE = /^PUB_KEY_ID_[0-9A-Za-z_]+$/

/** The WeChat Pay public key (SPKI PEM) under its id. */
export function wechatPublicKeyFromPem(id: string, pem: string): PlatformCert {
  return { serial: id.toUpperCase(), publicKey: createPublicKey(pem) }
}

/** Signature headers of a response or notify (`Wechatpay-Timestamp`, `-Nonce`, `-Signature`, `-Serial`). */
export interface SignatureHeaders {
  timestamp: string
  nonce: string
  signature: string
  serial: string
}

type Headers = Record<string, string | string[] | undefined>

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()]
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined
  return v
}

/** The four signature headers, or null when one is missing, repeated or malformed. */
export function signatureHeaders(headers: Headers): SignatureHeaders | null {
  const timestamp = header(headers, 'wechatpay-timestamp')
  const nonce = header(headers, 'wechatpay-nonce')
  const signature = header(headers, 'wechatpay-signature')
  const serial = header(headers, 'wechatpay-serial')
  if (!timestamp || !nonce || !signature || !serial) return null
  if (!/^\d{1,12}$/.test(timestamp) || nonce.length > 64 || serial.length > 64 || !/^[A-Za-z0-9+/=]{16,1024}$/.test(signature)) return null
  return { timestamp, nonce, signature, serial }
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'MALFORMED' | 'SERIAL_MISMATCH' | 'TIMESTAMP_EXPIRED' | 'BAD_SIGNATURE' }

/** WeChat's window for response and notify timestamps. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000

/**
 * Verifies `Wechatpay-Signature` (RSA-SHA256 over `timestamp\nnonce\nbody\n`, base64) with the
 * platform certificate or public key whose serial `Wechatpay-Serial` names; the timestamp must be within
 * 5 minutes. `certFor` returns the key for an upper-cased serial, or null when we do not know it.
 */
export function verifySignedMessage(
  headers: Headers,
  rawBody: string,
  certFor: (serial: string) => PlatformCert | null,
  now = Date.now(),
): SignatureCheck {
  const h = signatureHeaders(headers)
  if (!h) return { ok: false, reason: 'MALFORMED' }
  const cert = certFor(h.serial.toUpperCase())
  if (!cert) return { ok: false, reason: 'SERIAL_MISMATCH' }
  if (Math.abs(now - Number(h.timestamp) * 1000) > MAX_CLOCK_SKEW_MS) return { ok: false, reason: 'TIMESTAMP_EXPIRED' }
  let valid = false
  try {
    valid = createVerify('RSA-SHA256')
      .update(`${h.timestamp}\n${h.nonce}\n${rawBody}\n`, 'utf8')
      .verify(cert.publicKey, h.signature, 'base64')
  } catch {
    valid = false
  }
  return valid ? { ok: true } : { ok: false, reason: 'BAD_SIGNATURE' }
}

export interface EncryptedResource {
  algorithm?: unknown
  ciphertext?: unknown
  nonce?: unknown
  associated_data?: unknown
}

/**
 * AEAD_AES_256_GCM decryption of a notify `resource` or an `encrypt_certificate`: ciphertext is
 * base64(data ‖ 16-byte tag), the nonce is used as its UTF-8 bytes, `associated_data` is the AAD.
 * Throws unless the tag verifies.
 */
export function decryptResource(resource: EncryptedResource, apiV3Key: string): string {
  const { algorithm, ciphertext, nonce } = resource
  const aad = resource.associated_data ?? ''
  if (algorithm !== undefined && algorithm !== 'AEAD_AES_256_GCM') throw new Error(`unsupported algorithm ${String(algorithm)}`)
  if (typeof ciphertext !== 'string' || typeof nonce !== 'string' || typeof aad !== 'string') throw new Error('malformed resource')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(ciphertext) || nonce.length < 1 || nonce.length > 64) throw new Error('malformed resource')
  const data = Buffer.from(ciphertext, 'base64')
  if (data.length <= 16) throw new Error('ciphertext too short')
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(nonce, 'utf8'))
  decipher.setAuthTag(data.subarray(data.length - 16))
  decipher.setAAD(Buffer.from(aad, 'utf8'))
  // final() throws "Unsupported state or unable to authenticate data" when the tag does not match.
  return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8')
}
