/**
 * WeChat Pay API v3 configuration, read by src/config.ts. Enabled only when the five required
 * variables are all given; some but not all is a configuration error. Answers and notifies are
 * verified with WECHAT_PLATFORM_CERT, the WeChat Pay public key (WECHAT_PUBLIC_KEY + _ID), both
 * (migration: either, by serial), or else certificates downloaded from /v3/certificates.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto'
import type { createEnvReader } from '@paysys/config'
import { WECHAT_PUBLIC_KEY_ID_RE } from './signature.ts'

export interface WechatConfig {
  /** `wx…` app id the payments are made under. */
  appId: string
  /** Merchant number. */
  mchId: string
  /** Merchant API private key (PKCS8 PEM): signs every request. */
  privateKey: string
  /** Merchant API certificate (PEM) of that key; its serial goes into the Authorization header. */
  merchantCert: string
  /** Upper-case hex, as WeChat shows it. */
  merchantSerial: string
  /** 32 characters: decrypts notify resources and /v3/certificates (AES-256-GCM). */
  apiV3Key: string
  /** WeChat Pay platform certificate (PEM); null with no public key → downloaded from /v3/certificates when first needed. */
  platformCert: string | null
  platformSerial: string | null
  /** WeChat Pay public key (微信支付公钥, SPKI PEM) and its `PUB_KEY_ID_…`: both or null. */
  publicKey: string | null
  publicKeyId: string | null
  /** https://api.mch.weixin.qq.com, or the sandbox. */
  baseUrl: string
}

export const DEFAULT_WECHAT_BASE_URL = 'https://api.mch.weixin.qq.com'

type EnvReader = ReturnType<typeof createEnvReader>

function certificate(r: EnvReader, name: string, pem: string): X509Certificate | null {
  try {
    const cert = new X509Certificate(pem)
    if (cert.publicKey.asymmetricKeyType !== 'rsa') {
      r.problems.push(`${name} must be an RSA certificate`)
      return null
    }
    return cert
  } catch {
    r.problems.push(`${name} is not a valid PEM X.509 certificate (-----BEGIN CERTIFICATE-----)`)
    return null
  }
}

