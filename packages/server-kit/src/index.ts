/**
 * The common shape of every service: fastify with TypeBox, one error handler that maps
 * errors to the `{code, message, data, timestamp, error}` envelope (never a stack trace,
 * never a 500 for bad input), /healthz and /readyz, request ids, security headers, log
 * redaction and a graceful shutdown.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { randomUUID } from 'node:crypto'
import { AppError, fail, type ErrorCode } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { installMetrics } from './metrics.ts'
import { registerOpenApi, type OpenApiOptions } from './openapi.ts'

export { installMetrics, sharedScrapeRead } from './metrics.ts'
export { failpoint } from './failpoint.ts'
export {
  documentGaps,
  documentSchemas,
  registerOpenApi,
  registeredRoutes,
  routeSchemaGaps,
  type OpenApiDocument,
  type OpenApiOptions,
  type RouteRecord,
  type SchemaGap,
} from './openapi.ts'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-svc-signature"]',
  'req.headers.cookie',
  'password',
  '*.password',
  'token',
  '*.token',
  'privateKey',
  '*.privateKey',
  'sign',
  '*.sign',
]

/** CSP of every answer that is not an HTML page (JSON, redirects, files): nothing may load, nothing may frame it. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'"

/**
 * Default CSP of HTML pages (Swagger UI at /docs, the sandbox's cashier): own scripts only, inline styles
 * allowed, forms may post (and be redirected) to other sites, as a cashier's forms are.
 */
export const PAGE_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"

/** `TRUST_PROXY` / `HSTS_MAX_AGE` as @paysys/config reads them (`HttpConfig`). */
export interface HttpOptions {
  /** fastify's `trustProxy`; default false: `X-Forwarded-*` are ignored and the TCP peer is the client. */
  trustProxy?: boolean | number | readonly string[]
  /** Seconds; > 0 adds `Strict-Transport-Security: max-age=…`. */
  hstsMaxAge?: number
}

/**
 * Query parameters whose values are secrets: provider signatures in notify, return and gateway URLs
 * (`sign`), Epay's merchant key in its API query (`key`), and anything token- or password-like.
 */
const SECRET_QUERY_PARAMS = /([?&](?:sign|signature|paySign|key|token|access_token|password|secret)=)[^&#]*/gi

/** The URL as logged: secret query values replaced, the rest kept for debugging. */
export function redactUrl(url: string): string {
  return url.includes('?') ? url.replace(SECRET_QUERY_PARAMS, '$1[redacted]') : url
}

export function createApp(opts: {
  name: string
  sql?: Sql
  logLevel?: string
  bodyLimit?: number
  fastify?: FastifyServerOptions
  metricsToken?: string
  openapi?: OpenApiOptions
  http?: HttpOptions
  /** CSP of `text/html` answers (default PAGE_CSP); other answers get API_CSP. A route's own header wins. */
  pageCsp?: string
  /**
   * Paths under `prefix` answer errors in another shape (a seed's dialect, e.g. FastAPI's `{detail}`): the router's
   * own refusals there (before any route) use `body` too. The dialect's routes set their own error handler.
   */
  errorShapes?: { prefix: string; body: (status: number, message: string) => unknown }[]
}) {
  const trust = opts.http?.trustProxy ?? false
  // fastify 5 refuses a bare hop count (it cannot tell a proxy from a client); as a function it trusts the
  // `n` nearest hops, proxy-addr's meaning: right only where nothing but those proxies can reach the service.
  const trustProxy =
    typeof trust === 'number' ? (_addr: string, hop: number) => hop < trust : typeof trust === 'object' ? [...trust] : trust
  const hsts = opts.http?.hstsMaxAge ? `max-age=${opts.http.hstsMaxAge}` : undefined
  const pageCsp = opts.pageCsp ?? PAGE_CSP
  const app = Fastify({
    logger: {
      level: opts.logLevel ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // fastify's request serializer, with the URL's secret query values redacted.
      serializers: {
        req: (req: FastifyRequest) => ({
          method: req.method,
          url: redactUrl(req.url),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
      base: { service: opts.name },
    },
    // Each request's logger (with its reqId) is made when the request first logs at an enabled level: most never do.
    childLoggerFactory: lazyChildLogger,
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID()
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    trustProxy,
    // Path parameters longer than the router's default 100 characters (an e-mail may have 254).
    routerOptions: { maxParamLength: 512 },
    // A malformed URL or an over-long path parameter is refused by the router before any route:
    // in the envelope too, never fastify's own JSON echoing the path.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400
      const message = status === 414 ? '路径参数过长' : '请求路径无效'
      const shape = opts.errorShapes?.find((s) => req.url.startsWith(`${s.prefix}/`))
      return reply.status(status).send(shape ? shape.body(status, message) : fail(status, 'INVALID_PARAMS', message))
    },
    ...opts.fastify,
  }).withTypeProvider<TypeBoxTypeProvider>()
  // Prometheus: `app.metrics` (this app's registry), request latency by route, `GET /metrics`.
  installMetrics(app, { token: opts.metricsToken })
  // OpenAPI document at /docs/json, Swagger UI at /docs; before any route, as routes are collected when added.
  if (opts.openapi) registerOpenApi(app, opts.openapi)

  // Security headers on every answer; a header the route (or a proxied answer) already set is kept.
  // A callback hook, no per-answer arrays: it runs on every request (the catalogue bench measures it). The set for a
  // content type is worked out once (a few types in all; at most 64 kept).
  const jsonType = /^application\/([\w.+-]*\+)?json/i
  const sets = new Map<string, [string, string][]>()
  const headerSet = (type: string, api: boolean): [string, string][] => {
    const key = `${api ? 'api' : ''} ${type}`
    let set = sets.get(key)
    if (set) return set
    const all: [string, string | undefined][] = [
      ['x-content-type-options', 'nosniff'],
      ['x-frame-options', 'DENY'],
      ['referrer-policy', 'no-referrer'],
      ['cross-origin-resource-policy', 'same-site'],
      // Only with a body of a known type: the headers of a 304 replace the cached page's own (a page would lose its CSP).
      ['content-security-policy', type === '' ? undefined : /^text\/html/i.test(type) ? pageCsp : API_CSP],
      ['strict-transport-security', hsts],
      // API answers carry user and payment data: never stored by a browser or a shared cache.
      ['cache-control', jsonType.test(type) || api ? 'no-store' : undefined],
    ]
    set = all.filter((h): h is [string, string] => h[1] !== undefined)
    if (sets.size < 64) sets.set(key, set)
    return set
  }
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-request-id', req.id)
    for (const [name, value] of headerSet(String(reply.getHeader('content-type') ?? ''), req.url.startsWith('/api/'))) {
      if (!reply.hasHeader(name)) reply.header(name, value)
    }
    done(null, payload)
  })

  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) req.log.warn({ err: { message: err.message, code: err.error } }, 'request failed')
      return reply.status(err.status).send(fail(err.status, err.error, err.message))
    }
    const fe = err as FastifyError
    if (fe.validation) {
      return reply.status(400).send(fail(400, 'INVALID_PARAMS', `请求参数无效: ${fe.message}`))
    }
    const status = fe.statusCode ?? 500
    if (status === 413) return reply.status(413).send(fail(413, 'PAYLOAD_TOO_LARGE', '请求体过大'))
    if (status === 415) return reply.status(415).send(fail(415, 'UNSUPPORTED_MEDIA_TYPE', '不支持的内容类型'))
    if (status === 429) return reply.status(429).send(fail(429, 'RATE_LIMITED', '请求过于频繁，请稍后再试'))
    if (status >= 400 && status < 500) {
      const code: ErrorCode = status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : 'INVALID_PARAMS'
      return reply.status(status).send(fail(status, code, `请求无效: ${fe.message}`))
    }
    if (databaseUnavailable(err)) {
      // Nothing was decided: the caller (a buyer, main, a provider's notify) should simply retry.
      req.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'database unavailable')
      return reply
        .status(503)
        .header('retry-after', '1')
        .send(fail(503, 'SERVICE_UNAVAILABLE', '服务暂时不可用，请稍后重试'))
    }
    req.log.error({ err }, 'unhandled error')
    return reply.status(500).send(fail(500, 'INTERNAL_ERROR', '服务器内部错误'))
  })

  app.setNotFoundHandler((req, reply) => reply.status(404).send(fail(404, 'NOT_FOUND', `未找到: ${req.method} ${req.url.split('?')[0]}`)))

  app.get('/healthz', { schema: { hide: true } as object }, async () => ({ status: 'ok', service: opts.name }))
  app.get('/readyz', { schema: { hide: true } as object }, async (_req, reply) => {
    if (!opts.sql) return { status: 'ok' }
    try {
      await Promise.race([opts.sql`select 1`, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000))])
      return { status: 'ok', database: 'up' }
    } catch {
      return reply.status(503).send({ status: 'unavailable', database: 'down' })
    }
  })
  return app
}

