/**
 * Pay service configuration: read from the environment once at start-up, validated, frozen.
 * A provider is enabled only when fully configured; a half-configured provider is an error
 * (it is almost always a deployment mistake, and silently disabling it would hide it).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { createEnvReader } from '@paysys/config'
import { parseServiceKeys, type ServiceKey } from '@paysys/service-auth'
import { readWechatConfig, type WechatConfig } from './providers/wechat/config.ts'
import { readEpayConfig, type EpayConfig } from './providers/epay/config.ts'

export interface AlipayConfig {
  appId: string
  /** Merchant (application) private key, PKCS8 PEM. */
  privateKey: string
  /** Alipay platform public key, SPKI PEM. */
  publicKey: string
  gateway: string
}

export interface PayConfig {
  port: number
  host: string
  databaseUrl: string
  nodeEnv: string
  logLevel: string
  /** Own public base URL: notify_url and return_url are built from it. */
  publicUrl: string
  frontendUrl: string
  mainUrl: string
  /** The first key signs (outbox → main); every key verifies (main → pay). */
  serviceKeys: ServiceKey[]
  alipay: AlipayConfig | null
  wechat: WechatConfig | null
  epay: EpayConfig | null
  outboxPollMs: number
  /** false: events are only stored (main must pull); for operations and the reconciliation test. */
  outboxPushEnabled: boolean
  providerTimeoutMs: number
}

export const DEFAULT_ALIPAY_GATEWAY = 'https://openapi.alipay.com/gateway.do'

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<PayConfig> {
  const r = createEnvReader(env)
  const nodeEnv = r.string('NODE_ENV', 'development')
  const production = nodeEnv === 'production'
  const port = r.int('PORT', 8081, 1, 65535)

  let serviceKeys: ServiceKey[] = []
  const keySpec = r.string('SERVICE_KEYS')
  if (keySpec) {
    try {
      serviceKeys = parseServiceKeys(keySpec)
    } catch (err) {
      r.problems.push(`SERVICE_KEYS: ${(err as Error).message}`)
    }
  }

  const config: PayConfig = {
    port,
    host: r.string('HOST', '0.0.0.0'),
    databaseUrl: r.string('DATABASE_URL'),
    nodeEnv,
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    // Outside production the local defaults match the dev stack; in production a wrong default
    // would silently send notifies and callbacks nowhere, so these must be set.
    publicUrl: r.url('PUBLIC_URL', production ? undefined : `http://localhost:${port}`),
    frontendUrl: r.url('FRONTEND_URL', production ? undefined : 'http://localhost:3000'),
    mainUrl: r.url('MAIN_URL', production ? undefined : 'http://127.0.0.1:8080'),
    serviceKeys,
    alipay: readAlipay(r),
    wechat: readWechatConfig(r),
    epay: readEpayConfig(r),
    outboxPollMs: r.int('OUTBOX_POLL_MS', 500, 10, 60_000),
    outboxPushEnabled: r.bool('OUTBOX_PUSH_ENABLED', true),
    providerTimeoutMs: r.int('PROVIDER_TIMEOUT_MS', 8000, 100, 60_000),
  }
  return r.done(config)
}

function readAlipay(r: ReturnType<typeof createEnvReader>): AlipayConfig | null {
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
