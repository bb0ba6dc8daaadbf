/**
 * The Epay (彩虹易支付) side of the sandbox: submit.php / mapi.php / api.php with MD5 signatures checked
 * by an independent signer here (and a known vector), the cashier (one 支付, one 取消), GET notifies
 * retried on Epay's schedule until the body contains `success`, the signed browser return, QR scanning,
 * refunds, and the control API (duplicates, tampering, wrong keys, float money, close, raw notifies).
 */
import t from 'tap'
import { createHash, createSign, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { freePort } from '@paysys/devkit'
import { loadConfig } from '../src/config.ts'
import { controlJson, countButtons, getManual, postForm, sleep, startSandbox, type Sandbox } from './fixtures/harness.ts'

const PID = '1001'
const KEY = randomBytes(16).toString('hex')

// V2 (RSA): the merchant's pair (we sign, the sandbox verifies) and the platform's (the sandbox signs, we verify).
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
const MERCHANT = rsa()
const PLATFORM = rsa()
const sb: Sandbox = await startSandbox({
  SANDBOX_EPAY_PID: PID,
  SANDBOX_EPAY_KEY: KEY,
  SANDBOX_EPAY_MERCHANT_PUBLIC_KEY: MERCHANT.publicKey,
  SANDBOX_EPAY_PLATFORM_PRIVATE_KEY: PLATFORM.privateKey,
})

/** A merchant notify endpoint recording GET query strings; answers per path from a queue (default `success`). */
interface Hit {
  path: string
  method: string
  params: Record<string, string>
  at: number
}
const hits: Hit[] = []
const replies = new Map<string, string[]>()
const rx = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  hits.push({ path: url.pathname, method: req.method ?? '', params: Object.fromEntries(url.searchParams), at: Date.now() })
  res.writeHead(200, { 'content-type': 'text/plain' }).end(replies.get(url.pathname)?.shift() ?? 'success')
})
const rxPort = await freePort()
await new Promise<void>((r) => rx.listen(rxPort, '127.0.0.1', r))
const rxUrl = (path: string) => `http://127.0.0.1:${rxPort}${path}`
const received = (path: string) => hits.filter((h) => h.path === path)
async function waitHits(path: string, n: number, timeoutMs = 10_000): Promise<Hit[]> {
  const deadline = Date.now() + timeoutMs
  while (received(path).length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} notifies at ${path}, got ${received(path).length}`)
    await sleep(20)
  }
  return received(path)
}

t.teardown(async () => {
  await sb.close()
  await new Promise<void>((r) => rx.close(() => r()))
})

// ---- an independent MD5 signer (the merchant's side), checked against a known vector ----

function md5(params: Record<string, string>, key = KEY): string {
  const content = Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
  return createHash('md5')
    .update(content + key)
    .digest('hex')
}
const sign = (params: Record<string, string>, key = KEY) => ({ ...params, sign: md5(params, key), sign_type: 'MD5' })
const uniq = (p: string) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`

function payParams(over: Record<string, string> = {}): Record<string, string> {
  const no = uniq('E')
  return {
    pid: PID,
    type: 'alipay',
    out_trade_no: no,
    notify_url: rxUrl(`/notify/${no}`),
    return_url: 'http://localhost:3000/api/pay/return/epay',
    name: '积分充值 100 个 & more',
    money: '9.90',
    ...over,
  }
}

async function mapi(params: Record<string, string>) {
  const res = await postForm(`${sb.base}/mapi.php`, params)
  t.match(res.headers.get('content-type'), /application\/json/)
  return (await res.json()) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
}

const trade = async (no: string) => (await controlJson(sb.base, 'GET', `/control/epay/trades/${no}`)).json

t.test('the MD5 rule matches a known vector', async (t) => {
  const vector = {
    pid: '1001',
    type: 'alipay',
    out_trade_no: '20160806151343349',
    notify_url: 'http://www.pay.com/notify_url.php',
    return_url: 'http://www.pay.com/return_url.php',
    name: 'VIP会员',
    money: '1.00',
    sitename: '彩虹云任务',
    param: '',
    sign_type: 'MD5',
  }
  t.equal(md5(vector, 'aBcD1234eFgH5678iJkL9012mNoP3456'), '11e8101657134be476ffacb4105bfca8')
})

t.test('whitespace-only values: left out of the sign string, as the server’s isEmpty (trim) does', async (t) => {
  // Written out by hand, independently of md5() above: the string the server signs.
  const signOf = (content: string) =>
    createHash('md5')
      .update(content + KEY)
      .digest('hex')
  const contentOf = (p: Record<string, string>, keep: (v: string) => boolean) =>
    Object.keys(p)
      .filter((k) => keep(p[k]!))
      .sort()
      .map((k) => `${k}=${p[k]}`)
      .join('&')
  const base = payParams({ clientip: '203.0.113.9', device: 'pc', param: ' \t ' })

  const asServer = { ...base, sign: signOf(contentOf(base, (v) => v.trim() !== '')), sign_type: 'MD5' }
  t.notMatch(
    contentOf(base, (v) => v.trim() !== ''),
    /param=/,
    'the server leaves param out',
  )
  t.match(await mapi(asServer), { code: 1, trade_no: /^\d{19}$/ }, 'signed as the server signs: accepted')

  const other = { ...base, out_trade_no: uniq('E') }
  const asSdk = { ...other, sign: signOf(contentOf(other, (v) => v !== '')), sign_type: 'MD5' }
  t.match(
    contentOf(other, (v) => v !== ''),
    /param= \t /,
    "the merchant SDK's string keeps it",
  )
  const refused = await mapi(asSdk)
  t.not(refused.code, 1, 'signed with the whitespace-only value in: refused')
  t.match(refused.msg, /签名校验失败/)

  // PHP's trim strips only ASCII blanks: a no-break space is a value, and stays in the string.
  const nbsp = payParams({ clientip: '203.0.113.9', device: 'pc', param: '\u00a0' })
  const withNbsp = { ...nbsp, sign: signOf(contentOf(nbsp, (v) => v !== '')), sign_type: 'MD5' }
  t.match(await mapi(withNbsp), { code: 1 }, 'a no-break space is signed like any value')
})

t.test('config: both Epay variables or neither', async (t) => {
  const base = { DATABASE_URL: 'postgres://x/y' }
  t.equal(loadConfig(base).epay, null, 'disabled without them')
  t.throws(() => loadConfig({ ...base, SANDBOX_EPAY_PID: '1001' }), /SANDBOX_EPAY_PID and SANDBOX_EPAY_KEY/)
  t.throws(() => loadConfig({ ...base, SANDBOX_EPAY_PID: 'abc', SANDBOX_EPAY_KEY: KEY }), /SANDBOX_EPAY_PID must be/)
  t.match(loadConfig({ ...base, SANDBOX_EPAY_PID: PID, SANDBOX_EPAY_KEY: KEY }).epay, { pid: PID, key: KEY })
})

t.test('submit.php: signed form → cashier → 支付 → signed return; GET notify retried until `success`', async (t) => {
  const p = payParams()
  const no = p.out_trade_no!
  const path = `/notify/${no}`
  replies.set(path, ['fail', 'FAIL: not yet'])
  const res = await postForm(`${sb.base}/submit.php`, sign(p))
  t.equal(res.status, 302, 'submit.php sends the browser to the cashier')
  const cashier = res.headers.get('location')!
  t.match(cashier, /^\/cashier\/epay_[a-z0-9]{24}$/)

  const page = await (await fetch(`${sb.base}${cashier}`)).text()
  t.equal(countButtons(page, '支付'), 1, 'exactly one 支付 button')
  t.equal(countButtons(page, '取消'), 1, 'exactly one 取消 button')
  t.match(page, '9.90')
  t.match(page, '积分充值 100 个 &amp; more')
  t.match(page, '易支付')

  t.match(await trade(no), { outTradeNo: no, status: 0, state: 'UNPAID', money: '9.90', moneyFen: 990, type: 'alipay', api: 'submit' })
  // The same GET link again (back button) reuses the order.
  const again = await getManual(`${sb.base}/submit.php?${new URLSearchParams(sign(p))}`)
  t.equal(again.headers.get('location'), cashier, 'same out_trade_no and parameters → same order')

  const paid = await postForm(`${sb.base}${cashier}/pay`)
  t.equal(paid.status, 302)
  const back = new URL(paid.headers.get('location')!)
  t.equal(`${back.origin}${back.pathname}`, 'http://localhost:3000/api/pay/return/epay')
  const ret = Object.fromEntries(back.searchParams)
  t.match(ret, { pid: PID, out_trade_no: no, type: 'alipay', money: '9.90', trade_status: 'TRADE_SUCCESS', sign_type: 'MD5' })
  t.match(ret.trade_no, /^\d{19}$/)
  t.equal(ret.sign, md5(ret), 'the return parameters are signed with the merchant key')

  const got = await waitHits(path, 3)
  for (const n of got) {
    t.equal(n.method, 'GET', 'Epay notifies with a GET')
    t.same(n.params, ret, 'the notify carries the same signed parameters as the return')
  }
  t.ok(got[1]!.at - got[0]!.at >= 150, `retried after the scaled delay (${got[1]!.at - got[0]!.at} ms)`)
  await sleep(600)
  t.equal(received(path).length, 3, 'no more notifies once the body contains `success`')
  const log = (await controlJson(sb.base, 'GET', `/control/epay/notifications?outTradeNo=${no}`)).json
  t.match(log, [
    { attempt: 1, responseBody: 'fail', kind: 'auto' },
    { attempt: 2, responseBody: 'FAIL: not yet' },
    { attempt: 3, responseBody: 'success', deliveryState: 'DELIVERED', params: { out_trade_no: no, money: '9.90' } },
  ])

  const paidPage = await (await fetch(`${sb.base}${cashier}`)).text()
  t.match(paidPage, /<button[^>]*disabled[^>]*>支付<\/button>/, 'a paid order’s cashier is disabled')
  t.equal((await postForm(`${sb.base}${cashier}/pay`)).status, 302, 'paying again just returns again')
  await sleep(200)
  t.equal(received(path).length, 3, 'and sends no second notify')

  const refused = await postForm(`${sb.base}/submit.php`, sign(p))
  t.equal(refused.status, 400)
  t.match(await refused.text(), '已完成支付')
})

t.test('submit.php refusals: bad signature, wrong pid, bad money, changed parameters', async (t) => {
  const p = payParams()
  const forged = await postForm(`${sb.base}/submit.php`, { ...sign(p), money: '0.01' })
  t.equal(forged.status, 400)
  t.match(await forged.text(), '签名校验失败')
  t.equal((await controlJson(sb.base, 'GET', `/control/epay/trades/${p.out_trade_no}`)).status, 404, 'nothing created')
  t.match(await (await postForm(`${sb.base}/submit.php`, sign({ ...p, pid: '999' }))).text(), '商户不存在')
  t.match(await (await postForm(`${sb.base}/submit.php`, sign(p, 'not-the-key'))).text(), '签名校验失败')
  t.match(await (await postForm(`${sb.base}/submit.php`, sign({ ...p, money: '1.001' }))).text(), '金额不合法')
  t.match(await (await postForm(`${sb.base}/submit.php`, sign({ ...p, type: 'paypal' }))).text(), '支付方式(type)不存在')
  t.equal((await postForm(`${sb.base}/submit.php`, sign(p))).status, 302)
  const changed = await postForm(`${sb.base}/submit.php`, sign({ ...p, money: '10.00' }))
  t.match(await changed.text(), '支付参数有变化')
})

t.test('mapi.php: pc gets a QR code that /scan resolves; mobile gets a payurl; refusals are JSON', async (t) => {
  const pc = payParams({ type: 'wxpay', clientip: '203.0.113.9', device: 'pc' })
  const a = await mapi(sign(pc))
  t.match(a, { code: 1, trade_no: /^\d{19}$/ })
  t.match(a.qrcode, new RegExp(`^${sb.publicUrl}/qr/epay/[a-z0-9]{24}$`))
  t.notOk(a.payurl)
  const scan = await getManual(`${sb.base}/scan?code=${encodeURIComponent(a.qrcode)}`)
  t.equal(scan.status, 302)
  const cashier = scan.headers.get('location')!
  t.match(cashier, /^\/cashier\/epay_/)
  const direct = await getManual(a.qrcode.replace(sb.publicUrl, sb.base))
  t.equal(direct.headers.get('location'), cashier, 'the QR content itself opens the cashier')
  t.match(await mapi(sign(pc)), { code: 1, trade_no: a.trade_no, qrcode: a.qrcode }, 'a repeated request: same order, same QR')

  const mobile = payParams({ type: 'alipay', clientip: '203.0.113.9', device: 'mobile' })
  const b = await mapi(sign(mobile))
  t.match(b, { code: 1, msg: String, trade_no: /^\d{19}$/ })
  t.match(b.payurl, new RegExp(`^${sb.publicUrl}/cashier/epay_`))
  t.notOk(b.qrcode)
  const bank = await mapi(sign(payParams({ type: 'bank', clientip: '203.0.113.9', device: 'pc' })))
  t.ok(bank.payurl, 'bank payments jump even on a computer')
  t.match(await trade(mobile.out_trade_no!), { api: 'mapi', device: 'mobile', type: 'alipay' })

  t.match(await mapi({ ...sign(mobile), name: 'x' }), { code: -1, msg: /签名校验失败/ })
  t.match(await mapi(sign({ ...payParams({ device: 'pc' }) })), { code: -1, msg: /clientip/ }, 'clientip is required')
  t.match(await mapi({}), { code: -4 })
  // The type may change on a repeat (Epay allows it); the amount may not.
  t.match(await mapi(sign({ ...mobile, type: 'qqpay' })), { code: 1, trade_no: b.trade_no })
  t.match(await mapi(sign({ ...mobile, money: '1.00' })), { code: -1, msg: /支付参数有变化/ })
})

t.test('api.php?act=order: pid and key checked; 0 until paid, then 1; money as "x.xx"', async (t) => {
  const p = payParams({ clientip: '127.0.0.1', device: 'mobile', money: '25' })
  const created = await mapi(sign(p))
  const order = async (q: Record<string, string>) =>
    (await (await fetch(`${sb.base}/api.php?${new URLSearchParams({ act: 'order', ...q })}`)).json()) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
  const q = { pid: PID, key: KEY, out_trade_no: p.out_trade_no! }
  t.match(await order(q), {
    code: 1,
    trade_no: created.trade_no,
    out_trade_no: p.out_trade_no,
    type: 'alipay',
    money: '25.00',
    status: 0,
    endtime: null,
  })
  t.match(await order({ pid: PID, key: KEY, trade_no: created.trade_no }), { code: 1, out_trade_no: p.out_trade_no })
  t.match(await order({ ...q, key: 'wrong' }), { code: -3, msg: '商户密钥错误' })
  t.match(await order({ ...q, pid: '2' }), { code: -3, msg: '商户ID不存在' })
  t.match(await order({ ...q, out_trade_no: 'nope' }), { code: -1, msg: '订单号不存在' })
  t.match(await order({ pid: PID, key: KEY }), { code: -4 })
  t.match(await (await fetch(`${sb.base}/api.php?act=what`)).json(), { code: -5 })

  await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/pay`, { notify: false })
  t.match(await order(q), { code: 1, status: 1, money: '25.00', endtime: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/ })
  t.equal(received(`/notify/${p.out_trade_no}`).length, 0, 'pay {notify:false} sends nothing')
})

t.test('api.php?act=refund: POST, once, at most the order’s money', async (t) => {
  const p = payParams({ clientip: '127.0.0.1', device: 'mobile', money: '10.00' })
  await mapi(sign(p))
  const refund = async (form: Record<string, string>) =>
    (await (await postForm(`${sb.base}/api.php?act=refund`, form)).json()) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
  const form = { pid: PID, key: KEY, out_trade_no: p.out_trade_no!, money: '4.00' }
  t.match(await refund(form), { code: -1, msg: '只支持退款已支付状态的订单' }, 'unpaid')
  await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/pay`, { notify: false })
  t.match(await refund({ ...form, key: 'x' }), { code: -3 })
  t.match(await refund({ ...form, money: '10.01' }), { code: -1, msg: '退款金额不能大于订单金额' })
  t.match(await refund({ ...form, money: '-1' }), { code: -1, msg: '金额输入错误' })
  t.match(await (await fetch(`${sb.base}/api.php?act=refund&${new URLSearchParams(form)}`)).json(), { code: -5 }, 'GET refused')
  t.match(await refund(form), { code: 1, msg: '退款成功', money: '4.00' })
  t.match(await trade(p.out_trade_no!), { status: 2, state: 'REFUNDED', refundedMoney: '4.00' })
  t.match(await refund(form), { code: -1, msg: '只支持退款已支付状态的订单' }, 'one refund per order, as Epay')
})

