/**
 * The common shape of every service: fastify with TypeBox, one error handler that maps
 * errors to the `{code, message, data, timestamp, error}` envelope (never a stack trace,
 * never a 500 for bad input), /healthz and /readyz, request ids, log redaction and a
 * graceful shutdown.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { randomUUID } from 'node:crypto'
import { AppError, fail, type ErrorCode } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { installMetrics } from './metrics.ts'
import { registerOpenApi, type OpenApiOptions } from './openapi.ts'

export { installMetrics, sharedScrapeRead } from './metrics.ts'
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

export function createApp(opts: {
  name: string
  sql?: Sql
  logLevel?: string
  bodyLimit?: number
  fastify?: FastifyServerOptions
  metricsToken?: string
  openapi?: OpenApiOptions
}) {
  const app = Fastify({
    logger: {
      level: opts.logLevel ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: opts.name },
    },
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID()
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    trustProxy: true,
    // Path parameters longer than the router's default 100 characters (an e-mail may have 254).
    routerOptions: { maxParamLength: 512 },
    // A malformed URL or an over-long path parameter is refused by the router before any route:
    // in the envelope too, never fastify's own JSON echoing the path.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: FastifyReply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400
      return reply.status(status).send(fail(status, 'INVALID_PARAMS', status === 414 ? '路径参数过长' : '请求路径无效'))
    },
    ...opts.fastify,
  }).withTypeProvider<TypeBoxTypeProvider>()
  // Prometheus: `app.metrics` (this app's registry), request latency by route, `GET /metrics`.
  installMetrics(app, { token: opts.metricsToken })
  // OpenAPI document at /docs/json, Swagger UI at /docs; before any route, as routes are collected when added.
  if (opts.openapi) registerOpenApi(app, opts.openapi)

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id)
    reply.header('x-content-type-options', 'nosniff')
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
export { startJobs, stopJobs, every, PgBoss, type JobsOptions, type PeriodicTask } from './jobs.ts'
