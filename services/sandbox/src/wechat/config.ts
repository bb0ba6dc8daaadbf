/**
 * WeChat Pay v3 sandbox configuration (SANDBOX_WECHAT_*, read through the registry): all six variables or none, plus
 * optionally the WeChat Pay public key mode (SANDBOX_WECHAT_PUBLIC_KEY_ID + _PRIVATE, both or neither).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { EnvReader } from '../provider.ts'
import { readMiniappSandbox, type MiniappSandboxConfig } from './miniapp-config.ts'

export interface WechatSandboxConfig {
  appId: string
  mchId: string
  /** The merchant's API certificate (PEM): verifies request signatures; its serial must be the one in `Authorization`. */
  merchantCert: string
  /** PKCS8 PEM: signs responses and notifies. */
  platformPrivateKey: string
  /** The platform certificate (PEM) of that key, served encrypted by /v3/certificates. */
  platformCert: string
  /** 32 characters: AES-256-GCM key of notify resources and certificates. */
  apiV3Key: string
  /**
   * Public-key mode (微信支付公钥): answers and notifies are signed with this private key (PKCS8 PEM)
   * and carry `Wechatpay-Serial: <publicKeyId>` instead of the platform certificate's serial.
   */
  publicKey: { id: string; privateKey: string } | null
  /** The mini program whose `wx.login` codes `/sns/jscode2session` exchanges (SANDBOX_WECHAT_MINIAPP_APPID + _SECRET), or null. */
  miniapp: MiniappSandboxConfig | null
}

export function readWechatSandbox(r: EnvReader): WechatSandboxConfig | null {
  const given = {
    SANDBOX_WECHAT_APPID: r.optional('SANDBOX_WECHAT_APPID'),
    SANDBOX_WECHAT_MCHID: r.optional('SANDBOX_WECHAT_MCHID'),
    SANDBOX_WECHAT_MERCHANT_CERT: r.secret('SANDBOX_WECHAT_MERCHANT_CERT'),
    SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY: r.secret('SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY'),
    SANDBOX_WECHAT_PLATFORM_CERT: r.secret('SANDBOX_WECHAT_PLATFORM_CERT'),
    SANDBOX_WECHAT_APIV3_KEY: r.secret('SANDBOX_WECHAT_APIV3_KEY'),
  }
  const publicKeyId = r.optional('SANDBOX_WECHAT_PUBLIC_KEY_ID')
  const publicKeyPrivate = r.secret('SANDBOX_WECHAT_PUBLIC_KEY_PRIVATE')
  const missing = Object.entries(given)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k)
  if (missing.length === Object.keys(given).length) {
    if (publicKeyId !== undefined || publicKeyPrivate !== undefined)
      r.problems.push('SANDBOX_WECHAT_PUBLIC_KEY_ID/_PRIVATE are set but the WeChat Pay sandbox is not configured')
    return null
  }
  if (missing.length) {
    r.problems.push(`WeChat Pay sandbox: set all of ${Object.keys(given).join(', ')} (or none); missing ${missing.join(', ')}`)
    return null
  }
  const c: WechatSandboxConfig = {
    appId: given.SANDBOX_WECHAT_APPID!,
    mchId: given.SANDBOX_WECHAT_MCHID!,
    merchantCert: given.SANDBOX_WECHAT_MERCHANT_CERT!,
    platformPrivateKey: given.SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY!,
    platformCert: given.SANDBOX_WECHAT_PLATFORM_CERT!,
    apiV3Key: given.SANDBOX_WECHAT_APIV3_KEY!,
    publicKey: null,
    miniapp: readMiniappSandbox(r),
  }
  if (!/^wx[0-9A-Za-z]{16}$/.test(c.appId))
    r.problems.push(`SANDBOX_WECHAT_APPID must be "wx" + 16 letters or digits, got ${JSON.stringify(c.appId)}`)
  if (!/^\d{6,16}$/.test(c.mchId)) r.problems.push(`SANDBOX_WECHAT_MCHID must be digits, got ${JSON.stringify(c.mchId)}`)
  if (Buffer.byteLength(c.apiV3Key, 'utf8') !== 32) r.problems.push('SANDBOX_WECHAT_APIV3_KEY must be 32 characters')
  const cert = (name: string, pem: string) => {
    try {
      return new X509Certificate(pem)
    } catch {
      r.problems.push(`${name} is not a PEM X.509 certificate`)
      return null
    }
  }
  const merchant = cert('SANDBOX_WECHAT_MERCHANT_CERT', c.merchantCert)
  if (merchant && merchant.publicKey.asymmetricKeyType !== 'rsa') r.problems.push('SANDBOX_WECHAT_MERCHANT_CERT must be an RSA certificate')
  const platform = cert('SANDBOX_WECHAT_PLATFORM_CERT', c.platformCert)
  try {
    const key = createPrivateKey(c.platformPrivateKey)
    if (key.asymmetricKeyType !== 'rsa') r.problems.push('SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY must be an RSA key')
    else if (platform && !platform.checkPrivateKey(key))
      r.problems.push('SANDBOX_WECHAT_PLATFORM_CERT is not the certificate of SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY')
  } catch {
    r.problems.push('SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY is not a PEM private key')
  }
  if (publicKeyId !== undefined || publicKeyPrivate !== undefined) {
    if (publicKeyId === undefined || publicKeyPrivate === undefined) {
      r.problems.push('WeChat Pay sandbox: set both SANDBOX_WECHAT_PUBLIC_KEY_ID and SANDBOX_WECHAT_PUBLIC_KEY_PRIVATE[_FILE], or neither')
      return c
    }
    if (!/^PUB_KEY_ID_[0-9A-Za-z_]+$/.test(publicKeyId))
      r.problems.push(`SANDBOX_WECHAT_PUBLIC_KEY_ID must look like PUB_KEY_ID_0111…, got ${JSON.stringify(publicKeyId.slice(0, 80))}`)
    try {
      if (createPrivateKey(publicKeyPrivate).asymmetricKeyType !== 'rsa')
        r.problems.push('SANDBOX_WECHAT_PUBLIC_KEY_PRIVATE must be an RSA key')
    } catch {
      r.problems.push('SANDBOX_WECHAT_PUBLIC_KEY_PRIVATE is not a PEM private key')
    }
    c.publicKey = { id: publicKeyId, privateKey: publicKeyPrivate }
  }
  return c
}
