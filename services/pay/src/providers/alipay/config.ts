/**
 * Alipay configuration. Enabled only when ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY[_FILE] and
 * ALIPAY_PUBLIC_KEY[_FILE] are all given; some but not all is a configuration error.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { createEnvReader } from '@paysys/config'

export interface AlipayConfig {
  appId: string
  /** Merchant (application) private key, PKCS8 PEM. */
  privateKey: string
  /** Alipay platform public key, SPKI PEM. */
  publicKey: string
  gateway: string
}

export const DEFAULT_ALIPAY_GATEWAY = 'https://openapi.alipay.com/gateway.do'

type EnvReader = ReturnType<typeof createEnvReader>

export function readAlipayConfig(r: EnvReader): AlipayConfig | null {
  const appId = r.optional('ALIPAY_APP_ID')
  const privateKey = r.secret('ALIPAY_PRIVATE_KEY')
  const publicKey = r.secret('ALIPAY_PUBLIC_KEY')
  const given = { ALIPAY_APP_ID: appId, ALIPAY_PRIVATE_KEY: privateKey, ALIPAY_PUBLIC_KEY: publicKey }
  const present = Object.entries(given).filter(([, v]) => v !== undefined)
  const gateway = r.url('ALIPAY_GATEWAY', DEFAULT_ALIPAY_GATEWAY)
  if (present.length === 0) return null
  if (present.length < 3) {
    const missing = Object.entries(given)
      .filter(([, v]) => v === undefined)
      .map(([k]) => k)
    r.problems.push(
      `Alipay is partially configured: missing ${missing.join(', ')} (set all of ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY[_FILE], ALIPAY_PUBLIC_KEY[_FILE], or none)`,
    )
    return null
  }
  if (!/^[0-9A-Za-z]{1,32}$/.test(appId!)) r.problems.push(`ALIPAY_APP_ID must be alphanumeric, got ${JSON.stringify(appId)}`)
  try {
    const key = createPrivateKey(privateKey!)
    if (key.asymmetricKeyType !== 'rsa') r.problems.push('ALIPAY_PRIVATE_KEY must be an RSA key')
    else if (!/BEGIN PRIVATE KEY/.test(privateKey!)) r.problems.push('ALIPAY_PRIVATE_KEY must be a PKCS8 PEM (-----BEGIN PRIVATE KEY-----)')
  } catch {
    r.problems.push('ALIPAY_PRIVATE_KEY is not a valid PEM private key')
  }
  try {
    const key = createPublicKey(publicKey!)
    if (key.asymmetricKeyType !== 'rsa') r.problems.push('ALIPAY_PUBLIC_KEY must be an RSA key')
    if (/PRIVATE KEY/.test(publicKey!)) r.problems.push('ALIPAY_PUBLIC_KEY must be the Alipay public key, not a private key')
  } catch {
    r.problems.push('ALIPAY_PUBLIC_KEY is not a valid PEM public key')
  }
  return { appId: appId!, privateKey: privateKey!, publicKey: publicKey!, gateway }
}
