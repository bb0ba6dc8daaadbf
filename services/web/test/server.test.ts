/** The web server on its own: the /api proxy to main, static files, the SPA fallback, config. */
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError } from '@paysys/config'
import { buildApp, PUBLIC_DIR, UPLOT_DIR } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}
const seen: Seen[] = []
const fakeMain = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString()
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
    if (req.url === '/api/slow') return void setTimeout(() => res.end('late'), 2000)
    if (req.url === '/api/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16 * 1024, i))
      return void res.end()
    }
    if (req.url?.startsWith('/api/missing')) {
      res.writeHead(404, { 'content-type': 'application/json' })
      return void res.end(JSON.stringify({ code: 404, error: 'NOT_FOUND', message: '未找到', data: null }))
    }
    res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'x-from-main': 'yes', connection: 'keep-alive' })
    res.end(JSON.stringify({ code: 200, message: 'ok', data: { echo: body }, timestamp: 0 }))
  })
})
await new Promise<void>((r) => fakeMain.listen(0, '127.0.0.1', r))
t.teardown(() => new Promise<void>((r) => fakeMain.close(() => r())))
const mainUrl = `http://127.0.0.1:${(fakeMain.address() as { port: number }).port}`

const app = await buildApp(
  loadConfig({ MAIN_URL: mainUrl, LOG_LEVEL: 'silent', PROXY_TIMEOUT_MS: '500', SANDBOX_URL: 'http://localhost:8090' }),
)
t.teardown(() => app.close())

t.test('GET is proxied with its query, Authorization and forwarding headers; the answer comes back as is', async (t) => {
  seen.length = 0
  const res = await app.inject({
    method: 'GET',
    url: '/api/orders?page=1&size=10',
    headers: { authorization: 'Bearer abc.def', 'x-forwarded-for': '10.0.0.9', connection: 'upgrade', upgrade: 'websocket' },
  })
  t.equal(res.statusCode, 201)
  t.equal(res.headers['x-from-main'], 'yes')
  t.match(res.headers['content-type'], 'application/json')
  t.same(res.json().data, { echo: '' })
  const s = seen[0]!
  t.equal(s.method, 'GET')
  t.equal(s.url, '/api/orders?page=1&size=10')
  t.equal(s.headers.authorization, 'Bearer abc.def')
  t.match(s.headers['x-forwarded-for'], /^10\.0\.0\.9, /)
  t.ok(s.headers['x-request-id'], 'request id passed on')
  t.notOk(s.headers.upgrade, 'hop-by-hop headers are not forwarded')
})

t.test("seed 002's /payment/* is proxied like /api/* (a points-shop frontend on this origin)", async (t) => {
  seen.length = 0
  const body = '{"amount":10,"points":200,"payment_type":"alipay"}'
  const res = await app.inject({
    method: 'POST',
    url: '/payment/create-order',
    headers: { authorization: 'Bearer abc.def', 'content-type': 'application/json' },
    payload: body,
  })
  t.equal(res.statusCode, 201)
  t.match(seen[0], { method: 'POST', url: '/payment/create-order', body, headers: { authorization: 'Bearer abc.def' } })
  const order = await app.inject({ method: 'GET', url: '/payment/order/P20240101000000AAAAAAAAAAAA?sync=true' })
  t.equal(order.statusCode, 201, 'not the SPA page')
  t.equal(seen[1]!.url, '/payment/order/P20240101000000AAAAAAAAAAAA?sync=true')
})

