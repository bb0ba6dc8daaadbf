/**
 * Epay (彩虹易支付) configuration, read by src/config.ts. Enabled only when EPAY_PID, EPAY_KEY[_FILE]
 * and EPAY_BASE_URL are all given; some but not all is a configuration error.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import type { createEnvReader } from '@paysys/config'

export interface EpayConfig {
  /** Merchant id (商户ID). */
  pid: string
  /** Merchant MD5 key (商户密钥): signs requests, verifies notifies, authenticates api.php calls. */
  key: string
  /** The Epay site root, without the trailing slash: `${baseUrl}/mapi.php`, `/submit.php`, `/api.php`. */
  baseUrl: string
  /**
   * Before granting a notified payment, ask api.php?act=order whether the order is really paid (and
   * for how much). A leaked key lets anyone sign a "paid" notify; the query also needs the key, but
   * answers what Epay knows, not what the notify claims. Default true.
   */
  verifyByQuery: boolean
  /**
   * How a payment is started: `mapi` (default) asks mapi.php server-to-server and answers a jump URL or
   * a QR code; `submit` answers an auto-submitting form to submit.php (no server-to-server call at
   * create time, for Epay sites that disable mapi.php).
   */
  createApi: 'mapi' | 'submit'
  /**
   * Which Epay API the operator speaks: 1 (default) the MD5 API (submit.php, mapi.php, api.php); 2 the RSA
   * API (`api/pay/create|submit|query|refund`, SHA256withRSA), whose `method`/`device` and
   * `pay_type`/`pay_info` are seed 002's vocabulary. V2 needs `v2` below.
   */
  apiVersion?: 1 | 2
  /** V2: the merchant private key (商户私钥, signs requests) and the platform public key (平台公钥, verifies answers and notifies), PEM. */
  v2?: { merchantPrivateKey: KeyObject; platformPublicKey: KeyObject } | null
}

type EnvReader = ReturnType<typeof createEnvReader>

export function readEpayConfig(r: EnvReader): EpayConfig | null {
  const pid = r.optional('EPAY_PID')
  const key = r.secret('EPAY_KEY')
  const rawBaseUrl = r.optional('EPAY_BASE_URL')
  const verifyByQuery = r.bool('EPAY_VERIFY_BY_QUERY', true)
  const createApi = r.oneOf('EPAY_CREATE_API', ['mapi', 'submit'] as const, 'mapi')
  const given = { EPAY_PID: pid, EPAY_KEY: key, EPAY_BASE_URL: rawBaseUrl }
  const missing = Object.entries(given)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k)
  if (missing.length === 3) return null
  if (missing.length > 0) {
    r.problems.push(
      `Epay is partially configured: missing ${missing.join(', ')} (set all of EPAY_PID, EPAY_KEY[_FILE], EPAY_BASE_URL, or none)`,
    )
    return null
  }
  if (!/^\d{1,10}$/.test(pid!)) r.problems.push(`EPAY_PID must be the numeric merchant id, got ${JSON.stringify(pid)}`)
  if (!/^[A-Za-z0-9]{16,64}$/.test(key!)) r.problems.push('EPAY_KEY must be the merchant key: 16-64 letters or digits (usually 32)')
  const baseUrl = r.url('EPAY_BASE_URL')
  const apiVersion = Number(r.oneOf('EPAY_API_VERSION', ['1', '2'] as const, '1')) as 1 | 2
  const v2 = apiVersion === 2 ? readV2Keys(r) : null
  return { pid: pid!, key: key!, baseUrl, verifyByQuery, createApi, apiVersion, v2 }
}

/** Epay shows RSA keys as bare base64 (no PEM armour): both forms are accepted. */
export function pemOf(text: string, kind: 'PRIVATE' | 'PUBLIC'): string {
  if (/-----BEGIN /.test(text)) return text
  const body = text.replace(/\s+/g, '')
  return `-----BEGIN ${kind} KEY-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END ${kind} KEY-----\n`
}

function readV2Keys(r: EnvReader): EpayConfig['v2'] {
  const priv = r.secret('EPAY_MERCHANT_PRIVATE_KEY')
  const pub = r.secret('EPAY_PLATFORM_PUBLIC_KEY')
  if (priv === undefined || pub === undefined) {
    r.problems.push(
      'EPAY_API_VERSION=2 needs EPAY_MERCHANT_PRIVATE_KEY[_FILE] and EPAY_PLATFORM_PUBLIC_KEY[_FILE] (RSA, PEM or bare base64)',
    )
    return null
  }
  let merchantPrivateKey: KeyObject | undefined
  let platformPublicKey: KeyObject | undefined
  try {
    merchantPrivateKey = createPrivateKey(pemOf(priv, 'PRIVATE'))
  } catch {
    r.problems.push('EPAY_MERCHANT_PRIVATE_KEY is not a valid RSA private key')
  }
  try {
    platformPublicKey = createPublicKey(pemOf(pub, 'PUBLIC'))
  } catch {
    r.problems.push('EPAY_PLATFORM_PUBLIC_KEY is not a valid RSA public key')
  }
  if (merchantPrivateKey?.asymmetricKeyType !== 'rsa' || platformPublicKey?.asymmetricKeyType !== 'rsa') {
    if (merchantPrivateKey && platformPublicKey) r.problems.push('Epay V2 keys must be RSA keys')
    return null
  }
  return { merchantPrivateKey, platformPublicKey }
}
