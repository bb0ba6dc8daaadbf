/**
 * Observability of main: GET /metrics (HTTP latency by route pattern, orders by status read at
 * scrape time, METRICS_TOKEN), the request id forwarded to pay on every call, and /readyz
 * answering 503 while the database is unreachable.
 */
import t from 'tap'
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { connect as tcpConnect, createServer as createTcpServer, type Server, type Socket } from 'node:net'
import { connect } from '@paysys/db'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { bearer, giveCredits, registerUser, startMain } from './helpers.ts'
import { PAY_METHODS } from './pay-methods-fixture.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app, sql } = main
const [goods] = await sql<{ id: number }[]>`select id from products where sku = 'GOODS_GIFT_BOX'`

type InjectApp = typeof app

/** The value of one sample in Prometheus text format; `labels` must all match. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return undefined
}

async function scrape(a: InjectApp = app, headers: Record<string, string> = {}) {
  const res = await a.inject({ method: 'GET', url: '/metrics', headers })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${res.body}`)
  return res.body
}

t.test('GET /metrics: Prometheus text with process metrics, the HTTP histogram and every order status', async (t) => {
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = res.body
  const cpu = sample(text, 'process_cpu_user_seconds_total')
  t.type(cpu, 'number', 'default process metrics')
  // prom-client counts CPU from the registry's creation, so a first scrape may read 0 s on a busy machine:
  // spend a known 20 ms of user CPU here and require the next scrape to have counted it.
  const start = process.cpuUsage().user
  const deadline = Date.now() + 5000
  while (process.cpuUsage().user - start < 20_000 && Date.now() < deadline) Math.sqrt(Math.random())
  const spent = (process.cpuUsage().user - start) / 1e6
  const cpu2 = sample(await scrape(), 'process_cpu_user_seconds_total')!
  t.ok(cpu2 - cpu! >= spent - 1e-6, `the CPU counter counted the ${spent} s spent between two scrapes (${cpu} s → ${cpu2} s)`)
  t.ok(sample(text, 'nodejs_heap_size_used_bytes')! > 0)
  t.match(text, '# TYPE paysys_http_request_duration_seconds histogram')
  t.match(text, '# TYPE paysys_orders gauge')
  for (const status of ['PENDING_PAYMENT', 'PAID', 'CANCELLED', 'EXPIRED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED'])
    t.equal(sample(text, 'paysys_orders', { status }), 0, `${status} is reported, at 0 on a fresh database`)
})

t.test('paysys_orders follows creation, cancellation and payment (read from the database at scrape time)', async (t) => {
  const { token, userId } = await registerUser(app, 'metrics-orders@example.com')
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, headers: bearer(token), payload })
  const before = await scrape()
  const a = await post('/api/orders', { packageCode: 'CREDITS_500' })
  t.equal(a.statusCode, 200, a.body)
  const b = await post('/api/orders', { productId: goods!.id, deliveryMethod: 'pickup' })
  t.equal(b.statusCode, 200, b.body)
  const mid = await scrape()
  t.equal(sample(mid, 'paysys_orders', { status: 'PENDING_PAYMENT' })! - sample(before, 'paysys_orders', { status: 'PENDING_PAYMENT' })!, 2)

  t.equal((await post(`/api/orders/${a.json().data.id}/cancel`, {})).statusCode, 200)
  await giveCredits(sql, userId, 5000)
  const paid = await post(`/api/orders/${b.json().data.id}/pay`, { method: 'CREDITS' })
  t.equal(paid.statusCode, 200, paid.body)
  const after = await scrape()
  const delta = (status: string) => sample(after, 'paysys_orders', { status })! - sample(before, 'paysys_orders', { status })!
  t.equal(delta('PENDING_PAYMENT'), 0)
  t.equal(delta('CANCELLED'), 1)
  t.equal(delta('PAID'), 1)
  const [db] = await sql<{ n: number }[]>`select count(*)::int as n from orders where status = 'PAID'`
  t.equal(sample(after, 'paysys_orders', { status: 'PAID' }), db!.n, 'the gauge is the database count')
})

t.test('the HTTP histogram is labelled by route pattern and status, never by the raw URL', async (t) => {
  const { token } = await registerUser(app, 'metrics-routes@example.com')
  const labels = { method: 'GET', route: '/api/orders/:id', status_code: '404' }
  const before = sample(await scrape(), 'paysys_http_request_duration_seconds_count', labels) ?? 0
  for (const id of [987654, 987655, 987656]) {
    const res = await app.inject({ method: 'GET', url: `/api/orders/${id}`, headers: bearer(token) })
    t.equal(res.json().error, 'ORDER_NOT_FOUND')
  }
  t.equal((await app.inject('/no/such/path/12345')).statusCode, 404)
  const text = await scrape()
  t.equal(sample(text, 'paysys_http_request_duration_seconds_count', labels), before + 3, 'three requests, one series')
  t.ok(sample(text, 'paysys_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })! >= 3)
  t.ok(sample(text, 'paysys_http_request_duration_seconds_sum', labels)! > 0)
  t.ok(sample(text, 'paysys_http_request_duration_seconds_count', { route: 'UNMATCHED', status_code: '404' })! >= 1)
  t.notMatch(text, '987654', 'no id in any label')
  t.notMatch(text, '/no/such/path')
})

t.test('METRICS_TOKEN: /metrics wants the bearer token; without one configured it is open', async (t) => {
  const token = 'metrics-token-0123456789abcdef'
  const guarded = await buildApp({ ...main.config, metricsToken: token }, sql)
  t.teardown(() => guarded.close())
  const none = await guarded.inject('/metrics')
  t.equal(none.statusCode, 401)
  t.match(none.json(), { code: 401, error: 'UNAUTHORIZED' })
  t.match(none.headers['www-authenticate'], /^Bearer/)
  t.notMatch(none.body, 'paysys_orders')
  const wrong = await guarded.inject({ url: '/metrics', headers: bearer(`${token}x`) })
  t.equal(wrong.statusCode, 401)
  t.equal((await guarded.inject({ url: '/metrics', headers: { authorization: token } })).statusCode, 401, 'Bearer scheme required')
  const right = await scrape(guarded, bearer(token))
  const [paidRows] = await sql<{ n: number }[]>`select count(*)::int as n from orders where status = 'PAID'`
  t.equal(sample(right, 'paysys_orders', { status: 'PAID' }), paidRows!.n, 'the full figures, behind the token')
  t.equal((await guarded.inject('/healthz')).statusCode, 200, 'only /metrics is guarded')

  const env = { DATABASE_URL: main.config.databaseUrl, SERVICE_KEYS: 'k:secret-0123456789abcdef' }
  t.equal(loadConfig({ ...env, METRICS_TOKEN: token }).metricsToken, token)
  t.notOk('metricsToken' in loadConfig(env), 'unset: no token, /metrics open')
  t.throws(() => loadConfig({ ...env, METRICS_TOKEN: 'short' }), /METRICS_TOKEN must be at least 16 characters/)
})

t.test('main sends its request id to pay as x-request-id on every call, and echoes it', async (t) => {
  // A stand-in pay over real HTTP: records each call's request id and answers like pay.
  const calls: { method: string; url: string; requestId: string | undefined }[] = []
  const payServer = createHttpServer((req: IncomingMessage, res) => {
    req.resume()
    req.on('end', () => {
      calls.push({ method: req.method!, url: req.url!, requestId: req.headers['x-request-id'] as string | undefined })
      const data = req.url === '/api/pay/methods' ? PAY_METHODS.slice(0, 1) : createdFor(req.url!)
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 200, message: 'ok', data, timestamp: Date.now() }))
    })
  })
  let lastOrderNo = ''
  const createdFor = (url: string) =>
    url === '/api/pay/create'
      ? {
          paymentId: '00000000-0000-4000-8000-000000000001',
          orderNo: lastOrderNo,
          outTradeNo: lastOrderNo,
          method: 'ALIPAY',
          channel: 'page',
          payType: 'form',
          amount: 2500,
          formHtml: '<form name="punchout_form"></form>',
          expireAt: null,
        }
      : {
          orderNo: lastOrderNo,
          outTradeNo: lastOrderNo,
          status: 'CLOSED',
          paidAt: null,
          tradeNo: null,
          amount: 2500,
          method: 'ALIPAY',
          channel: 'page',
        }
  await new Promise<void>((r) => payServer.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => payServer.close(() => r())))
  const withPay = await buildApp({ ...main.config, payUrl: `http://127.0.0.1:${(payServer.address() as { port: number }).port}` }, sql)
  t.teardown(() => withPay.close())

  const { token } = await registerUser(withPay, 'metrics-rid@example.com')
  const order = (
    await withPay.inject({ method: 'POST', url: '/api/orders', headers: bearer(token), payload: { packageCode: 'CREDITS_500' } })
  ).json().data
  lastOrderNo = order.orderNo
  const rid = (n: number) => `rid-main-test-${n}`
  const pay = await withPay.inject({
    method: 'POST',
    url: `/api/orders/${order.id}/pay`,
    headers: { ...bearer(token), 'x-request-id': rid(1) },
    payload: { method: 'ALIPAY', channel: 'page' },
  })
  t.equal(pay.statusCode, 200, pay.body)
  t.equal(pay.headers['x-request-id'], rid(1), 'main used the incoming id as its request id')
  const status = await withPay.inject({
    url: `/api/orders/${order.id}/payment-status`,
    headers: { ...bearer(token), 'x-request-id': rid(2) },
  })
  t.equal(status.statusCode, 200, status.body)
  const cancel = await withPay.inject({
    method: 'POST',
    url: `/api/orders/${order.id}/cancel`,
    headers: { ...bearer(token), 'x-request-id': rid(3) },
    payload: {},
  })
  t.equal(cancel.statusCode, 200, cancel.body)

  t.same(
    calls.map((c) => `${c.method} ${c.url} ${c.requestId}`),
    [
      `GET /api/pay/methods ${rid(1)}`,
      `POST /api/pay/create ${rid(1)}`,
      `GET /api/pay/status/${order.orderNo} ${rid(2)}`,
      `POST /api/pay/close/${order.orderNo} ${rid(3)}`,
    ],
  )
  const generated = await withPay.inject({ url: '/healthz', headers: { 'x-request-id': 'not a valid id!' } })
  t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a malformed incoming id is replaced, never logged as is')
})

/** A TCP proxy to PostgreSQL that the test can cut (the shared server itself is never touched). */
async function startCuttableProxy(target: { host: string; port: number }, port = 0) {
  const sockets = new Set<Socket>()
  const server: Server = createTcpServer((client) => {
    const upstream = tcpConnect(target.port, target.host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  return {
    port: (server.address() as { port: number }).port,
    /** Stops listening and breaks every open connection. */
    cut: () =>
      new Promise<void>((r) => {
        server.close(() => r())
        for (const s of sockets) s.destroy()
      }),
  }
}

t.test('/readyz answers 503 while the database is unreachable, and 200 again once it is back', async (t) => {
  const db = new URL(main.config.databaseUrl)
  const target = { host: db.hostname, port: Number(db.port || 5432) }
  let proxy = await startCuttableProxy(target)
  const viaProxy = new URL(db)
  viaProxy.host = `127.0.0.1:${proxy.port}`
  const proxiedSql = connect(viaProxy.toString())
  const proxied = await buildApp(main.config, proxiedSql)
  t.teardown(async () => {
    await proxied.close()
    await proxy.cut()
    await proxiedSql.end({ timeout: 1 })
  })

  const up = await proxied.inject('/readyz')
  t.equal(up.statusCode, 200, up.body)
  t.same(up.json(), { status: 'ok', database: 'up' })
  const [paidRows] = await sql<{ n: number }[]>`select count(*)::int as n from orders where status = 'PAID'`
  t.equal(sample(await scrape(proxied), 'paysys_orders', { status: 'PAID' }), paidRows!.n, 'figures read through the proxy')

  await proxy.cut()
  const down = await proxied.inject('/readyz')
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'unavailable', database: 'down' })
  t.equal((await proxied.inject('/healthz')).statusCode, 200, 'alive, only not ready')
  const text = await scrape(proxied)
  t.equal(sample(text, 'paysys_orders', { status: 'PAID' }), undefined, 'no stale order figures while the database is away')
  t.ok(
    sample(text, 'paysys_http_request_duration_seconds_count', { route: '/readyz', status_code: '503' })! >= 1,
    '/metrics itself still answers',
  )

  proxy = await startCuttableProxy(target, proxy.port)
  const back = await proxied.inject('/readyz')
  t.equal(back.statusCode, 200, back.body)
})
