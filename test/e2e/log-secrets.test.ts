/**
 * No secret reaches a log: the whole stack (main, pay, the sandbox and web, as processes, at LOG_LEVEL=debug)
 * runs register, login (and a wrong password), purchases through Alipay (QR and the page form with its
 * browser return), WeChat Pay native, Epay and Stripe, a refund, /metrics with its token, and service calls with a
 * good and a bad signature; then the error paths: the provider answering 5xx and garbage (the sandbox's fault
 * control), notifies signed with the wrong key, and a second pay whose database goes away under it (its URL
 * holding a password). Every process's output is then searched for every secret those steps used or saw: passwords, JWTs,
 * the JWT secret, SERVICE_KEYS, private keys, the APIv3, Epay and Stripe keys, the Stripe webhook secret, bearer
 * tokens, the sign/signature values of notifies and returns, and every signature pay sent the provider — a
 * recording proxy between pay and the sandbox collects the WeChat `Authorization` signatures and the Alipay and
 * Epay request `sign` values as they went out.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import postgres from 'postgres'
import { freePort, startService } from '@paysys/devkit'
import { parseServiceKeys, signServiceRequest } from '../../packages/service-auth/src/index.ts'
import { http, parseForm, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: `Adm-${randomBytes(9).toString('base64url')}` }
const METRICS_TOKEN = `mt-${randomBytes(18).toString('base64url')}`
const debug = { LOG_LEVEL: 'debug', METRICS_TOKEN }

/** Every request pay sent the provider, recorded by a proxy in front of the sandbox. */
interface Outgoing {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}
const outgoing: Outgoing[] = []
let sandboxPort = 0 // known once the stack is up; pay calls the provider only when asked to
const proxy = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    outgoing.push({ method: req.method!, url: req.url!, headers: req.headers, body: body.toString() })
    if (!sandboxPort) return void res.writeHead(503).end('sandbox not started yet')
    const up = httpRequest({ host: '127.0.0.1', port: sandboxPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers)
      r.pipe(res)
    })
    up.on('error', (err) => res.writeHead(502).end(err.message))
    up.end(body)
  })
})
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
t.teardown(() => new Promise<void>((r) => proxy.close(() => r())))
const viaProxy = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`

const stack = await startStack({
  web: true,
  extra: {
    main: { ...debug, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password },
    pay: {
      ...debug,
      ALIPAY_GATEWAY: `${viaProxy}/gateway.do`,
      WECHAT_BASE_URL: viaProxy,
      EPAY_BASE_URL: `${viaProxy}/`,
      STRIPE_API_BASE: viaProxy,
    },
    sandbox: { LOG_LEVEL: 'debug' },
    web: debug,
  },
})
t.teardown(() => stack.stop())
sandboxPort = stack.services.sandbox.port
const { main, pay, sandbox, keys } = stack
const web = stack.web!.replace('//localhost:', '//127.0.0.1:')
const sandboxSql = postgres(stack.env.sandbox.DATABASE_URL!, { max: 1, onnotice: () => {} })
t.teardown(() => sandboxSql.end({ timeout: 5 }))

/** name → secret value; every value is searched for as written, URL-encoded and form-encoded. */
const secrets = new Map<string, string>()
const secret = (name: string, value: string | undefined | null) => {
  if (!value || value.length < 8) throw new Error(`secret ${name} is missing or too short to search for: ${JSON.stringify(value)}`)
  secrets.set(name, value)
}

/** Where `value` occurs in `text`, in any of the spellings a log line could hold it. */
function spellings(value: string): string[] {
  const forms = new Set([
    value,
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1),
  ])
  return [...forms]
}
function leaks(text: string, candidates: Map<string, string>): string[] {
  const found: string[] = []
  for (const [name, value] of candidates) {
    for (const s of spellings(value)) {
      const at = text.indexOf(s)
      if (at < 0) continue
      // Where it is, with the secret itself masked: enough to find the logging call.
      const context = `${text.slice(Math.max(0, at - 160), at)}<${name}>${text.slice(at + s.length, at + s.length + 80)}`
      found.push(`${name} in …${context.replace(/\s+/g, ' ')}…`)
      break
    }
  }
  return found
}
/** A distinctive 40-character slice from the middle of a PEM body (one base64 line, so no line break in it). */
function pemSlice(pem: string): string {
  const lines = pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{64}$/.test(l))
  const line = lines[Math.floor(lines.length / 2)]
  if (!line) throw new Error('not a PEM with 64-character lines')
  return line.slice(12, 52)
}

t.test('the search finds a secret in every spelling, and nothing where there is none', async (t) => {
  const probe = new Map([['probe', 'ab+c/d=e&f "g" 0123456789']])
  const v = probe.get('probe')!
  t.match(
    leaks(`{"msg":"x","url":"/a?sign=${encodeURIComponent(v)}"}`, probe),
    [/^probe in …\{"msg":"x","url":"\/a\?sign=<probe>"\}…$/],
    'URL-encoded',
  )
  t.match(
    leaks(`body: sign=${new URLSearchParams({ s: v }).toString().slice(2)}&x=1`, probe),
    [/^probe in …body: sign=<probe>&x=1…$/],
    'form-encoded',
  )
  t.match(leaks(JSON.stringify({ password: v }), probe), [/^probe in/], 'JSON-escaped')
  t.match(leaks(`raw ${v} here`, probe), [/^probe in …raw <probe> here…$/], 'as written')
  t.same(leaks('{"password":"[redacted]","sign":"[redacted]"}', probe), [], 'redacted')
  t.equal(pemSlice(keys.alipay.merchantPrivateKey).length, 40)
  t.ok(keys.alipay.merchantPrivateKey.includes(pemSlice(keys.alipay.merchantPrivateKey)))
})

// ---- configured secrets ---------------------------------------------------------------------------
secret('JWT_SECRET', keys.jwtSecret)
for (const k of parseServiceKeys(keys.serviceKeys)) secret(`SERVICE_KEYS ${k.id}`, k.secret)
secret('ALIPAY_PRIVATE_KEY (merchant)', pemSlice(keys.alipay.merchantPrivateKey))
secret('Alipay platform private key (sandbox)', pemSlice(keys.alipay.platformPrivateKey))
secret('WECHAT_PRIVATE_KEY (merchant)', pemSlice(keys.wechat.merchantPrivateKey))
secret('WeChat platform private key (sandbox)', pemSlice(keys.wechat.platformPrivateKey))
secret('WECHAT_APIV3_KEY', keys.wechat.apiV3Key)
secret('EPAY_KEY', keys.epay.key)
secret('STRIPE_SECRET_KEY', keys.stripe.secretKey)
secret('STRIPE_WEBHOOK_SECRET', keys.stripe.webhookSecret)
secret('METRICS_TOKEN', METRICS_TOKEN)
secret('ADMIN_PASSWORD', ADMIN.password)

const provider = (method: string) =>
  method === 'ALIPAY' ? 'alipay' : method === 'WECHAT_PAY' ? 'wechat' : method === 'BANK_CARD' ? 'stripe' : 'epay'

t.test('a full run of the stack', async (t) => {
  // Register and log in through web's /api proxy (web logs too), a wrong password, an admin login.
  const email = `logs-${Date.now()}@example.com`
  const password = `Pw-${randomBytes(12).toString('base64url')}`
  const wrong = `Wrong-${randomBytes(12).toString('base64url')}`
  secret('user password', password)
  secret('wrong password', wrong)
  const reg = await http(`${web}/api/auth/register`, { body: { email, password } })
  t.equal(reg.status, 200, reg.text)
  const login = await http(`${web}/api/auth/login`, { body: { email, password } })
  t.equal(login.status, 200, login.text)
  const token = login.json.data.token as string
  secret('JWT (register)', reg.json.data.token)
  secret('JWT (login)', token)
  secret('JWT signature', token.split('.')[2])
  t.equal((await http(`${main}/api/auth/login`, { body: { email, password: wrong } })).status, 401)
  t.equal((await http(`${web}/api/auth/login`, { body: { email, password: wrong } })).status, 401)
  const admin = await http(`${main}/api/auth/login`, { body: ADMIN })
  t.equal(admin.status, 200, admin.text)
  const adminToken = admin.json.data.token as string
  secret('JWT (admin)', adminToken)
  t.equal((await http(`${web}/api/credits/balance`, { token })).status, 200)
  t.equal((await http(`${main}/api/users/me`, { token: `${token}x` })).status, 401, 'a tampered token is refused')

  // Purchases: Alipay QR, WeChat native, Epay — paid at the sandbox, notified, credited.
  const paidOrders: { id: number; orderNo: string; method: string }[] = []
  for (const [method, channel] of [
    ['ALIPAY', 'qr'],
    ['WECHAT_PAY', 'native'],
    ['EPAY', 'alipay'],
    ['BANK_CARD', undefined],
  ] as const) {
    const res = await http(`${main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_500', paymentMethod: method, channel } })
    t.equal(res.status, 200, res.text)
    const { id, orderNo } = res.json.data
    const paid = await http(`${sandbox}/control/${provider(method)}/trades/${orderNo}/pay`, { body: {} })
    t.equal(paid.status, 200, paid.text)
    await until(`${method} order PAID`, async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID', 30_000)
    paidOrders.push({ id, orderNo, method })
  }

  // Alipay page: the browser form (signed) → sandbox gateway → cashier → return to pay (signed query).
  const page = await http(`${main}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'page' },
  })
  t.equal(page.status, 200, page.text)
  const form = parseForm(page.json.data.paymentInfo.formHtml, 'punchout_form')
  secret('Alipay page request sign', form.fields.sign ?? new URL(form.action).searchParams.get('sign'))
  const gw = await http(form.action, { method: form.method, form: form.fields })
  t.equal(gw.status, 302, gw.text.slice(0, 200))
  const cashierUrl = new URL(String(gw.headers.location), sandbox).toString()
  const cashier = await http(cashierUrl)
  const payAction = /<form[^>]*action=["']([^"']*\/pay)["']/i.exec(cashier.text)![1]!
  const done = await http(new URL(payAction, cashierUrl).toString(), { method: 'POST', form: {} })
  t.equal(done.status, 302)
  const returnUrl = new URL(String(done.headers.location))
  secret('Alipay return sign', returnUrl.searchParams.get('sign'))
  t.equal((await http(returnUrl.toString())).status, 302, 'the return redirects to the web app')

  // A refund through pay and the sandbox.
  const alipayQr = paidOrders[0]!
  const refund = await http(`${main}/api/admin/orders/${alipayQr.id}/refund`, {
    token: adminToken,
    body: { amount: 5, reason: '部分退款' },
  })
  t.equal(refund.status, 200, refund.text)
  t.match(refund.json.data, { refund: { status: 'SUCCEEDED' } })

  // /metrics with its bearer token.
  for (const base of [main, pay, web])
    t.equal((await http(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 200)

  // Service calls to pay: a good signature and a bad one.
  const [key] = parseServiceKeys(keys.serviceKeys)
  const good = signServiceRequest({ key: key!, method: 'GET', path: '/api/pay/methods' })
  secret('service signature (good)', good['x-svc-signature'])
  t.equal((await http(`${pay}/api/pay/methods`, { headers: good })).status, 200)
  const bad = {
    ...signServiceRequest({ key: key!, method: 'GET', path: '/api/pay/methods' }),
    'x-svc-signature': randomBytes(32).toString('base64url'),
  }
  secret('service signature (bad)', bad['x-svc-signature'])
  t.equal((await http(`${pay}/api/pay/methods`, { headers: bad })).status, 401)

  await until('a notify per provider', async () => {
    const rows = await stack.paySql`select provider from notify_log group by provider`
    return rows.length >= 4
  })
})

t.test('error and fault paths', async (t) => {
  const login = await http(`${main}/api/auth/login`, { body: ADMIN })
  const token = login.json.data.token as string
  const fault = async (provider: string, operation: string, mode: string) =>
    t.equal(
      (await http(`${sandbox}/control/faults`, { body: { provider, operation, mode } })).status,
      200,
      `${provider} ${operation}: ${mode}`,
    )

  // The provider answers 5xx (Alipay, WeChat) and garbage (Epay, Stripe) to a create: the buyer gets a 5xx, pay logs
  // the failure with the request it sent.
  for (const [method, channel, mode] of [
    ['ALIPAY', 'qr', '5xx'],
    ['WECHAT_PAY', 'native', '5xx'],
    ['EPAY', 'alipay', 'garbage'],
    ['BANK_CARD', undefined, '5xx'],
  ] as const) {
    await fault(provider(method), 'create', mode)
    const res = await http(`${main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_200', paymentMethod: method, channel } })
    t.ok(
      res.status === 502 || res.status === 503,
      `${method} create with the provider answering ${mode}: ${res.status} ${res.text.slice(0, 120)}`,
    )
  }
  // A refund the provider answers with a 5xx.
  await fault('alipay', 'refund', '5xx')
  const paid = await stack.mainSql<
    { id: number }[]
  >`select id from orders where status = 'PAID' and payment_provider = 'ALIPAY' order by id limit 1`
  const refund = await http(`${main}/api/admin/orders/${paid[0]!.id}/refund`, { token, body: { amount: 1, reason: '故障退款' } })
  t.ok(refund.status < 500 || refund.status === 502 || refund.status === 503, `refund with the provider answering 5xx: ${refund.status}`)
  t.equal((await http(`${sandbox}/control/faults`, { method: 'DELETE' })).status, 200, 'faults cleared')

  // Notifies signed with the wrong key, for a paid order of each provider (their signs are collected below).
  const orders = await stack.mainSql<{ order_no: string; payment_provider: string }[]>`
    select distinct on (payment_provider) order_no, payment_provider from orders where status in ('PAID', 'REFUNDED', 'PARTIALLY_REFUNDED') order by payment_provider, id`
  for (const o of orders) {
    const p = provider(o.payment_provider === 'STRIPE' ? 'BANK_CARD' : o.payment_provider)
    const res = await http(`${sandbox}/control/${p}/trades/${o.order_no}/notify`, {
      body: p === 'stripe' ? { wrongSecret: true } : { wrongKey: true },
    })
    t.equal(res.status, 200, `${p}: a notify signed with the wrong key was sent (${res.text.slice(0, 100)})`)
  }
  t.equal(orders.length, 4, 'a wrongly signed notify per provider')

  // A second pay whose database goes away under it: its DATABASE_URL (holding a password) leads through a TCP relay
  // to the stack's database, and the relay is shut — every new connection is then refused. Its requests and
  // background jobs fail and are logged.
  const dbPassword = `Db-${randomBytes(12).toString('base64url')}`
  secret('DATABASE_URL password', dbPassword)
  const target = new URL(stack.env.pay.DATABASE_URL!)
  const sockets = new Set<Socket>()
  const relay = createNetServer((c) => {
    const up = connect(Number(target.port || 5432), target.hostname)
    for (const s of [c, up]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    c.pipe(up).pipe(c)
  })
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
  const viaRelay = new URL(target)
  viaRelay.host = `127.0.0.1:${(relay.address() as AddressInfo).port}`
  viaRelay.password = dbPassword
  if (!viaRelay.username) viaRelay.username = 'postgres'
  const pay2 = await startService('pay', { ...stack.env.pay, PORT: String(await freePort()), DATABASE_URL: viaRelay.toString() })
  try {
    t.equal((await http(`${pay2.url}/readyz`)).status, 200, 'the second pay is up on its database')
    await new Promise<void>((r) => {
      relay.close(() => r())
      for (const s of sockets) s.destroy()
    })
    const status = `/api/pay/status/${orders[0]!.order_no}`
    const [key] = parseServiceKeys(keys.serviceKeys)
    const down = await http(`${pay2.url}${status}`, { headers: signServiceRequest({ key: key!, method: 'GET', path: status }) })
    t.ok(down.status >= 500, `a signed status call with the database down: ${down.status} ${down.text.slice(0, 120)}`)
    const ready = await http(`${pay2.url}/readyz`)
    t.equal(ready.status, 503, 'readyz reports the database down')
    await until('the second pay logged the refused connection', async () => /ECONNREFUSED|ECONNRESET|terminat/i.test(pay2.output()), 20_000)
  } finally {
    await pay2.kill()
  }
  dbDownOutput = pay2.output()
  t.match(dbDownOutput, /ECONNREFUSED|ECONNRESET|terminat/i, 'pay logged the refused database connection')
})

/** The output of the pay whose database went down (it never joined the stack's services). */
let dbDownOutput = ''

t.test('every signature pay sent the provider is a secret', async (t) => {
  const params = (o: Outgoing) => {
    const q = new URLSearchParams(o.url.includes('?') ? o.url.slice(o.url.indexOf('?') + 1) : '')
    if (/x-www-form-urlencoded/.test(String(o.headers['content-type']))) for (const [k, v] of new URLSearchParams(o.body)) q.append(k, v)
    return q
  }
  const count = { alipay: 0, epay: 0, wechat: 0, stripe: 0 }
  for (const o of outgoing) {
    const auth = String(o.headers.authorization ?? '')
    const wx = /^WECHATPAY2-SHA256-RSA2048 .*signature="([^"]+)"/.exec(auth)?.[1]
    if (wx) secret(`WeChat request Authorization signature #${++count.wechat}`, wx)
    if (auth === `Bearer ${keys.stripe.secretKey}` || o.headers['stripe-signature']) count.stripe++
    const sign = params(o).get('sign')
    if (sign && o.url.startsWith('/gateway.do')) secret(`Alipay request sign #${++count.alipay}`, sign)
    else if (sign) secret(`Epay request sign #${++count.epay}`, sign)
  }
  t.comment(
    `outgoing requests ${outgoing.length}: Alipay signs ${count.alipay}, Epay signs ${count.epay}, WeChat signatures ${count.wechat}, Stripe calls ${count.stripe}`,
  )
  for (const [p, n] of Object.entries(count)) t.ok(n > 0, `${p}: pay's signed requests went through the recording proxy (${n})`)

  // Every notify sign pay received (Alipay form, Epay query), failed and wrongly signed ones included, and every
  // WeChat and Stripe notify signature the sandbox sent.
  let signs = 0
  for (const n of await stack.paySql<{ provider: string; raw_body: string }[]>`select provider, raw_body from notify_log`) {
    const sign = new URLSearchParams(n.raw_body).get('sign')
    if (n.provider !== 'WECHAT_PAY' && n.provider !== 'STRIPE' && sign) secret(`${n.provider} notify sign #${++signs}`, sign)
  }
  let headerSigs = 0
  for (const d of await sandboxSql<{ headers: Record<string, string> }[]>`select headers from notify_deliveries`)
    for (const [k, v] of Object.entries(d.headers)) {
      if (k.toLowerCase() === 'wechatpay-signature') secret(`WeChat notify signature #${++headerSigs}`, v)
      const v1 = k.toLowerCase() === 'stripe-signature' ? /v1=([0-9a-f]+)/.exec(v)?.[1] : undefined
      if (v1) secret(`Stripe webhook signature #${++headerSigs}`, v1)
    }
  t.comment(`notify signs ${signs}, notify header signatures ${headerSigs}`)
  t.ok(signs > 0 && headerSigs > 0, 'notify signatures collected')
})