t.test('control: duplicates, float money, tampering (signed or not), wrong key, raw notifies', async (t) => {
  const p = payParams({ clientip: '127.0.0.1', device: 'mobile', money: '25.00' })
  await mapi(sign(p))
  const no = p.out_trade_no!
  const path = `/notify/${no}`

  const paid = await controlJson(sb.base, 'POST', `/control/epay/trades/${no}/pay`, { moneyStyle: 'float' })
  t.equal(paid.status, 200)
  t.match(paid.json, { trade: { status: 1, moneyStyle: 'float' }, notifyScheduled: true, alreadyPaid: false })
  const [auto] = await waitHits(path, 1)
  t.equal(auto!.params.money, '25', 'float money: "25", as newer servers send it')
  t.equal(auto!.params.sign, md5(auto!.params))
  t.match(new URL(paid.json.returnUrl).searchParams.get('money'), '25')

  const dup = await controlJson(sb.base, 'POST', `/control/epay/trades/${no}/notify`, { times: 3, moneyStyle: 'fixed' })
  t.same(
    dup.json.deliveries.map((d: { body: string }) => d.body),
    ['success', 'success', 'success'],
  )
  t.equal(dup.json.params.money, '25.00')

  const tampered = await controlJson(sb.base, 'POST', `/control/epay/trades/${no}/notify`, { tamper: { money: '0.01', pid: '7' } })
  t.match(tampered.json.params, { money: '0.01', pid: '7' })
  t.equal(tampered.json.params.sign, md5(tampered.json.params), 'tamper values are signed by default')
  const broken = await controlJson(sb.base, 'POST', `/control/epay/trades/${no}/notify`, {
    tamper: { money: '0.01' },
    tamperAfterSign: true,
  })
  t.not(broken.json.params.sign, md5(broken.json.params), 'tamperAfterSign breaks the signature')
  const wrong = await controlJson(sb.base, 'POST', `/control/epay/trades/${no}/notify`, { wrongKey: true })
  t.not(wrong.json.params.sign, md5(wrong.json.params), 'wrongKey signs with another key')
  t.match((await controlJson(sb.base, 'POST', `/control/epay/trades/${no}/notify`, { tamper: { amount: '1' } })).json, {
    code: 400,
    error: 'INVALID_PARAMS',
  })

  const raw = await controlJson(sb.base, 'POST', '/control/epay/notify-raw', {
    notifyUrl: rxUrl('/raw'),
    params: { pid: PID, out_trade_no: 'NEVER', trade_no: '1', money: '1', trade_status: 'TRADE_SUCCESS' },
  })
  t.match(raw.json, { status: 200, body: 'success', params: { out_trade_no: 'NEVER', sign_type: 'MD5' } })
  t.equal(raw.json.params.sign, md5(raw.json.params))
  t.equal(received('/raw').length, 1)

  const log = (await controlJson(sb.base, 'GET', `/control/epay/notifications?outTradeNo=${no}`)).json
  t.equal(log.filter((l: { kind: string }) => l.kind === 'manual').length, 6)
  t.equal((await controlJson(sb.base, 'GET', '/control/epay/trades/NOPE')).status, 404)
})

