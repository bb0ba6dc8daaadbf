/**
 * Sandbox configuration (env, validated once, frozen). The sandbox is a development and test
 * tool: it refuses to start when NODE_ENV=production.
 *
 * A provider is enabled only when all of its variables are given; giving some but not all is an error.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { createEnvReader, type HttpConfig } from '@paysys/config'
import { readWechatSandbox, type WechatSandboxConfig } from './wechat/config.ts'

export interface AlipaySandboxConfig {
  appId: string
  /** SPKI PEM: verifies the merchant's request signatures. */
  merchantPublicKey: string
  /** PKCS8 PEM: signs gateway responses, notifies and browser returns. */
  platformPrivateKey: string
  /** The merchant's Alipay partner id (2088…), sent as seller_id. */
  sellerId: string
}

export interface EpaySandboxConfig {
  /** The merchant id (商户ID) the sandbox knows. */
  pid: string
  /** The merchant's MD5 key (商户密钥): verifies requests, signs notifies and returns. */
  key: string
}

export interface SandboxConfig {
  port: number
  host: string
  databaseUrl: string
  /** Connections in the service's pool (DB_POOL_MAX; pg-boss keeps 3 more in main and pay). */
  dbPoolMax: number
  /** Base URL the browser sees (cashier pages, QR contents). */
  publicUrl: string
  logLevel: string
  /** TRUST_PROXY (whose X-Forwarded-* to believe) and HSTS_MAX_AGE. */
  http: HttpConfig
  alipay: AlipaySandboxConfig | null
  epay: EpaySandboxConfig | null
  wechat: WechatSandboxConfig | null
  /** Scales the real providers' notify retry schedules (0.01 → Alipay's 4 min becomes 2.4 s). */
  timeFactor: number
  /** Lower bound between two delivery attempts, whatever the factor. */
  minRetryMs: number
  /** How often the notify worker looks for due deliveries. */
  notifyPollMs: number
  /** Timeout of one notify HTTP request. */
  notifyTimeoutMs: number
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<SandboxConfig> {
  const r = createEnvReader(env)
  if (env.NODE_ENV === 'production') {
    r.problems.push('the provider sandbox is a test tool and refuses to run with NODE_ENV=production')
  }
  const port = r.int('PORT', 8090, 1, 65535)
  const host = r.string('HOST', '0.0.0.0')
  const databaseUrl = r.string('DATABASE_URL')
  const publicUrl = r.url('PUBLIC_URL', `http://localhost:${port}`)
  const logLevel = r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info')

  const appId = r.optional('SANDBOX_ALIPAY_APP_ID')
  const merchantPublicKey = r.secret('SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY')
  const platformPrivateKey = r.secret('SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY')
  const sellerId = r.string('SANDBOX_ALIPAY_SELLER_ID', '2088102177846880')
  let alipay: AlipaySandboxConfig | null = null
  const given = [appId, merchantPublicKey, platformPrivateKey].filter((v) => v !== undefined).length
  if (given > 0 && given < 3) {
    r.problems.push(
      'Alipay sandbox: set all of SANDBOX_ALIPAY_APP_ID, SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY[_FILE] and SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY[_FILE], or none',
    )
  } else if (appId && merchantPublicKey && platformPrivateKey) {
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
    alipay = { appId, merchantPublicKey, platformPrivateKey, sellerId }
  }

  return r.done<SandboxConfig>({
    port,
    host,
    databaseUrl,
    dbPoolMax: r.int('DB_POOL_MAX', 10, 1, 1000),
    publicUrl,
    logLevel,
    http: r.http(),
    alipay,
    epay: readEpay(r),
    wechat: readWechatSandbox(r),
    timeFactor: r.number('SANDBOX_TIME_FACTOR', 0.01, 0, 1000),
    minRetryMs: r.int('SANDBOX_MIN_RETRY_MS', 200, 0, 3_600_000),
    notifyPollMs: r.int('SANDBOX_NOTIFY_POLL_MS', 100, 10, 60_000),
    notifyTimeoutMs: r.int('SANDBOX_NOTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
  })
}

function readEpay(r: ReturnType<typeof createEnvReader>): EpaySandboxConfig | null {
  const pid = r.optional('SANDBOX_EPAY_PID')
  const key = r.secret('SANDBOX_EPAY_KEY')
  if (pid === undefined && key === undefined) return null
  if (pid === undefined || key === undefined) {
    r.problems.push('Epay sandbox: set both SANDBOX_EPAY_PID and SANDBOX_EPAY_KEY[_FILE], or neither')
    return null
  }
  if (!/^\d{1,10}$/.test(pid)) r.problems.push(`SANDBOX_EPAY_PID must be 1-10 digits, got ${JSON.stringify(pid)}`)
  if (!/^[A-Za-z0-9]{16,64}$/.test(key)) r.problems.push('SANDBOX_EPAY_KEY must be 16-64 letters or digits')
  return { pid, key }
}
