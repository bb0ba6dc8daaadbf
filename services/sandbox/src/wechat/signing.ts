/**
 * WeChat Pay API v3 signatures and AEAD, provider side, written directly on node:crypto
 * (deliberately sharing nothing with the pay service, which uses wechatpay-node-v3).
 *
 * - Merchant requests: `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
 *   timestamp="…",serial_no="…",signature="…"`, RSA-SHA256 over `METHOD\nURL\ntimestamp\nnonce\nbody\n`
 *   (URL = path + query as sent; a GET has an empty body line), verified with the merchant certificate.
 * - Responses and notifies: `Wechatpay-Timestamp/-Nonce/-Signature/-Serial`, RSA-SHA256 over
 *   `timestamp\nnonce\nbody\n` with the platform key, or in public-key mode with the WeChat Pay
 *   public key's private half and serial `PUB_KEY_ID_…`.
 * - Notify resources and /v3/certificates: AEAD_AES_256_GCM with the APIv3 key,
 *   ciphertext = base64(data ‖ 16-byte tag).
 */
import {
  X509Certificate,
  createCipheriv,
  createPrivateKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  type KeyObject,
} from 'node:crypto'
import type { WechatSandboxConfig } from './config.ts'
import { randomToken } from '../util.ts'

export interface WechatKeys {
  mchId: string
  appId: string
  merchantPublic: KeyObject
  /** Upper-case hex. */
  merchantSerial: string
  platformPrivate: KeyObject
  platformSerial: string
  platformCert: string
  platformValidFrom: Date
  platformValidTo: Date
  apiV3Key: string
  /** Signs answers and notifies, and its `Wechatpay-Serial`: the platform key, or the public-key pair when configured. */
  signingPrivate: KeyObject
  signingSerial: string
}

export function loadWechatKeys(c: WechatSandboxConfig): WechatKeys {
  const merchant = new X509Certificate(c.merchantCert)
  const platform = new X509Certificate(c.platformCert)
  const platformPrivate = createPrivateKey(c.platformPrivateKey)
  const platformSerial = platform.serialNumber.toUpperCase()
  return {
    mchId: c.mchId,
    appId: c.appId,
    merchantPublic: merchant.publicKey,
    merchantSerial: merchant.serialNumber.toUpperCase(),
    platformPrivate,
    platformSerial,
    platformCert: c.platformCert,
    platformValidFrom: new Date(platform.validFrom),
    platformValidTo: new Date(platform.validTo),
    apiV3Key: c.apiV3Key,
    signingPrivate: c.publicKey ? createPrivateKey(c.publicKey.privateKey) : platformPrivate,
    signingSerial: c.publicKey?.id ?? platformSerial,
  }
}

export interface Authorization {
  mchid: string
  nonce_str: string
  timestamp: string
  serial_no: string
  signature: string
}

/** Parses the Authorization header; null when the scheme or a field is missing or repeated. */
export function parseAuthorization(header: unknown): Authorization | null {
  if (typeof header !== 'string' || header.length > 4096) return null
  const m = /^WECHATPAY2-SHA256-RSA2048 +(.+)$/.exec(header.trim())
  if (!m) return null
  const fields: Record<string, string> = {}
  for (const part of m[1]!.matchAll(/\s*([a-z_]+)="([^"]*)"\s*(?:,|$)/g)) {
    if (Object.hasOwn(fields, part[1]!)) return null
    fields[part[1]!] = part[2]!
  }
  const { mchid, nonce_str, timestamp, serial_no, signature } = fields
  if (!mchid || !nonce_str || !timestamp || !serial_no || !signature) return null
  return { mchid, nonce_str, timestamp, serial_no, signature }
}

export function requestMessage(method: string, url: string, timestamp: string, nonce: string, body: string): string {
  return `${method}\n${url}\n${timestamp}\n${nonce}\n${body}\n`
}

export function rsaSign(message: string, key: KeyObject): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(key, 'base64')
}

export function rsaVerify(message: string, signature: string, key: KeyObject): boolean {
  if (!/^[A-Za-z0-9+/=]{16,2048}$/.test(signature)) return false
  try {
    return createVerify('RSA-SHA256').update(message, 'utf8').verify(key, signature, 'base64')
  } catch {
    return false
  }
}

export type RequestCheck = { ok: true; auth: Authorization } | { ok: false; message: string }

/** WeChat refuses requests whose timestamp is more than 5 minutes off. */
export const MAX_SKEW_S = 300

/** Verifies a merchant request: scheme, mchid, certificate serial, timestamp window, signature. */
export function verifyMerchantRequest(
  req: { method: string; url: string; authorization: unknown; body: string },
  keys: Pick<WechatKeys, 'mchId' | 'merchantSerial' | 'merchantPublic'>,
  nowS = Math.floor(Date.now() / 1000),
): RequestCheck {
  const auth = parseAuthorization(req.authorization)
  if (!auth)
    return {
      ok: false,
      message:
        'Authorization 头缺失或格式错误（应为 WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str="",timestamp="",serial_no="",signature=""）',
    }
  if (auth.mchid !== keys.mchId) return { ok: false, message: '商户号与 Authorization 中的 mchid 不匹配' }
  if (auth.serial_no.toUpperCase() !== keys.merchantSerial)
    return { ok: false, message: '商户证书序列号有误，请确认证书序列号与商户号匹配' }
  if (!/^\d{1,12}$/.test(auth.timestamp) || Math.abs(nowS - Number(auth.timestamp)) > MAX_SKEW_S) {
    return { ok: false, message: '请求时间戳与当前时间相差过大' }
  }
  const message = requestMessage(req.method, req.url, auth.timestamp, auth.nonce_str, req.body)
  if (!rsaVerify(message, auth.signature, keys.merchantPublic)) return { ok: false, message: '签名错误，请检查签名串与商户私钥是否匹配' }
  return { ok: true, auth }
}

/** `Wechatpay-*` headers signing `body` (responses and notifies). */
export function signatureHeaders(
  body: string,
  key: KeyObject,
  serial: string,
  opts: { timestamp?: number; nonce?: string } = {},
): Record<string, string> {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000))
  const nonce = opts.nonce ?? randomBytes(16).toString('hex').toUpperCase()
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': rsaSign(`${timestamp}\n${nonce}\n${body}\n`, key),
    'Wechatpay-Serial': serial,
  }
}

export interface EncryptedResource {
  algorithm: 'AEAD_AES_256_GCM'
  ciphertext: string
  associated_data: string
  nonce: string
}

/** AEAD_AES_256_GCM: a 12-character nonce (its UTF-8 bytes are the IV), the AAD, base64(data ‖ tag). */
export function aeadEncrypt(plaintext: string, apiV3Key: string, associatedData: string): EncryptedResource {
  const nonce = randomToken(12)
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(nonce, 'utf8'))
  cipher.setAAD(Buffer.from(associatedData, 'utf8'))
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return { algorithm: 'AEAD_AES_256_GCM', ciphertext: data.toString('base64'), associated_data: associatedData, nonce }
}

/** A fresh RSA key that is not the platform's (the control API's `wrongKey`). */
export function randomPrivateKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
}

/** A serial that is not the platform certificate's (the control API's `wrongSerial`). */
export function randomSerial(): string {
  return randomBytes(20).toString('hex').toUpperCase()
}

export function requestId(): string {
  return randomUUID().replace(/-/g, '').toUpperCase()
}
