/**
 * No secret reaches a log: the whole stack (main, pay, the sandbox and web, as processes, at LOG_LEVEL=debug)
 * runs register, login (and a wrong password), purchases through Alipay (QR and the page form with its
 * browser return), WeChat Pay native and Epay, a refund, /metrics with its token, and service calls with a
 * good and a bad signature; then every process's output is searched for every secret those steps used or
 * saw: passwords, JWTs, the JWT secret, SERVICE_KEYS, private keys, the APIv3 and Epay keys, bearer
 * tokens, and the sign/signature values of requests, notifies and returns.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { parseServiceKeys, signServiceRequest } from '../../packages/service-auth/src/index.ts'
import { http, parseForm, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: `Adm-${randomBytes(9).toString('base64url')}` }
const METRICS_TOKEN = `mt-${randomBytes(18).toString('base64url')}`
const debug = { LOG_LEVEL: 'debug', METRICS_TOKEN }
const stack = await startStack({
  web: true,
  extra: {
    main: { ...debug, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password },
    pay: debug,
    sandbox: { LOG_LEVEL: 'debug' },
    web: debug,
  },
})
t.teardown(() => stack.stop())
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
secret('METRICS_TOKEN', METRICS_TOKEN)
secret('ADMIN_PASSWORD', ADMIN.password)

const provider = (method: string) => (method === 'ALIPAY' ? 'alipay' : method === 'WECHAT_PAY' ? 'wechat' : 'epay')

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

  // Every notify sign pay received (Alipay form, Epay query) and every WeChat notify signature the sandbox sent.
  await until('a notify per provider', async () => {
    const rows = await stack.paySql`select provider from notify_log group by provider`
    return rows.length >= 3
  })
  const notifies = await stack.paySql<{ provider: string; raw_body: string }[]>`select provider, raw_body from notify_log`
  let signs = 0
  for (const n of notifies) {
    const sign = new URLSearchParams(n.raw_body).get('sign')
    if (n.provider !== 'WECHAT_PAY' && sign) secret(`${n.provider} notify sign #${++signs}`, sign)
  }
  t.ok(signs >= 2, `Alipay and Epay notify signs collected (${signs})`)
  const deliveries = await sandboxSql<{ headers: Record<string, string> }[]>`select headers from notify_deliveries`
  let wechatSigs = 0
  for (const d of deliveries) {
    const sig = Object.entries(d.headers).find(([k]) => k.toLowerCase() === 'wechatpay-signature')?.[1]
    if (sig) secret(`WeChat notify signature #${++wechatSigs}`, sig)
  }
  t.ok(wechatSigs >= 1, `WeChat notify signatures collected (${wechatSigs})`)
})

t.test('no process logged any of them', async (t) => {
  // The services log asynchronously: let the last lines arrive.
  await new Promise((r) => setTimeout(r, 500))
  const outputs = Object.values(stack.services).map((s) => ({ name: s.name, text: s.output() }))
  const lines = outputs.reduce((n, o) => n + o.text.split('\n').length, 0)
  t.ok(lines > 50, `the services did log (${lines} lines)`)
  // startService keeps the first 2 MB of a process's output: all of it must have been kept to be searched.
  for (const o of outputs) t.ok(o.text.length < 1_900_000, `${o.name}: the whole output was kept (${o.text.length} characters)`)
  const found: string[] = []
  for (const o of outputs) for (const leak of leaks(o.text, secrets)) found.push(`${o.name}: ${leak}`)
  t.comment(`secrets checked ${secrets.size}, leaks ${found.length}`)
  t.same(found, [], 'no secret in any log')
})
