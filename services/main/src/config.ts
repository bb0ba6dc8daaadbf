import { createEnvReader, type HttpConfig } from '@paysys/config'
import { parseServiceKeys, type ServiceKey } from '@paysys/service-auth'
import { randomBytes } from 'node:crypto'
import { readLiveConfig, type LiveConfig } from './live/config.ts'
import { readMiniappConfig, type MiniappConfig } from './dialects/mini-program/config.ts'

export interface MainConfig {
  port: number
  host: string
  databaseUrl: string
  /** Connections in the service's pool (DB_POOL_MAX; pg-boss keeps 3 more in main and pay). */
  dbPoolMax: number
  production: boolean
  jwtSecret: string
  jwtExpiresIn: string
  payUrl: string
  payTimeoutMs: number
  serviceKeys: ServiceKey[]
  frontendUrl: string
  orderExpireMinutes: number
  /** Background jobs (pg-boss, schema `pgboss`); false: this instance runs none (e.g. a read-only replica). */
  jobsEnabled: boolean
  /** Period of the `orders-expire` task (expire overdue orders, close their trades) and of `refunds-retry`. */
  expirySweepMs: number
  /** Period of the `orders-reconcile` task (default: EXPIRY_SWEEP_MS). */
  reconcileSweepMs: number
  /** Pending orders whose payment started this long ago are re-queried through pay by `orders-reconcile`. */
  reconcileAfterSeconds: number
  /** PENDING provider refunds older than this are sent to pay again by `refunds-retry` (younger ones belong to their request). */
  refundRetryAfterSeconds: number
  /** What one credit is worth in fen when goods are paid with credits (seed 000: 0.05 yuan). */
  creditValueFen: number
  /** Requests per minute per client IP; 0 turns the limit off. */
  rateLimitAuthPerMinute: number
  rateLimitOrdersPerMinute: number
  logLevel: string
  /** TRUST_PROXY (whose X-Forwarded-* to believe) and HSTS_MAX_AGE. */
  http: HttpConfig
  /** First admin, created (or promoted) at start-up when both are given. */
  adminEmail?: string
  adminPassword?: string
  /** Bearer token `GET /metrics` requires; without one the endpoint is open (development). */
  metricsToken?: string
  /** Live order status streams (LIVE_*). */
  live: LiveConfig
  /** Seed 001's mini program login (WECHAT_MINIAPP_*): null = its login route answers 503. */
  miniapp: MiniappConfig | null
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<MainConfig> {
  const r = createEnvReader(env)
  const production = env.NODE_ENV === 'production'
  let jwtSecret = r.secret('JWT_SECRET')
  if (!jwtSecret) {
    if (production) r.problems.push('JWT_SECRET (or JWT_SECRET_FILE) is required when NODE_ENV=production')
    // Development without a secret: tokens are valid for this process only.
    jwtSecret = randomBytes(32).toString('base64url')
  } else if (jwtSecret.length < 32) {
    r.problems.push('JWT_SECRET must be at least 32 characters')
  }
  let serviceKeys: ServiceKey[] = []
  try {
    serviceKeys = parseServiceKeys(r.secret('SERVICE_KEYS', { required: true }) ?? '')
  } catch (err) {
    if (r.secret('SERVICE_KEYS')) r.problems.push(`SERVICE_KEYS: ${(err as Error).message}`)
  }
  const adminEmail = r.optional('ADMIN_EMAIL')
  const adminPassword = r.secret('ADMIN_PASSWORD')
  if ((adminEmail === undefined) !== (adminPassword === undefined)) r.problems.push('set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither')
  const expirySweepMs = r.int('EXPIRY_SWEEP_MS', 15_000, 50, 3_600_000)
  const metricsToken = r.secret('METRICS_TOKEN')
  if (metricsToken !== undefined && metricsToken.length < 16) r.problems.push('METRICS_TOKEN must be at least 16 characters')
  return r.done({
    port: r.int('PORT', 8080, 0, 65535),
    host: r.string('HOST', '0.0.0.0'),
    databaseUrl: r.string('DATABASE_URL'),
    dbPoolMax: r.int('DB_POOL_MAX', 20, 1, 1000),
    production,
    jwtSecret,
    jwtExpiresIn: r.string('JWT_EXPIRES_IN', '7d'),
    payUrl: r.url('PAY_URL', 'http://127.0.0.1:8081'),
    payTimeoutMs: r.int('PAY_TIMEOUT_MS', 10_000, 100, 120_000),
    serviceKeys,
    frontendUrl: r.url('FRONTEND_URL', 'http://localhost:3000'),
    orderExpireMinutes: r.int('ORDER_EXPIRE_MINUTES', 30, 1, 24 * 60),
    jobsEnabled: r.bool('JOBS_ENABLED', true),
    expirySweepMs,
    reconcileSweepMs: r.int('RECONCILE_SWEEP_MS', expirySweepMs, 50, 3_600_000),
    reconcileAfterSeconds: r.int('RECONCILE_AFTER_SECONDS', 120, 0, 86_400),
    refundRetryAfterSeconds: r.int('REFUND_RETRY_AFTER_SECONDS', 30, 0, 86_400),
    creditValueFen: r.int('CREDIT_VALUE_FEN', 5, 1, 10_000),
    rateLimitAuthPerMinute: r.int('RATE_LIMIT_AUTH_PER_MINUTE', 20, 0, 1_000_000),
    rateLimitOrdersPerMinute: r.int('RATE_LIMIT_ORDERS_PER_MINUTE', 60, 0, 1_000_000),
    logLevel: r.string('LOG_LEVEL', 'info'),
    http: r.http(),
    live: readLiveConfig(r),
    miniapp: readMiniappConfig(r),
    ...(adminEmail && adminPassword ? { adminEmail, adminPassword } : {}),
    ...(metricsToken ? { metricsToken } : {}),
  })
}
