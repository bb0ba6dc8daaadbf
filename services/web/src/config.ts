import { createEnvReader, type HttpConfig } from '@paysys/config'

export interface WebConfig {
  port: number
  host: string
  /** The main (order) service; the browser only ever talks to it through this server's `/api/*`. */
  mainUrl: string
  /** Optional: the provider sandbox's browser URL, to offer a "simulate scanning" link next to QR codes (dev only). */
  sandboxUrl?: string
  /** How long a proxied call to main may take before the browser gets a 504. */
  proxyTimeoutMs: number
  logLevel: string
  /** TRUST_PROXY (whose X-Forwarded-* to believe) and HSTS_MAX_AGE. */
  http: HttpConfig
  /** Bearer token `GET /metrics` requires; without one the endpoint is open (development). The web app is public. */
  metricsToken?: string
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<WebConfig> {
  const r = createEnvReader(env)
  const sandbox = r.optional('SANDBOX_URL')
  const metricsToken = r.secret('METRICS_TOKEN')
  if (metricsToken !== undefined && metricsToken.length < 16) r.problems.push('METRICS_TOKEN must be at least 16 characters')
  return r.done({
    port: r.int('PORT', 3000, 1, 65535),
    host: r.string('HOST', '0.0.0.0'),
    mainUrl: r.url('MAIN_URL', 'http://127.0.0.1:8080'),
    ...(sandbox ? { sandboxUrl: r.url('SANDBOX_URL') } : {}),
    proxyTimeoutMs: r.int('PROXY_TIMEOUT_MS', 30_000, 100, 600_000),
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    http: r.http(),
    ...(metricsToken ? { metricsToken } : {}),
  })
}