t.test('control close: an unpaid order can no longer be paid; a paid one cannot be closed', async (t) => {
  const p = payParams({ clientip: '127.0.0.1', device: 'mobile' })
  const created = await mapi(sign(p))
  const cashier = new URL(created.payurl).pathname
  const cancel = await postForm(`${sb.base}${cashier}/cancel`)
  t.equal(cancel.status, 200)
  t.match(await cancel.text(), '已取消')
  t.equal((await trade(p.out_trade_no!)).status, 0, '取消 leaves the order unpaid and payable')

  const closed = await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/close`)
  t.match(closed.json, { status: 0, state: 'CLOSED' })
  t.equal((await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/close`)).status, 200, 'idempotent')
  const pay = await postForm(`${sb.base}${cashier}/pay`)
  t.equal(pay.status, 409)
  t.match(await pay.text(), '交易已关闭')
  t.equal((await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/pay`)).status, 409)
  t.match(await mapi(sign(p)), { code: -1, msg: /已关闭/ })

  const q = payParams({ clientip: '127.0.0.1', device: 'mobile' })
  await mapi(sign(q))
  await controlJson(sb.base, 'POST', `/control/epay/trades/${q.out_trade_no}/pay`, { notify: false })
  t.equal((await controlJson(sb.base, 'POST', `/control/epay/trades/${q.out_trade_no}/close`)).status, 409)
})

t.test('concurrent 支付 clicks pay once and notify once', async (t) => {
  const p = payParams({ clientip: '127.0.0.1', device: 'mobile' })
  const created = await mapi(sign(p))
  const cashier = new URL(created.payurl).pathname
  const clicks = await Promise.all(Array.from({ length: 5 }, () => postForm(`${sb.base}${cashier}/pay`)))
  t.same(
    clicks.map((c) => c.status),
    [302, 302, 302, 302, 302],
  )
  await waitHits(`/notify/${p.out_trade_no}`, 1)
  await sleep(300)
  t.equal(received(`/notify/${p.out_trade_no}`).length, 1)
})

// ---- V2 (api/pay/*, RSA), with an independent signer ----

function signContent(params: Record<string, string>): string {
  return Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}
const rsaSign = (params: Record<string, string>, key = MERCHANT.privateKey, timestamp = Math.floor(Date.now() / 1000)) => {
  const p = { ...params, timestamp: String(timestamp) }
  return { ...p, sign: createSign('RSA-SHA256').update(signContent(p)).sign(key, 'base64'), sign_type: 'RSA' }
}
/** Epay's signature on an answer or notify: every value as text. */
const platformSigned = (body: Record<string, unknown>) => {
  const flat = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]))
  return createVerify('RSA-SHA256').update(signContent(flat)).verify(PLATFORM.publicKey, String(body.sign), 'base64')
}
async function v2(action: string, params: Record<string, string>) {
  return (await (await postForm(`${sb.base}/api/pay/${action}`, params)).json()) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
}

t.test("V2 api/pay/create: RSA both ways, method/device → pay_type/pay_info, Epay's refusals", async (t) => {
  const pc = payParams({ clientip: '203.0.113.40', device: 'pc', method: 'web' })
  const qr = await v2('create', rsaSign(pc))
  t.match(qr, { code: 0, trade_no: /^\d{19}$/, pay_type: 'qrcode', pay_info: /\/qr\/epay\//, sign_type: 'RSA' })
  t.ok(platformSigned(qr), 'the answer is signed with the platform key')
  t.match(await trade(pc.out_trade_no!), { api: 'v2', device: 'pc' })
  const jump = await v2('create', rsaSign(payParams({ clientip: '203.0.113.40', device: 'pc', method: 'jump' })))
  t.match(jump, { code: 0, pay_type: 'jump', pay_info: /\/cashier\/epay_/ })
  const mobile = await v2('create', rsaSign(payParams({ clientip: '203.0.113.40', device: 'mobile' })))
  t.match(mobile, { code: 0, pay_type: 'jump' })

  t.match(
    await v2('create', rsaSign(payParams({ clientip: '203.0.113.40' }), PLATFORM.privateKey)),
    { code: -3, msg: '签名校验失败' },
    'another key',
  )
  t.match(await v2('create', rsaSign(payParams({ clientip: '203.0.113.40' }), MERCHANT.privateKey, 1_600_000_000)), {
    code: -3,
    msg: '时间戳无效',
  })
  t.match(await v2('create', sign(payParams({ clientip: '203.0.113.40' }))), { code: -3 }, 'an MD5 signature is not V2')
  t.match(await v2('create', rsaSign(payParams({ clientip: '203.0.113.40', method: 'jsapi' }))), { code: -1, msg: /sub_openid/ })
  t.match(await v2('create', rsaSign(payParams({ clientip: '203.0.113.40', method: 'app' }))), { code: -1, msg: '参数不合法' })
  t.match(await v2('create', rsaSign(payParams({ clientip: 'not-an-ip' }))), { code: -1, msg: '用户IP地址不合法' })
  t.match(await v2('create', rsaSign(payParams())), { code: -1, msg: /clientip/ })
})

t.test('V2: a V2 order is notified RSA-signed; query and refund signed', async (t) => {
  const p = payParams({ clientip: '203.0.113.41', device: 'mobile', money: '10.00' })
  await v2('create', rsaSign(p))
  await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/pay`, {})
  const [hit] = await waitHits(`/notify/${p.out_trade_no}`, 1)
  t.match(hit!.params, { out_trade_no: p.out_trade_no, trade_status: 'TRADE_SUCCESS', money: '10.00', sign_type: 'RSA' })
  t.ok(platformSigned(hit!.params), 'the notify verifies with the platform key')
  const q = await v2('query', rsaSign({ pid: PID, out_trade_no: p.out_trade_no! }))
  t.match(q, { code: 0, out_trade_no: p.out_trade_no, status: 1, money: '10.00' })
  t.ok(platformSigned(q))
  t.match(await v2('query', rsaSign({ pid: PID, out_trade_no: 'NOPE' })), { code: -1, msg: '订单号不存在' })
  const r = await v2('refund', rsaSign({ pid: PID, out_trade_no: p.out_trade_no!, money: '3.00', out_refund_no: 'R1' }))
  t.match(r, { code: 0, out_refund_no: 'R1', money: '3.00' })
  t.ok(platformSigned(r))
  t.match(await trade(p.out_trade_no!), { status: 2, refundedMoney: '3.00' })
})

