/**
 * WeChat Pay API v3 configuration, read by src/config.ts. Enabled only when the five required
 * variables are all given; some but not all is a configuration error.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { createEnvReader } from '@paysys/config'

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
  /** WeChat Pay platform certificate (PEM); null → downloaded from /v3/certificates when first needed. */
  platformCert: string | null
  platformSerial: string | null
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
  const baseUrl = r.url('WECHAT_BASE_URL', DEFAULT_WECHAT_BASE_URL)
  const missing = Object.entries(given)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k)
  if (missing.length === Object.keys(given).length) {
    if (platformCert) r.problems.push('WECHAT_PLATFORM_CERT is set but WeChat Pay is not configured (set WECHAT_APPID, WECHAT_MCHID, …)')
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
  return {
    appId,
    mchId,
    privateKey,
    merchantCert: given.WECHAT_CERT!,
    merchantSerial: merchant?.serialNumber.toUpperCase() ?? '',
    apiV3Key,
    platformCert,
    platformSerial: platform?.serialNumber.toUpperCase() ?? null,
    baseUrl,
  }
}
