/** Alipay sandbox configuration (SANDBOX_ALIPAY_*): all three required variables or none. */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { EnvReader } from '../provider.ts'

export interface AlipaySandboxConfig {
  appId: string
  /** SPKI PEM: verifies the merchant's request signatures. */
  merchantPublicKey: string
  /** PKCS8 PEM: signs gateway responses, notifies and browser returns. */
  platformPrivateKey: string
  /** The merchant's Alipay partner id (2088…), sent as seller_id. */
  sellerId: string
}

export function readAlipaySandbox(r: EnvReader): AlipaySandboxConfig | null {
  const appId = r.optional('SANDBOX_ALIPAY_APP_ID')
  const merchantPublicKey = r.secret('SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY')
  const platformPrivateKey = r.secret('SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY')
  const sellerId = r.string('SANDBOX_ALIPAY_SELLER_ID', '2088102177846880')
  const given = [appId, merchantPublicKey, platformPrivateKey].filter((v) => v !== undefined).length
  if (given > 0 && given < 3) {
    r.problems.push(
      'Alipay sandbox: set all of SANDBOX_ALIPAY_APP_ID, SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY[_FILE] and SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY[_FILE], or none',
    )
    return null
  }
  if (!appId || !merchantPublicKey || !platformPrivateKey) return null
  if (!/^\w{1,32}$/.test(appId)) r.problems.push(`SANDBOX_ALIPAY_APP_ID must be 1-32 letters or digits, got ${JSON.stringify(appId)}`)
  if (!/^2088\d{12}$/.test(sellerId)) r.problems.push('SANDBOX_ALIPAY_SELLER_ID must be 2088 followed by 12 digits')
  try {
    const k = createPublicKey(merchantPublicKey)
    if (k.asymmetricKeyType !== 'rsa') throw new Error('not RSA')
  } catch {
    r.problems.push('SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY is not an RSA public key (SPKI PEM expected)')
  }
  try {
    const k = createPrivateKey(platformPrivateKey)
    if (k.asymmetricKeyType !== 'rsa') throw new Error('not RSA')
  } catch {
    r.problems.push('SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY is not an RSA private key (PKCS8 PEM expected)')
  }
  return { appId, merchantPublicKey, platformPrivateKey, sellerId }
}
