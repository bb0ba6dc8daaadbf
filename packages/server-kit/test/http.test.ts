import t from 'tap'
import { API_CSP, createApp, PAGE_CSP, redactUrl, type HttpOptions } from '../src/index.ts'

async function app(http?: HttpOptions, pageCsp?: string) {
  const a = createApp({ name: 'test', logLevel: 'silent', ...(http ? { http } : {}), ...(pageCsp ? { pageCsp } : {}) })
  a.get('/api/me', async () => ({ email: 'a@example.com' }))
  a.get('/page', async (_req, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><p>hi</p>'))
  a.get('/own', async (_req, reply) =>
    reply.header('content-security-policy', "default-src 'self'").header('cache-control', 'max-age=60').send({ ok: true }),
  )
  a.get('/cached', async (_req, reply) => reply.code(304).send())
  a.get('/ip', async (req) => ({ ip: req.ip, protocol: req.protocol }))
  await a.ready()
  t.teardown(() => a.close())
  return a
}

t.test('every answer carries the security headers; JSON answers are not stored', async (t) => {
  const a = await app()
  for (const url of ['/api/me', '/api/nothing', '/healthz', '/page']) {
    const res = await a.inject({ method: 'GET', url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.equal(res.headers['x-frame-options'], 'DENY', url)
    t.equal(res.headers['referrer-policy'], 'no-referrer', url)
    t.equal(res.headers['cross-origin-resource-policy'], 'same-site', url)
    t.notOk(res.headers['strict-transport-security'], `${url}: no HSTS unless configured`)
  }
  const json = await a.inject({ method: 'GET', url: '/api/me' })
  t.equal(json.headers['content-security-policy'], API_CSP)
  t.equal(json.headers['cache-control'], 'no-store')
  t.equal((await a.inject({ method: 'GET', url: '/api/nothing' })).headers['cache-control'], 'no-store', 'a 404 envelope too')
  const page = await a.inject({ method: 'GET', url: '/page' })
  t.equal(page.headers['content-security-policy'], PAGE_CSP, 'pages get the page policy')
  t.notOk(page.headers['cache-control'], 'pages outside /api decide their own caching')
  const notModified = await a.inject({ method: 'GET', url: '/cached' })
  t.equal(notModified.statusCode, 304)
  t.notOk(notModified.headers['content-security-policy'], 'a 304 keeps the CSP of the cached page (its headers replace the stored ones)')
  t.equal(notModified.headers['x-frame-options'], 'DENY')
})

t.test('a route that sets its own CSP or caching keeps it; an app may set its page CSP', async (t) => {
  const own = await (await app()).inject({ method: 'GET', url: '/own' })
  t.equal(own.headers['content-security-policy'], "default-src 'self'")
  t.equal(own.headers['cache-control'], 'max-age=60')
  const page = await (await app(undefined, "default-src 'none'")).inject({ method: 'GET', url: '/page' })
  t.equal(page.headers['content-security-policy'], "default-src 'none'")
})

t.test('HSTS only when configured', async (t) => {
  const res = await (await app({ hstsMaxAge: 31_536_000 })).inject({ method: 'GET', url: '/healthz' })
  t.equal(res.headers['strict-transport-security'], 'max-age=31536000')
})

t.test('trustProxy: off by default; true, a hop count, or addresses decide whose X-Forwarded-For counts', async (t) => {
  const ask = async (a: Awaited<ReturnType<typeof app>>, remoteAddress: string, xff: string) =>
    (await a.inject({ method: 'GET', url: '/ip', remoteAddress, headers: { 'x-forwarded-for': xff, 'x-forwarded-proto': 'https' } })).json()
  t.same(await ask(await app(), '10.0.0.2', '198.51.100.1'), { ip: '10.0.0.2', protocol: 'http' }, 'default: the peer')
  t.same(await ask(await app({ trustProxy: false }), '10.0.0.2', '198.51.100.1'), { ip: '10.0.0.2', protocol: 'http' })
  t.same(await ask(await app({ trustProxy: true }), '10.0.0.2', '6.6.6.6, 198.51.100.1'), { ip: '6.6.6.6', protocol: 'https' })
  const oneHop = await app({ trustProxy: 1 })
  t.same(await ask(oneHop, '10.0.0.2', '6.6.6.6, 198.51.100.1'), { ip: '198.51.100.1', protocol: 'https' }, 'the entry the proxy added')
  const twoHops = await app({ trustProxy: 2 })
  t.same(await ask(twoHops, '10.0.0.2', '6.6.6.6, 198.51.100.1, 172.18.0.1'), { ip: '198.51.100.1', protocol: 'https' })
  const cidr = await app({ trustProxy: ['10.0.0.0/8'] })
  t.same(await ask(cidr, '10.0.0.2', '6.6.6.6, 198.51.100.1'), { ip: '198.51.100.1', protocol: 'https' }, 'from a trusted proxy')
  t.same(await ask(cidr, '192.0.2.5', '198.51.100.1'), { ip: '192.0.2.5', protocol: 'http' }, 'from anyone else: the peer')
})

t.test('logged URLs keep their shape, without secret query values', async (t) => {
  t.equal(redactUrl('/api/orders/12'), '/api/orders/12')
  t.equal(
    redactUrl('/api/pay/return?out_trade_no=P1&sign=abc%2Bdef&sign_type=RSA2'),
    '/api/pay/return?out_trade_no=P1&sign=[redacted]&sign_type=RSA2',
  )
  t.equal(redactUrl('/api.php?act=order&pid=1001&key=K3y&out_trade_no=P1'), '/api.php?act=order&pid=1001&key=[redacted]&out_trade_no=P1')
  t.equal(
    redactUrl('/x?Token=t&password=p&SIGNATURE=s&paySign=q#frag'),
    '/x?Token=[redacted]&password=[redacted]&SIGNATURE=[redacted]&paySign=[redacted]#frag',
  )
  t.equal(redactUrl('/x?signer=me&monkey=1&sign_type=MD5'), '/x?signer=me&monkey=1&sign_type=MD5', 'only those names')
})