t.test('POST bodies reach main byte for byte, whatever their type, with Idempotency-Key', async (t) => {
  seen.length = 0
  const json = '{"packageCode":"CREDITS_500","paymentMethod":"ALIPAY","note":"中文"}'
  const res = await app.inject({
    method: 'POST',
    url: '/api/credits/purchase',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
    payload: json,
  })
  t.equal(res.statusCode, 201)
  t.equal(seen[0]!.body, json)
  t.equal(seen[0]!.headers['content-type'], 'application/json')
  t.equal(seen[0]!.headers['idempotency-key'], 'k-1')
  const form = await app.inject({
    method: 'POST',
    url: '/api/pay/notify',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'a=1&b=%E4%B8%AD',
  })
  t.equal(form.statusCode, 201)
  t.equal(seen[1]!.body, 'a=1&b=%E4%B8%AD')
  for (const method of ['PATCH', 'DELETE', 'PUT'] as const) {
    const r = await app.inject({ method, url: '/api/users/me', headers: { 'content-type': 'application/json' }, payload: '{"name":"x"}' })
    t.equal(r.statusCode, 201, method)
  }
  t.same(
    seen.slice(2).map((s) => [s.method, s.body]),
    [
      ['PATCH', '{"name":"x"}'],
      ['DELETE', '{"name":"x"}'],
      ['PUT', '{"name":"x"}'],
    ],
  )
  const empty = await app.inject({ method: 'POST', url: '/api/orders/1/alipay', headers: { 'content-type': 'application/json' } })
  t.equal(empty.statusCode, 201, 'an empty JSON POST is passed on too')
})

t.test("the seed dialects' paths reach main too: 004's /api/v1/* and 002's /payment/*, with token, query and body", async (t) => {
  seen.length = 0
  const calls: [string, string, string?][] = [
    ['POST', '/api/v1/payment/create', '{"order_id":"P1","payment_method":"alipay"}'],
    ['GET', '/api/v1/payment/P1/status'],
    ['DELETE', '/api/v1/payment/P1'],
    ['POST', '/payment/create-order', '{"amount":25,"points":500,"payment_type":"alipay"}'],
    ['POST', '/payment/get-pay-url', '{"order_no":"P1","method":"web","device":"pc"}'],
    ['GET', '/payment/order/P1?sync=true'],
  ]
  for (const [method, url, payload] of calls) {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: 'Bearer t.k.n', ...(payload ? { 'content-type': 'application/json' } : {}) },
      payload,
    })
    t.equal(res.statusCode, 201, `${method} ${url} answered by main`)
    t.equal(res.headers['x-from-main'], 'yes')
  }
  t.same(
    seen.map((s) => [s.method, s.url, s.body, s.headers.authorization]),
    calls.map(([method, url, payload]) => [method, url, payload ?? '', 'Bearer t.k.n']),
  )
  // Only the prefixes: a page of the app named like them is still the app.
  const page = await app.inject({ method: 'GET', url: '/payments' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], 'text/html')
  t.equal(seen.length, calls.length, 'not forwarded')
})