export function readWechatConfig(r: EnvReader): WechatConfig | null {
  const given = {
    WECHAT_APPID: r.optional('WECHAT_APPID'),
    WECHAT_MCHID: r.optional('WECHAT_MCHID'),
    WECHAT_PRIVATE_KEY: r.secret('WECHAT_PRIVATE_KEY'),
    WECHAT_CERT: r.secret('WECHAT_CERT'),
    WECHAT_APIV3_KEY: r.secret('WECHAT_APIV3_KEY'),
  }
  const platformCert = r.secret('WECHAT_PLATFORM_CERT') ?? null
  const publicKey = r.secret('WECHAT_PUBLIC_KEY') ?? null
  const publicKeyId = r.optional('WECHAT_PUBLIC_KEY_ID') ?? null
  const baseUrl = r.url('WECHAT_BASE_URL', DEFAULT_WECHAT_BASE_URL)
  const missing = Object.entries(given)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k)
  if (missing.length === Object.keys(given).length) {
    for (const [name, v] of Object.entries({
      WECHAT_PLATFORM_CERT: platformCert,
      WECHAT_PUBLIC_KEY: publicKey,
      WECHAT_PUBLIC_KEY_ID: publicKeyId,
    }))
      if (v) r.problems.push(`${name} is set but WeChat Pay is not configured (set WECHAT_APPID, WECHAT_MCHID, …)`)
    return null
  }
  if (missing.length) {
    r.problems.push(
      `WeChat Pay is partially configured: missing ${missing.join(', ')} (set all of WECHAT_APPID, WECHAT_MCHID, WECHAT_PRIVATE_KEY[_FILE], WECHAT_CERT[_FILE], WECHAT_APIV3_KEY[_FILE], or none)`,
    )
    return null
  }
  const appId = given.WECHAT_APPID!
  const mchId = given.WECHAT_MCHID!
  const privateKey = given.WECHAT_PRIVATE_KEY!
  const apiV3Key = given.WECHAT_APIV3_KEY!
  if (!/^wx[0-9A-Za-z]{16}$/.test(appId))
    r.problems.push(`WECHAT_APPID must be "wx" followed by 16 letters or digits, got ${JSON.stringify(appId)}`)
  if (!/^\d{6,16}$/.test(mchId)) r.problems.push(`WECHAT_MCHID must be digits, got ${JSON.stringify(mchId)}`)
  // AES-256 needs exactly 32 bytes; WeChat's APIv3 keys are 32 ASCII characters.
  if (Buffer.byteLength(apiV3Key, 'utf8') !== 32 || !/^[\x21-\x7e]+$/.test(apiV3Key))
    r.problems.push('WECHAT_APIV3_KEY must be 32 ASCII characters')

  let key: ReturnType<typeof createPrivateKey> | null = null
  try {
    key = createPrivateKey(privateKey)
    if (key.asymmetricKeyType !== 'rsa') r.problems.push('WECHAT_PRIVATE_KEY must be an RSA key')
  } catch {
    r.problems.push('WECHAT_PRIVATE_KEY is not a valid PEM private key')
  }
  const merchant = certificate(r, 'WECHAT_CERT', given.WECHAT_CERT!)
  if (merchant && key && !merchant.checkPrivateKey(key)) r.problems.push('WECHAT_CERT is not the certificate of WECHAT_PRIVATE_KEY')
  const platform = platformCert === null ? null : certificate(r, 'WECHAT_PLATFORM_CERT', platformCert)
  if (platform && merchant && platform.serialNumber === merchant.serialNumber) {
    r.problems.push('WECHAT_PLATFORM_CERT must be the WeChat Pay platform certificate, not the merchant certificate')
  }
  readPublicKey(r, publicKey, publicKeyId, merchant)
  return {
    appId,
    mchId,
    privateKey,
    merchantCert: given.WECHAT_CERT!,
    merchantSerial: merchant?.serialNumber.toUpperCase() ?? '',
    apiV3Key,
    platformCert,
    platformSerial: platform?.serialNumber.toUpperCase() ?? null,
    publicKey,
    publicKeyId,
    baseUrl,
  }
}

/** WECHAT_PUBLIC_KEY[_FILE] and WECHAT_PUBLIC_KEY_ID: both or neither, an RSA SPKI key, a `PUB_KEY_ID_…` id. */
function readPublicKey(r: EnvReader, pem: string | null, id: string | null, merchant: X509Certificate | null): void {
  if (pem === null && id === null) return
  if (pem === null || id === null) {
    r.problems.push(
      `WeChat Pay public key is partially configured: missing ${pem === null ? 'WECHAT_PUBLIC_KEY' : 'WECHAT_PUBLIC_KEY_ID'} (set both WECHAT_PUBLIC_KEY[_FILE] and WECHAT_PUBLIC_KEY_ID, or neither)`,
    )
    return
  }
  if (!WECHAT_PUBLIC_KEY_ID_RE.test(id))
    r.problems.push(`WECHAT_PUBLIC_KEY_ID must look like PUB_KEY_ID_0111…, got ${JSON.stringify(id.slice(0, 80))}`)
  // createPublicKey also accepts private keys and certificates: insist on the public key WeChat hands out.
  if (!/^-----BEGIN PUBLIC KEY-----\r?\n[\s\S]+\r?\n-----END PUBLIC KEY-----\s*$/.test(pem.trim())) {
    r.problems.push('WECHAT_PUBLIC_KEY must be the WeChat Pay public key as a PEM SPKI key (-----BEGIN PUBLIC KEY-----)')
    return
  }
  try {
    const key = createPublicKey(pem)
    if (key.asymmetricKeyType !== 'rsa') r.problems.push('WECHAT_PUBLIC_KEY must be an RSA key')
    else if (merchant?.publicKey.equals(key))
      r.problems.push("WECHAT_PUBLIC_KEY must be the WeChat Pay public key, not the merchant certificate's key")
  } catch {
    r.problems.push('WECHAT_PUBLIC_KEY is not a valid PEM public key')
  }
}