/** Resolves once no process has written for `quietMs` (at most `maxMs`); answers whether it went quiet. */
async function quiet(read: () => number, quietMs = 300, maxMs = 10_000): Promise<boolean> {
  const end = Date.now() + maxMs
  let last = read()
  let since = Date.now()
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50))
    const now = read()
    if (now !== last) [last, since] = [now, Date.now()]
    else if (Date.now() - since >= quietMs) return true
  }
  return false
}

t.test('no process logged any of them', async (t) => {
  // The services log asynchronously: wait until every output has been quiet for 300 ms (bounded).
  const wentQuiet = await quiet(() => Object.values(stack.services).reduce((n, s) => n + s.output().length, 0))
  t.comment(`outputs ${wentQuiet ? 'went quiet' : 'still moving after 10 s (searched as they are)'}`)
  const outputs = [
    ...Object.values(stack.services).map((s) => ({ name: s.name, text: s.output() })),
    { name: 'pay (database gone)', text: dbDownOutput },
  ]
  const lines = outputs.reduce((n, o) => n + o.text.split('\n').length, 0)
  t.ok(lines > 50, `the services did log (${lines} lines)`)
  // startService keeps the first 2 MB of a process's output: all of it must have been kept to be searched.
  for (const o of outputs) t.ok(o.text.length < 1_900_000, `${o.name}: the whole output was kept (${o.text.length} characters)`)
  const found: string[] = []
  for (const o of outputs) for (const leak of leaks(o.text, secrets)) found.push(`${o.name}: ${leak}`)
  t.comment(`secrets checked ${secrets.size}, leaks ${found.length}`)
  t.same(found, [], 'no secret in any log')
})