t.test('modes: 商户余额不足 refunds; pay_iplimit refuses a loopback IP and an IP over its daily count', async (t) => {
  const modes = (body: unknown) => controlJson(sb.base, 'POST', '/control/epay/modes', body)
  t.teardown(() => modes({ refundBalanceInsufficient: false, ipLimit: null }))
  t.equal((await modes({ ipLimit: -1 })).status, 400)
  const p = payParams({ clientip: '203.0.113.50', device: 'mobile', money: '10.00' })
  await mapi(sign(p))
  await controlJson(sb.base, 'POST', `/control/epay/trades/${p.out_trade_no}/pay`, { notify: false })
  t.match((await modes({ refundBalanceInsufficient: true })).json, { refundBalanceInsufficient: true })
  const form = { pid: PID, key: KEY, out_trade_no: p.out_trade_no!, money: '1.00' }
  t.match(await (await postForm(`${sb.base}/api.php?act=refund`, form)).json(), { code: -1, msg: /商户余额不足/ })
  t.match(await v2('refund', rsaSign({ pid: PID, out_trade_no: p.out_trade_no!, money: '1.00' })), { code: -1, msg: /商户余额不足/ })
  t.match(await trade(p.out_trade_no!), { status: 1 }, 'nothing refunded')
  await modes({ refundBalanceInsufficient: false })
  t.match(await (await postForm(`${sb.base}/api.php?act=refund`, form)).json(), { code: 1 })

  await modes({ ipLimit: 1 })
  t.match(await mapi(sign(payParams({ clientip: '127.0.0.1', device: 'mobile' }))), { code: -1, msg: '你今天已无法再发起支付，请明天再试' })
  t.match(await v2('create', rsaSign(payParams({ clientip: '127.0.0.1' }))), { code: -1, msg: /请明天再试/ })
  t.match(
    await mapi(sign(payParams({ clientip: '203.0.113.50', device: 'mobile' }))),
    { code: -1, msg: /请明天再试/ },
    'one paid today already',
  )
  t.match(await mapi(sign(payParams({ clientip: '203.0.113.51', device: 'mobile' }))), { code: 1 })
  await modes({ ipLimit: null })
  t.match(await mapi(sign(payParams({ clientip: '127.0.0.1', device: 'mobile' }))), { code: 1 }, 'off again')
})
