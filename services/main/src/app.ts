import rateLimit from '@fastify/rate-limit'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifySchemaCompiler } from 'fastify'
import type { TSchema } from 'typebox'
import { createApp } from '@paysys/server-kit'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import type { MainConfig } from './config.ts'
import { createAccounts } from './accounts.ts'
import { authPlugin } from './auth.ts'
import { createCatalogRepo } from './catalog.ts'
import { createCatalogAdmin } from './catalog-admin.ts'
import { createCheckout } from './checkout.ts'
import { createCreditsService } from './credits.ts'
import type { MainDeps } from './deps.ts'
import { createOrdersRepo } from './orders/repo.ts'
import { createPayClient, type PayClient } from './pay-client.ts'
import { createPaymentsService } from './payments.ts'
import { createRefundsRepo } from './refunds-repo.ts'
import { createNonceStore } from './service-calls.ts'
import { createStats } from './stats.ts'
import { createAdminConsole } from './admin-console.ts'
import { createUsersRepo } from './users.ts'
import { authRoutes } from './routes/auth.ts'
import { creditsRoutes } from './routes/credits.ts'
import { ordersRoutes } from './routes/orders.ts'
import { paymentMethodsRoutes } from './routes/payment-methods.ts'
import { idempotencyPlugin } from './idempotency.ts'
import { createLedger } from './ledger.ts'
import { createRefundService } from './refunds.ts'
import { createOrderSweeper } from './orders/sweeper.ts'
import { catalogRoutes } from './routes/catalog.ts'
import { adminRoutes } from './routes/admin.ts'
import { MAIN_OPENAPI } from './routes/schemas.ts'
import { registerMainMetrics } from './metrics.ts'
import { orderEventsRoutes } from './routes/order-events.ts'
import { createMiniProgram } from './dialects/mini-program/service.ts'
import { miniProgramRoutes } from './routes/mini-program.ts'
import { MINI_PROGRAM_BASE, MINI_PROGRAM_LOGIN_ROUTE } from './dialects/mini-program/seed-names.ts'
import { V1_ERROR_SHAPE, V1_PREFIX, v1PaymentRoutes } from './dialects/v1-payment/routes.ts'
import { POINTS_SHOP_ERROR_SHAPE, POINTS_SHOP_PREFIX, pointsShopRoutes } from './dialects/points-shop/routes.ts'

/**
 * A query string, params or headers part with no keys (the catalogue's query, most GETs') has nothing to convert: it
 * is checked as it is, not through TypeBox's conversion, which walks the schema for every request (bench profile).
 */
function withEmptyFastPath(httpPart: string | undefined, validate: ReturnType<typeof TypeBoxValidatorCompiler>) {
  if (httpPart === 'body') return validate
  const probe = validate({}) as { value?: unknown }
  if (!('value' in probe)) return validate
  return (value: unknown) => (value && typeof value === 'object' && isEmpty(value) ? { value } : validate(value))
}
function isEmpty(o: object): boolean {
  for (const _ in o) return false
  return true
}

/**
 * JSON bodies are validated as sent: the shared validator coerces types (right for query strings and
 * path params, which are text; TypeBox still converts those), which in a body would read `true` as 1
 * or "true" and ["x"] as "x" (type confusion, found by test/fuzz). And a query integer must be written
 * as one: TypeBox's conversion would truncate "1.5" to 1.
 */
const validatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  const validate = withEmptyFastPath(route.httpPart, TypeBoxValidatorCompiler(route))
  const props = (route.schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {}
  const integers = route.httpPart === 'body' ? [] : Object.keys(props).filter((k) => props[k]!.type === 'integer')
  if (!integers.length) return validate
  return (value) => {
    const given = value as Record<string, unknown> | undefined
    const bad = integers.find((k) => typeof given?.[k] === 'string' && !/^-?\d{1,16}$/.test(given[k] as string))
    if (bad) return { error: [{ keyword: 'type', instancePath: `/${bad}`, schemaPath: '#', params: {}, message: 'must be integer' }] }
    return validate(value)
  }
}

/** JSON.parse reviver: a NUL character in a key or a string is bad input (PostgreSQL text cannot hold it). */
function refuseNul(key: string, value: unknown): unknown {
  if (key.includes('\0') || (typeof value === 'string' && value.includes('\0'))) {
    throw new AppError(400, 'INVALID_PARAMS', '请求体不能包含 NUL 字符')
  }
  return value
}

