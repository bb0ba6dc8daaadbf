/**
 * Pay service configuration: read from the environment once at start-up, validated, frozen.
 * A provider is enabled only when fully configured; a half-configured provider is an error
 * (it is almost always a deployment mistake, and silently disabling it would hide it).
 */
import { createEnvReader, type HttpConfig } from '@paysys/config'
import { parseServiceKeys, type ServiceKey } from '@paysys/service-auth'
import { PROVIDERS, readProviderConfigs, type ProviderConfigs } from './providers/index.ts'

/** Each provider's settings sit under its `configKey` (ProviderConfigs, from the registry); null = disabled. */
export interface PayConfig extends ProviderConfigs {
  port: number
  host: string
  databaseUrl: string
  /** Connections in the service's pool (DB_POOL_MAX; pg-boss keeps 3 more in main and pay). */
  dbPoolMax: number
  nodeEnv: string
  logLevel: string
  /** TRUST_PROXY (whose X-Forwarded-* to believe) and HSTS_MAX_AGE. */
  http: HttpConfig
  /** Own public base URL: notify_url and return_url are built from it. */
  publicUrl: string
  frontendUrl: string
  mainUrl: string
  /** The first key signs (outbox → main); every key verifies (main → pay). */
  serviceKeys: ServiceKey[]
  /** Period of the outbox rescue task (delivers due events whose wake was lost: a crash, another instance gone). */
  outboxPollMs: number
  /** false: events are only stored (main must pull); for operations and the reconciliation test. */
  outboxPushEnabled: boolean
  /** A PENDING attempt this old is re-queried at the provider by pay itself (and at most this often). */
  staleAttemptRequerySeconds: number
  /** Period of the stale-attempt sweep; 0 switches it off. */
  staleAttemptSweepSeconds: number
  providerTimeoutMs: number
  /** Bearer token `GET /metrics` requires; without one the endpoint is open (development). */
  metricsToken?: string
  reconcile: ReconcileConfig
}

/** Reconciliation against provider bills (对账). */
export interface ReconcileConfig {
  /** false: no daily job (the admin API and the CLI still run a day on demand). */
  enabled: boolean
  /** Cron, China time. */
  cron: string
  retryLimit: number
  retryDelaySeconds: number
  /** Fee rates bill fees are checked against, per provider; absent = fees are summed, not checked. */
  feeRates: Partial<Record<string, number>>
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<PayConfig> {
  const r = createEnvReader(env)
  const nodeEnv = r.string('NODE_ENV', 'development')
  const production = nodeEnv === 'production'
  const port = r.int('PORT', 8081, 1, 65535)

  let serviceKeys: ServiceKey[] = []
  // Inline or from a file (SERVICE_KEYS_FILE), like every other secret.
  const keySpec = r.secret('SERVICE_KEYS', { required: true })
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
    dbPoolMax: r.int('DB_POOL_MAX', 10, 1, 1000),
    nodeEnv,
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    http: r.http(),
    // Outside production the local defaults match the dev stack; in production a wrong default
    // would silently send notifies and callbacks nowhere, so these must be set.
    publicUrl: r.url('PUBLIC_URL', production ? undefined : `http://localhost:${port}`),
    frontendUrl: r.url('FRONTEND_URL', production ? undefined : 'http://localhost:3000'),
    mainUrl: r.url('MAIN_URL', production ? undefined : 'http://127.0.0.1:8080'),
    serviceKeys,
    ...readProviderConfigs(r),
    outboxPollMs: r.int('OUTBOX_POLL_MS', 5000, 10, 600_000),
    outboxPushEnabled: r.bool('OUTBOX_PUSH_ENABLED', true),
    staleAttemptRequerySeconds: r.int('STALE_ATTEMPT_REQUERY_SECONDS', 300, 0, 86_400),
    staleAttemptSweepSeconds: r.int('STALE_ATTEMPT_SWEEP_SECONDS', 60, 0, 3600),
    providerTimeoutMs: r.int('PROVIDER_TIMEOUT_MS', 8000, 100, 60_000),
    reconcile: {
      enabled: r.bool('RECONCILE_JOBS_ENABLED', true),
      cron: r.string('RECONCILE_CRON', '30 10 * * *'),
      retryLimit: r.int('RECONCILE_RETRY_LIMIT', 12, 0, 1000),
      retryDelaySeconds: r.int('RECONCILE_RETRY_DELAY_SECONDS', 1800, 1, 86_400),
      feeRates: readFeeRates(r),
    },
  }
  if (!/^(\S+\s+){4}\S+$/.test(config.reconcile.cron))
    r.problems.push(`RECONCILE_CRON must be a 5-field cron, got ${JSON.stringify(config.reconcile.cron)}`)
  // Pay is reachable from the internet (notify, return): its metrics must not be.
  const metricsToken = r.secret('METRICS_TOKEN')
  if (metricsToken !== undefined && metricsToken.length < 16) r.problems.push('METRICS_TOKEN must be at least 16 characters')
  if (metricsToken) config.metricsToken = metricsToken
  return r.done(config)
}

/** `RECONCILE_FEE_RATES=PROVIDER:rate,…`, e.g. a rate of 0.006 per provider code of the registry. */
function readFeeRates(r: ReturnType<typeof createEnvReader>): ReconcileConfig['feeRates'] {
  const spec = r.optional('RECONCILE_FEE_RATES')
  const rates: ReconcileConfig['feeRates'] = {}
  if (!spec) return rates
  for (const part of spec.split(',')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)\s*:\s*(0(\.\d{1,6})?)\s*$/.exec(part)
    if (!m || !PROVIDERS.includes(m[1]!)) {
      r.problems.push(
        `RECONCILE_FEE_RATES: expected PROVIDER:rate (PROVIDER one of ${PROVIDERS.join(', ')}; rate below 1, e.g. ${PROVIDERS[0]}:0.006), got ${JSON.stringify(part)}`,
      )
      continue
    }
    rates[m[1]!] = Number(m[2])
  }
  return rates
}