export type App = ReturnType<typeof createApp>

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/**
 * A request's child logger, made on first use. fastify makes one per request (pino's child serialises its bindings
 * through the redaction paths), 2% of the catalogue's CPU per request (bench profile); a line below the level, like
 * fastify's own request logs at `LOG_LEVEL=warn`, makes none. Once made, every call goes to the real child.
 */
class LazyChildLogger {
  private made?: FastifyBaseLogger
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindingsGiven: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}
  private real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindingsGiven, this.options))
  }
  get level(): string {
    return (this.made ?? this.parent).level
  }
  set level(level: string) {
    this.real().level = level
  }
  isLevelEnabled(level: string): boolean {
    return ((this.made ?? this.parent) as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level)
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real().child(bindings, options)
  }
  bindings(): Bindings {
    return (this.real() as unknown as { bindings(): Bindings }).bindings()
  }
  silent(): void {}
}
for (const level of LEVELS) {
  Object.defineProperty(LazyChildLogger.prototype, level, {
    value(this: LazyChildLogger, ...args: unknown[]) {
      if (!this.isLevelEnabled(level)) return
      const log = (this as unknown as { real(): FastifyBaseLogger }).real()
      ;(log[level] as (...a: unknown[]) => void)(...args)
    },
  })
}

function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  // A route of its own level (or serializers) needs the real child at once: its level differs from the parent's.
  if (options.level || options.serializers) return logger.child(bindings, options)
  return new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger
}

/**
 * The database could not be reached or would not take the work (connection refused/reset, too many
 * clients, shutting down, recovering): SQLSTATE classes 08 and 53, 57P0x, or a socket error code.
 */
export function databaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return (
    /^(08|53)[0-9A-Z]{3}$/.test(code) ||
    /^57P0[1-4]$/.test(code) ||
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      'CONNECTION_CLOSED',
      'CONNECTION_ENDED',
      'CONNECTION_DESTROYED',
      'CONNECT_TIMEOUT',
    ].includes(code)
  )
}

/** Listens, and on SIGTERM/SIGINT closes the server (draining requests), then runs `onClose`. */
export async function listenAndHandleSignals(app: FastifyInstance, port: number, host: string, onClose: () => Promise<void>) {
  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(1), 15_000)
    force.unref()
    try {
      await app.close()
      await onClose()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  await app.listen({ port, host })
}
export { startJobs, stopJobs, every, ensureQueue, PgBoss, type JobsOptions, type PeriodicTask } from './jobs.ts'