export async function buildApp(
  config: Readonly<MainConfig>,
  sql: Sql,
  overrides: { pay?: PayClient; /** key lookups' pool (db connect's `plans: 'generic'`); default `sql` */ lookups?: Sql } = {},
) {
  const app = createApp({
    name: 'main',
    sql,
    logLevel: config.logLevel,
    metricsToken: config.metricsToken,
    openapi: MAIN_OPENAPI,
    http: config.http,
    // The seed dialects answer in their own shapes (001: FastAPI's {detail}; 004: {error}; 002: {code: -1|-2, …}), the router's refusals
    // of their URLs included.
    errorShapes: [{ prefix: MINI_PROGRAM_BASE, body: (_status, detail) => ({ detail }) }, V1_ERROR_SHAPE, POINTS_SHOP_ERROR_SHAPE],
  })
  registerMainMetrics(app.metrics, { sql, log: app.log })

  app.setValidatorCompiler(validatorCompiler)
  // PostgreSQL text cannot hold NUL: refused here as bad input, not later as a database error (500).
  app.addHook('onRequest', (req, _reply, done) => {
    done(req.url.includes('%00') ? new AppError(400, 'INVALID_PARAMS', '请求不能包含 NUL 字符') : undefined)
  })

  // Keep the raw JSON text: signed service calls are verified over the exact bytes.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string
    req.rawBody = text
    if (text === '') return done(null, undefined)
    let parsed: unknown
    try {
      parsed = text.includes('\\u0000') ? JSON.parse(text, refuseNul) : JSON.parse(text)
    } catch (err) {
      return done(err instanceof AppError ? err : new AppError(400, 'INVALID_PARAMS', '请求体不是合法的 JSON'), undefined)
    }
    done(null, parsed)
  })

  const users = createUsersRepo(sql, overrides.lookups)
  const orders = createOrdersRepo(sql, overrides.lookups)
  const pay = overrides.pay ?? createPayClient({ baseUrl: config.payUrl, key: config.serviceKeys[0]!, timeoutMs: config.payTimeoutMs })
  const refunds = createRefundService({ sql, refunds: createRefundsRepo(sql), orders, pay, log: app.log })
  const payments = createPaymentsService({ orders, pay, log: app.log })
  const sweeper = createOrderSweeper({
    sql,
    orders,
    pay,
    refunds,
    sync: (order) => payments.sync(order),
    reconcileAfterS: config.reconcileAfterSeconds,
    refundRetryAfterS: config.refundRetryAfterSeconds,
    log: app.log,
  })
  const catalog = createCatalogRepo(sql, overrides.lookups)
  const ledger = createLedger(sql)
  const checkout = createCheckout({ config, users, catalog, orders, payments, refunds, pay })
  const deps: MainDeps = {
    config,
    users,
    accounts: createAccounts({ users }),
    catalog,
    catalogAdmin: createCatalogAdmin({ catalog }),
    orders,
    pay,
    payments,
    checkout,
    ledger,
    credits: createCreditsService({ users, ledger }),
    refunds,
    stats: createStats(sql),
    adminConsole: createAdminConsole(sql),
    nonces: createNonceStore(sql),
    sweeper,
    miniProgram: createMiniProgram({ miniapp: config.miniapp, sql, users, catalog, orders, checkout, payments }),
  }
  app.decorate('deps', deps)
  // After the HTTP server closed: the task runs in progress finish (they may still call pay), then pay's client closes.
  app.addHook('onClose', async () => {
    await sweeper.stop()
    if (!overrides.pay) await pay.close_()
  })

  // Rate limits per client IP on the routes worth abusing: credential guessing and order spam.
  const limited: Record<string, number> = {
    'POST /api/auth/login': config.rateLimitAuthPerMinute,
    'POST /api/auth/register': config.rateLimitAuthPerMinute,
    'POST /api/credits/purchase': config.rateLimitOrdersPerMinute,
    'POST /api/orders': config.rateLimitOrdersPerMinute,
    'POST /api/orders/create': config.rateLimitOrdersPerMinute,
    [`POST ${MINI_PROGRAM_BASE}${MINI_PROGRAM_LOGIN_ROUTE}`]: config.rateLimitAuthPerMinute,
    [`POST ${MINI_PROGRAM_BASE}/api/orders/create`]: config.rateLimitOrdersPerMinute,
  }
  app.addHook('onRoute', (route) => {
    const max = limited[`${route.method} ${route.url}`]
    if (max) route.config = { ...(route.config as object), rateLimit: { max, timeWindow: 60_000 } } as typeof route.config
  })
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, ctx) => new AppError(429, 'RATE_LIMITED', `请求过于频繁，请在 ${Math.ceil(ctx.ttl / 1000)} 秒后重试`),
  })
  await app.register(authPlugin, { secret: config.jwtSecret, expiresIn: config.jwtExpiresIn })
  await app.register(idempotencyPlugin, { sql })
  await app.register(authRoutes)
  await app.register(creditsRoutes)
  await app.register(ordersRoutes)
  await app.register(paymentMethodsRoutes)
  await app.register(catalogRoutes)
  await app.register(adminRoutes)
  // The seed documents' own APIs (dialects/README.md).
  await app.register(miniProgramRoutes, { prefix: MINI_PROGRAM_BASE })
  await app.register(v1PaymentRoutes, { prefix: V1_PREFIX })
  // Seed 002's own paths (/payment/*), a dialect over the checkout.
  await app.register(pointsShopRoutes, { prefix: POINTS_SHOP_PREFIX })
  await app.register(orderEventsRoutes, { sql, databaseUrl: config.databaseUrl, live: config.live, orders, users, metrics: app.metrics })
  return app
}
export type App = Awaited<ReturnType<typeof buildApp>>