t.test("main's errors pass through; large answers stream", async (t) => {
  const missing = await app.inject({ method: 'GET', url: '/api/missing/1' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'NOT_FOUND')
  const big = await app.inject({ method: 'GET', url: '/api/big' })
  t.equal(big.statusCode, 200)
  t.equal(big.rawPayload.length, 64 * 16 * 1024)
  t.equal(big.rawPayload[16 * 1024 * 3], 3)
})

t.test('main unreachable → 502, too slow → 504, with the envelope and a Chinese message', async (t) => {
  const down = await buildApp(loadConfig({ MAIN_URL: 'http://127.0.0.1:1', LOG_LEVEL: 'silent' }))
  t.teardown(() => down.close())
  const r = await down.inject({ method: 'GET', url: '/api/credits/packages' })
  t.equal(r.statusCode, 502)
  t.match(r.json(), { code: 502, error: 'SERVICE_UNAVAILABLE', message: /主服务/ })
  const slow = await app.inject({ method: 'GET', url: '/api/slow' })
  t.equal(slow.statusCode, 504)
  t.match(slow.json(), { code: 504, error: 'SERVICE_UNAVAILABLE' })
})

t.test('static files, the SPA fallback for pages, 404 for missing files, health', async (t) => {
  const index = readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8')
  for (const path of [
    '/',
    '/order/123',
    '/order/unknown?error=ORDER_NOT_FOUND',
    '/orders?page=2',
    '/checkout?package=CREDITS_500',
    '/login',
  ]) {
    const r = await app.inject({ method: 'GET', url: path })
    t.equal(r.statusCode, 200, path)
    t.match(r.headers['content-type'], 'text/html', path)
    t.equal(r.body, index, `${path} → index.html`)
    t.match(r.headers['content-security-policy'], "form-action 'self' http: https:", 'the provider form may post to the gateway')
  }
  const js = await app.inject({ method: 'GET', url: '/js/main.js' })
  t.equal(js.statusCode, 200)
  t.match(js.headers['content-type'], 'javascript')
  for (const path of ['/js/nope.js', '/favicon.ico', '/../package.json', '/%2e%2e/src/app.ts']) {
    const r = await app.inject({ method: 'GET', url: path })
    t.equal(r.statusCode, 404, path)
  }
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const cfg = await app.inject({ method: 'GET', url: '/app-config.json' })
  t.same(cfg.json(), { sandboxUrl: 'http://localhost:8090' })
})

t.test('every module the browser imports exists (no build step to catch a typo)', async (t) => {
  const files = (readdirSync(join(PUBLIC_DIR, 'js'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js'))
  t.ok(files.length >= 8)
  for (const f of files) {
    const abs = join(PUBLIC_DIR, 'js', f)
    for (const m of readFileSync(abs, 'utf8').matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      // The console's charting library is served from node_modules (see the /vendor test below).
      const target = m[1]!.startsWith('/vendor/uplot/')
        ? join(UPLOT_DIR, m[1]!.slice('/vendor/uplot/'.length))
        : resolve(dirname(abs), m[1]!)
      t.ok(existsSync(target), `${f} imports ${m[1]}`)
    }
  }
  const html = readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8')
  for (const m of html.matchAll(/(?:src|href)="(\/[^"]+)"/g)) t.ok(existsSync(join(PUBLIC_DIR, m[1]!)), `index.html → ${m[1]}`)
  t.notMatch(
    html + files.map((f) => readFileSync(join(PUBLIC_DIR, 'js', f), 'utf8')).join(''),
    /https?:\/\/(?!localhost)[a-z]/i,
    'nothing fetched from the internet',
  )
})

t.test('the operator console: its own page at /admin…, uPlot from node_modules and nothing else from there', async (t) => {
  const shell = readFileSync(join(PUBLIC_DIR, 'admin.html'), 'utf8')
  for (const path of ['/admin', '/admin/', '/admin/orders', '/admin/orders/12?x=1', '/admin/reconciliations/3']) {
    const r = await app.inject({ method: 'GET', url: path })
    t.equal(r.statusCode, 200, path)
    t.equal(r.body, shell, `${path} → admin.html`)
    t.match(r.headers['content-security-policy'], "script-src 'self'", path)
  }
  t.equal((await app.inject({ method: 'GET', url: '/admin/nope.js' })).statusCode, 404)
  for (const m of shell.matchAll(/(?:src|href)="(\/[^"]+)"/g)) {
    const path = m[1]!
    const r = await app.inject({ method: 'GET', url: path })
    t.equal(r.statusCode, 200, `admin.html → ${path}`)
  }
  const lib = await app.inject({ method: 'GET', url: '/vendor/uplot/uPlot.esm.js' })
  t.equal(lib.statusCode, 200)
  t.match(lib.headers['content-type'], 'javascript')
  t.match(lib.body, 'export')
  for (const path of ['/vendor/uplot/uPlot.cjs.js', '/vendor/uplot/../package.json', '/vendor/uplot/uPlot.d.ts', '/vendor/other/x.js']) {
    t.equal((await app.inject({ method: 'GET', url: path })).statusCode, 404, path)
  }
})

t.test('configuration is validated', async (t) => {
  t.match(loadConfig({}), { port: 3000, host: '0.0.0.0', mainUrl: 'http://127.0.0.1:8080' })
  t.throws(() => loadConfig({ MAIN_URL: 'ftp://x', PORT: '99999' }), ConfigError)
  t.throws(() => loadConfig({ MAIN_URL: 'nope' }), { name: 'ConfigError', message: /MAIN_URL must be an http\(s\) URL/ })
})
