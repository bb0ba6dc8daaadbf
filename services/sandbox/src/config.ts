/**
 * Sandbox configuration (env, validated once, frozen). The sandbox is a development and test
 * tool: it refuses to start when NODE_ENV=production.
 *
 * A provider is enabled only when all of its variables are given; giving some but not all is an error.
 */
import { createEnvReader, type HttpConfig } from '@paysys/config'
import { SANDBOX_PROVIDERS, type ProviderConfigs } from './providers.ts'

export interface BaseSandboxConfig {
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
  /** Scales the real providers' notify retry schedules (0.01 → a 4 min retry comes after 2.4 s). */
  timeFactor: number
  /** Lower bound between two delivery attempts, whatever the factor. */
  minRetryMs: number
  /** How often the notify worker looks for due deliveries. */
  notifyPollMs: number
  /** Timeout of one notify HTTP request. */
  notifyTimeoutMs: number
}

/** The shared settings and, under each provider's name, its own (null: not configured). */
export type SandboxConfig = BaseSandboxConfig & ProviderConfigs

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

  const providers = Object.fromEntries(SANDBOX_PROVIDERS.map((p) => [p.name, p.readConfig(r)])) as ProviderConfigs

  return r.done<SandboxConfig>({
    port,
    host,
    databaseUrl,
    dbPoolMax: r.int('DB_POOL_MAX', 10, 1, 1000),
    publicUrl,
    logLevel,
    http: r.http(),
    ...providers,
    timeFactor: r.number('SANDBOX_TIME_FACTOR', 0.01, 0, 1000),
    minRetryMs: r.int('SANDBOX_MIN_RETRY_MS', 200, 0, 3_600_000),
    notifyPollMs: r.int('SANDBOX_NOTIFY_POLL_MS', 100, 10, 60_000),
    notifyTimeoutMs: r.int('SANDBOX_NOTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
  })
}
