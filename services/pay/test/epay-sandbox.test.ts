/**
 * Epay end to end against the provider sandbox: pay and the sandbox run as their own processes
 * (wired by devkit's stackEnv, so EPAY_VERIFY_BY_QUERY is on), a small HTTP server stands in for main.
 * The buyer's clicks are the sandbox's cashier forms; the notifies are the sandbox's own GETs.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import t from 'tap'
import type { CreatePaymentResponse, Envelope, PaymentEvent, PaymentStatusResponse } from '@paysys/contracts'
import { createEpayProvider } from '../src/providers/epay/epay.ts'
import type { EpayConfig } from '../src/providers/epay/config.ts'
import { ProviderError } from '../src/providers/types.ts'
import { createRequest, startPayWithSandbox, waitFor } from './helpers.ts'

const FRONTEND = 'http://localhost:3000'
const { keys, main, env, sandbox, client, sql } = await startPayWithSandbox(t, {
  name: 'epay',
  frontendUrl: FRONTEND,
  sandbox: { SANDBOX_TIME_FACTOR: '0.001' },
})
const callbacks = main.callbacks

async function control(method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(`${sandbox.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
}
async function create(over: Record<string, unknown>) {
  // main passes the buyer's IP; without one pay would use the page jump (no mapi.php order to pay here).
  const req = createRequest({ method: 'EPAY', amount: 990, clientIp: '198.51.100.9', ...over })
  const res = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  return { req, data: res.body.data }
}
const status = async (orderNo: string) => (await client.get<Envelope<PaymentStatusResponse>>(`/api/pay/status/${orderNo}`)).body.data
/** The most recently changed attempt of an order, given its orderNo or an attempt's trade number. */
const attempt = async (orderNo: string) =>
  (
    await sql`select status, trade_no, paid_via, channel from payment_attempts
               where order_no = ${orderNo} or out_trade_no = ${orderNo} order by updated_at desc`
  )[0]
const events = async (orderNo: string) =>
  (await sql`select payload from outbox where payload->>'orderNo' = ${orderNo}`).map((r) => r.payload as PaymentEvent)
const verdicts = async (orderNo: string) =>
  (await sql`select verdict, reason from notify_log where out_trade_no = ${orderNo} order by id`) as unknown as {
    verdict: string
    reason: string | null
  }[]
/** Paid through a notify: the attempt is PAID and the accepted notify is logged (pay logs it right after the commit). */
const paid = (orderNo: string) =>
  waitFor(async () => (await attempt(orderNo))?.status === 'PAID' && (await verdicts(orderNo)).some((v) => v.verdict === 'ACCEPTED'))
/** The sandbox's delivery attempts for an order, once there is at least one (it records them after pay answers). */
const notifications = (orderNo: string) =>
  waitFor(async () => {
    const list = (await control('GET', `/control/epay/notifications?outTradeNo=${orderNo}`)).body as unknown as Record<string, any>[] // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
    return list.length > 0 && list
  })
/** The sandbox's URL for a path it handed out under its public (localhost) name. */
const onSandbox = (url: string) => `${sandbox.url}${new URL(url).pathname}${new URL(url).search}`

/** The buyer clicks 支付 on a cashier page; the browser then follows the return into pay, and pay's 302. */
async function payAtCashier(cashierPath: string) {
  const res = await fetch(`${sandbox.url}${cashierPath}/pay`, { method: 'POST', redirect: 'manual' })
  const returnUrl = res.headers.get('location')
  if (res.status !== 302 || !returnUrl) throw new Error(`cashier answered ${res.status}`)
  const back = await fetch(returnUrl, { redirect: 'manual' })
  return { returnUrl: new URL(returnUrl), back }
}

t.test('the dev wiring turns Epay on, with verify-by-query', async (t) => {
  t.match(env.pay, { EPAY_PID: keys.epay.pid, EPAY_KEY: keys.epay.key, EPAY_VERIFY_BY_QUERY: 'true' })
  t.match(env.sandbox, { SANDBOX_EPAY_PID: keys.epay.pid, SANDBOX_EPAY_KEY: keys.epay.key })
  t.match(keys.epay.key, /^[A-Za-z0-9]{32}$/)
  const methods = (await client.get<Envelope<{ method: string; provider: string; channels: { code: string }[] }[]>>('/api/pay/methods'))
    .body.data
  // The dev wiring also turns Stripe on, whose card channel serves BANK_CARD before Epay's bank channel.
  t.same(
    methods.filter((m) => m.provider === 'EPAY').map((m) => [m.method, m.channels.map((c) => c.code)]),
    [['EPAY', ['alipay', 'wxpay', 'qqpay', 'bank']]],
  )
  t.match(
    methods.find((m) => m.method === 'BANK_CARD'),
    { provider: 'STRIPE' },
  )
})

for (const { type, device, payType } of [
  { type: 'alipay', device: 'mobile', payType: 'jump' },
  { type: 'wxpay', device: 'pc', payType: 'qrcode' },
  { type: 'bank', device: 'pc', payType: 'jump' },
] as const) {
  t.test(`${type} (${device}): create → 支付 in the sandbox → notify → PAID, one event, return to the frontend`, async (t) => {
    const { req, data } = await create({ channel: type, device, clientIp: '198.51.100.4' })
    t.match(data, { payType, method: 'EPAY', channel: type, amount: 990 })
    let cashier: string
    if (payType === 'qrcode') {
      const scan = await fetch(`${sandbox.url}/scan?code=${encodeURIComponent(data.qrCode!)}`, { redirect: 'manual' })
      t.equal(scan.status, 302, 'the QR content is scannable')
      cashier = scan.headers.get('location')!
      const again = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
      t.equal(again.body.data.qrCode, data.qrCode, 'the same attempt answers the same QR')
    } else {
      cashier = new URL(data.paymentUrl!).pathname
    }
    const trade = (await control('GET', `/control/epay/trades/${req.orderNo}`)).body
    t.match(trade, { status: 0, type, money: '9.90', device, api: 'mapi', notifyUrl: `${env.pay.PUBLIC_URL}/api/pay/notify/epay` })
    t.equal(trade.returnUrl, `${env.pay.PUBLIC_URL}/api/pay/return/epay`)
    const page = await (await fetch(`${sandbox.url}${cashier}`)).text()
    t.equal([...page.matchAll(/<button\b[^>]*>支付<\/button>/g)].length, 1)
    t.equal([...page.matchAll(/<button\b[^>]*>取消<\/button>/g)].length, 1)

    const { returnUrl, back } = await payAtCashier(cashier)
    t.equal(`${returnUrl.origin}${returnUrl.pathname}`, `${env.pay.PUBLIC_URL}/api/pay/return/epay`)
    t.equal(back.status, 302)
    t.equal(back.headers.get('location'), `${FRONTEND}/order/${req.orderId}`, 'the browser lands on the frontend order page')

    await paid(req.orderNo)
    t.match(await attempt(req.orderNo), { status: 'PAID', trade_no: trade.tradeNo, paid_via: 'NOTIFY' })
    const evs = await events(req.orderNo)
    t.equal(evs.length, 1, 'exactly one outbox event')
    t.match(evs[0], {
      type: 'PAYMENT_SUCCEEDED',
      orderId: req.orderId,
      amount: 990,
      provider: 'EPAY',
      channel: type,
      tradeNo: trade.tradeNo,
    })
    const cb = await waitFor(async () => callbacks.find((c) => c.event.orderNo === req.orderNo))
    t.ok(cb.verified, 'main received a correctly signed callback')
    t.match(await verdicts(req.orderNo), [{ verdict: 'ACCEPTED', reason: null }])
    t.match(await status(req.orderNo), { status: 'PAID', tradeNo: trade.tradeNo, amount: 990, method: 'EPAY' })
  })
}

t.test('duplicates are acknowledged, one event; "25" and "9.9" are compared as numbers', async (t) => {
  const { req } = await create({ channel: 'alipay', device: 'mobile', amount: 2500 })
  const p = await control('POST', `/control/epay/trades/${req.orderNo}/pay`, { moneyStyle: 'float' })
  t.equal(p.status, 200)
  await paid(req.orderNo)
  const notes = await notifications(req.orderNo)
  t.match(notes[0], { params: { money: '25' }, responseBody: 'success' }, 'pay accepted money "25" for 2500 fen')
  const dup = await control('POST', `/control/epay/trades/${req.orderNo}/notify`, { times: 5, moneyStyle: 'fixed' })
  t.same(
    dup.body.deliveries.map((d: { body: string }) => d.body),
    Array(5).fill('success'),
  )
  t.equal((await events(req.orderNo)).length, 1)
  const v = await verdicts(req.orderNo)
  t.equal(v.filter((x) => x.verdict === 'ACCEPTED').length, 1)
  t.equal(v.filter((x) => x.verdict === 'DUPLICATE').length, 5)

  const small = await create({ channel: 'wxpay', device: 'mobile', amount: 990 })
  await control('POST', `/control/epay/trades/${small.req.orderNo}/pay`, { moneyStyle: 'float' })
  await paid(small.req.orderNo)
  const n = await notifications(small.req.orderNo)
  t.equal(n[0]!.params.money, '9.9')
})

t.test('rejections change nothing and are logged: wrong MD5, wrong pid, wrong money, unpaid at Epay', async (t) => {
  const { req } = await create({ channel: 'alipay', device: 'mobile' })
  const send = async (body: Record<string, unknown>) =>
    (await control('POST', `/control/epay/trades/${req.orderNo}/notify`, body)).body.deliveries[0].body as string
  t.equal(await send({ wrongKey: true }), 'fail', 'wrong MD5 key')
  t.equal(await send({ tamper: { money: '0.01' }, tamperAfterSign: true }), 'fail', 'changed after signing')
  t.equal(await send({ tamper: { pid: '9999' } }), 'fail', 'another merchant')
  t.equal(await send({ tamper: { money: '0.01' } }), 'fail', 'a validly signed wrong amount')
  // A validly signed success for an order Epay says is unpaid (a leaked key): the re-query refuses it.
  t.equal(await send({}), 'fail', 'verify-by-query: Epay says not paid')
  const raw = await control('POST', '/control/epay/notify-raw', {
    notifyUrl: `${env.pay.PUBLIC_URL}/api/pay/notify/epay`,
    params: {
      pid: keys.epay.pid,
      out_trade_no: 'P20240101000000NOSUCHORDER',
      trade_no: '1',
      type: 'alipay',
      name: 'x',
      money: '9.90',
      trade_status: 'TRADE_SUCCESS',
    },
  })
  t.equal(raw.body.body, 'fail', 'unknown order')

  t.match(await attempt(req.orderNo), { status: 'PENDING', trade_no: null })
  t.equal((await events(req.orderNo)).length, 0)
  t.same(
    (await verdicts(req.orderNo)).map((v) => `${v.verdict}:${v.reason}`),
    ['REJECTED:BAD_SIGNATURE', 'REJECTED:BAD_SIGNATURE', 'REJECTED:PID_MISMATCH', 'REJECTED:AMOUNT_MISMATCH', 'REJECTED:QUERY_NOT_PAID'],
  )
  t.match(await verdicts('P20240101000000NOSUCHORDER'), [{ verdict: 'REJECTED', reason: 'UNKNOWN_ORDER' }])

  // Paid at Epay, but a notify naming another Epay trade number: the query disagrees.
  await control('POST', `/control/epay/trades/${req.orderNo}/pay`, { notify: false })
  t.equal(await send({ tamper: { trade_no: '20240101000000999999' } }), 'fail')
  t.match((await verdicts(req.orderNo)).at(-1), { verdict: 'REJECTED', reason: 'QUERY_MISMATCH' })
  t.equal(await send({}), 'success', 'the genuine notify is then accepted')
  t.equal((await events(req.orderNo)).length, 1)
})

t.test('status: while pending, pay queries api.php and records what it proves', async (t) => {
  const { req } = await create({ channel: 'qqpay', device: 'mobile' })
  t.match(await status(req.orderNo), { status: 'PENDING', tradeNo: null })
  const p = await control('POST', `/control/epay/trades/${req.orderNo}/pay`, { notify: false })
  t.match(await status(req.orderNo), { status: 'PAID', tradeNo: p.body.trade.tradeNo, amount: 990 })
  t.match(await attempt(req.orderNo), { paid_via: 'QUERY' })
  t.equal((await events(req.orderNo)).length, 1)
})

t.test('close is local (Epay has none); a later payment is recorded as paid after close', async (t) => {
  const { req } = await create({ channel: 'alipay', device: 'mobile' })
  const closed = await client.post<Envelope<{ status: string }>>(`/api/pay/close/${req.orderNo}`, {})
  t.equal(closed.status, 200, JSON.stringify(closed.body))
  t.equal(closed.body.data.status, 'CLOSED')
  t.match(await attempt(req.orderNo), { status: 'CLOSED' })
  t.match((await control('GET', `/control/epay/trades/${req.orderNo}`)).body, { status: 0, state: 'UNPAID' }, 'still payable at Epay')

  await control('POST', `/control/epay/trades/${req.orderNo}/pay`, {})
  await paid(req.orderNo)
  t.match(await verdicts(req.orderNo), [{ verdict: 'ACCEPTED', reason: 'PAID_AFTER_CLOSE' }])
  t.equal((await events(req.orderNo)).length, 1, 'the money was taken: main hears of it')

  // Closing an order already paid at Epay: pay records it instead.
  const late = await create({ channel: 'alipay', device: 'mobile' })
  await control('POST', `/control/epay/trades/${late.req.orderNo}/pay`, { notify: false })
  const r = await client.post<Envelope<Record<string, unknown>>>(`/api/pay/close/${late.req.orderNo}`, {})
  t.match(await attempt(late.req.orderNo), { status: 'PAID', paid_via: 'CLOSE' }, JSON.stringify(r.body))
})

t.test('switching type makes a new Epay order (its own trade number); the payment lands on that attempt', async (t) => {
  const first = await create({ channel: 'alipay', device: 'mobile' })
  const second = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', { ...first.req, channel: 'wxpay', device: 'mobile' })
  t.equal(second.status, 200, JSON.stringify(second.body))
  const outTradeNo = second.body.data.outTradeNo
  t.equal(outTradeNo, `${first.req.orderNo}_2`)
  t.match((await control('GET', `/control/epay/trades/${outTradeNo}`)).body, { type: 'wxpay' })
  t.match((await control('GET', `/control/epay/trades/${first.req.orderNo}`)).body, { type: 'alipay' })
  await control('POST', `/control/epay/trades/${outTradeNo}/pay`, {})
  await paid(outTradeNo)
  const rows = await sql`select channel, status from payment_attempts where order_no = ${first.req.orderNo} order by created_at`
  t.same(
    rows.map((r) => `${r.channel}:${r.status}`),
    ['alipay:CLOSED', 'wxpay:PAID'],
  )
})

t.test('the adapter against the sandbox: submit.php page jump, query, refund once', async (t) => {
  const config = { pid: keys.epay.pid, key: keys.epay.key, baseUrl: sandbox.url, verifyByQuery: true, createApi: 'submit' as const }
  const epay = createEpayProvider(config, { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 })
  const outTradeNo = createRequest().orderNo
  const created = await epay.createPayment({ outTradeNo, amount: 1234, subject: '积分 & 礼包', channel: 'alipay', expireAt: null })
  t.equal(created.payType, 'form')
  t.equal(created.providerExpireAt, undefined, 'no order expiry: none')
  // Epay takes no expiry and documents no lifetime: what it answers lives as long as the order.
  const expireAt = new Date(Date.now() + 5 * 3600_000)
  const timed = await epay.createPayment({ outTradeNo: createRequest().orderNo, amount: 100, subject: 'x', channel: 'alipay', expireAt })
  t.same(timed.providerExpireAt, expireAt)
  const jump = await fetch(created.paymentUrl!, { redirect: 'manual' })
  t.equal(jump.status, 302, 'the sandbox accepted our submit.php signature')
  t.match(jump.headers.get('location'), /^\/cashier\/epay_/)
  const action = /action="([^"]+)"/.exec(created.formHtml!)![1]!
  const fields = [...created.formHtml!.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m): [string, string] => [
    m[1]!,
    m[2]!.replace(/&amp;/g, '&'),
  ])
  const posted = await fetch(action, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' })
  t.equal(posted.headers.get('location'), jump.headers.get('location'), 'the form posts the same order')

  t.match(await epay.query(outTradeNo), { found: true, state: 'PENDING', amount: 1234 })
  t.same(await epay.query('P20240101000000NOSUCHORDER'), { found: false })
  t.same(await epay.close(outTradeNo), { outcome: 'CLOSED' })
  await control('POST', `/control/epay/trades/${outTradeNo}/pay`, { notify: false })
  t.match(await epay.close(outTradeNo), { outcome: 'ALREADY_PAID', trade: { state: 'SUCCEEDED', amount: 1234 } })

  t.match(
    await epay.refund({ outTradeNo, refundNo: 'R0', amount: 99_999 }),
    { refundNo: 'R0', state: 'FAILED', failureReason: /.+/ },
    'refused while the order is still paid and unrefunded there: a final FAILED',
  )
  t.match(await epay.refund({ outTradeNo, refundNo: 'R1', amount: 234 }), { refundNo: 'R1', amount: 234, state: 'SUCCEEDED' })
  t.match((await control('GET', `/control/epay/trades/${outTradeNo}`)).body, { status: 2, refundedMoney: '2.34' })
  t.match(await epay.query(outTradeNo), { found: true, state: 'CLOSED' }, 'refunded maps to closed')
  // The same refund sent again (its first answer was lost): Epay refuses, the order shows refunded.
  t.match(
    await epay.refund({ outTradeNo, refundNo: 'R1', amount: 234 }),
    { refundNo: 'R1', amount: 234, state: 'SUCCEEDED' },
    'a resend refused because the order is already refunded is recognised as done (pay allows one refund per Epay attempt)',
  )
  const unreachable = createEpayProvider({ ...config, baseUrl: 'http://127.0.0.1:9' }, { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 })
  await t.rejects(unreachable.refund({ outTradeNo, refundNo: 'R3', amount: 100 }), ProviderError, 'no answer: unknown outcome, thrown')

  const wrongKey = createEpayProvider({ ...config, key: 'x'.repeat(32) }, { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 })
  await t.rejects(wrongKey.query(outTradeNo), /商户密钥错误/)
  t.same(
    await wrongKey.confirmPayment({
      outTradeNo,
      state: 'SUCCEEDED',
      providerStatus: 'TRADE_SUCCESS',
      tradeNo: '1',
      amount: 1234,
      paidAt: null,
    }),
    {
      ok: false,
      reason: 'QUERY_FAILED',
    },
  )
})

const v2Keys = {
  merchantPrivateKey: createPrivateKey(keys.epay.merchantPrivateKey),
  platformPublicKey: createPublicKey(keys.epay.platformPublicKey),
}
const adapter = (over: Partial<EpayConfig> = {}) =>
  createEpayProvider(
    { pid: keys.epay.pid, key: keys.epay.key, baseUrl: sandbox.url, verifyByQuery: true, createApi: 'mapi', ...over },
    { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 },
  )
const order = (over: Partial<Parameters<ReturnType<typeof adapter>['createPayment']>[0]> = {}) => ({
  outTradeNo: createRequest().orderNo,
  amount: 500,
  subject: '积分',
  channel: 'alipay',
  expireAt: null,
  ...over,
})
/** The notify the sandbox would send for `outTradeNo`, as the raw query string pay receives. */
async function notifyOf(outTradeNo: string, body: Record<string, unknown> = {}) {
  const r = await control('POST', `/control/epay/trades/${outTradeNo}/notify`, { notifyUrl: 'http://127.0.0.1:9/', ...body })
  return new URLSearchParams(r.body.params as Record<string, string>).toString()
}

t.test('V2 (RSA, api/pay/*): method/device through, pay_type/pay_info back, signed answers and notifies verified', async (t) => {
  const epay = adapter({ apiVersion: 2, v2: v2Keys })
  const pc = order()
  const qr = await epay.createPayment({ ...pc, clientIp: '198.51.100.20', device: 'pc', interfaceType: 'web' })
  t.match(qr, { payType: 'qrcode', providerPayType: 'qrcode', qrCode: /\/qr\/epay\//, payInfo: qr.qrCode })
  t.match((await control('GET', `/control/epay/trades/${pc.outTradeNo}`)).body, { api: 'v2', device: 'pc' })
  const jumpOrder = order({ channel: 'wxpay' })
  const jump = await epay.createPayment({ ...jumpOrder, clientIp: '198.51.100.20', device: 'pc', interfaceType: 'jump' })
  t.match(jump, { payType: 'jump', providerPayType: 'jump', paymentUrl: /\/cashier\/epay_/ })
  await t.rejects(
    epay.createPayment({ ...order(), clientIp: '198.51.100.20', interfaceType: 'jsapi' }),
    /sub_openid/,
    "what Epay refuses is Epay's refusal",
  )

  t.match(await epay.query(pc.outTradeNo), { found: true, state: 'PENDING', amount: 500 })
  t.same(await epay.query('P20240101000000NOSUCHORDER'), { found: false })
  await control('POST', `/control/epay/trades/${pc.outTradeNo}/pay`, { notify: false })
  t.match(await epay.query(pc.outTradeNo), { found: true, state: 'SUCCEEDED', amount: 500 })

  const raw = await notifyOf(pc.outTradeNo)
  t.match(new URLSearchParams(raw).get('sign_type'), 'RSA', 'a V2 order is notified RSA-signed')
  t.match(epay.verifyNotification({ rawBody: raw, contentType: undefined, headers: {} }), {
    ok: true,
    trade: { outTradeNo: pc.outTradeNo, amount: 500 },
  })
  const forged = await notifyOf(pc.outTradeNo, { wrongKey: true })
  t.match(epay.verifyNotification({ rawBody: forged, contentType: undefined, headers: {} }), { ok: false, reason: 'BAD_SIGNATURE' })
  const tampered = await notifyOf(pc.outTradeNo, { tamper: { money: '0.01' }, tamperAfterSign: true })
  t.match(epay.verifyNotification({ rawBody: tampered, contentType: undefined, headers: {} }), { ok: false, reason: 'BAD_SIGNATURE' })
  // An MD5-signed (V1) notify is not what a V2 operator sends.
  const md5 = new URLSearchParams(raw)
  md5.set('sign_type', 'MD5')
  t.match(epay.verifyNotification({ rawBody: md5.toString(), contentType: undefined, headers: {} }), { ok: false, reason: 'BAD_SIGNATURE' })

  t.match(await epay.refund({ outTradeNo: pc.outTradeNo, refundNo: 'RV2', amount: 200 }), { state: 'SUCCEEDED', amount: 200 })
  t.match((await control('GET', `/control/epay/trades/${pc.outTradeNo}`)).body, { status: 2, refundedMoney: '2.00' })
  // Answers signed by another key are not believed.
  const other = adapter({ apiVersion: 2, v2: { ...v2Keys, platformPublicKey: createPublicKey(keys.epay.merchantPublicKey) } })
  await t.rejects(other.query(pc.outTradeNo), /签名无效/)
})

t.test('refund refused with 商户余额不足 stays PENDING (retried); other refusals are final', async (t) => {
  await control('POST', '/control/epay/modes', { refundBalanceInsufficient: true })
  t.teardown(() => control('POST', '/control/epay/modes', { refundBalanceInsufficient: false }))
  for (const epay of [adapter(), adapter({ apiVersion: 2, v2: v2Keys })]) {
    const o = order()
    await epay.createPayment({ ...o, clientIp: '198.51.100.21' })
    await control('POST', `/control/epay/trades/${o.outTradeNo}/pay`, { notify: false })
    t.match(await epay.refund({ outTradeNo: o.outTradeNo, refundNo: 'RB', amount: 500 }), { state: 'PENDING', failureReason: /余额不足/ })
    t.match((await control('GET', `/control/epay/trades/${o.outTradeNo}`)).body, { status: 1 }, 'nothing refunded at Epay')
    await control('POST', '/control/epay/modes', { refundBalanceInsufficient: false })
    t.match(
      await epay.refund({ outTradeNo: o.outTradeNo, refundNo: 'RB', amount: 500 }),
      { state: 'SUCCEEDED' },
      'asked again once topped up',
    )
    await control('POST', '/control/epay/modes', { refundBalanceInsufficient: true })
  }
})

t.test("pay_iplimit: the buyer's IP is sent, never a shared stand-in; unknown → the page jump", async (t) => {
  await control('POST', '/control/epay/modes', { ipLimit: 1 })
  t.teardown(() => control('POST', '/control/epay/modes', { ipLimit: null }))
  const epay = adapter()
  // The sandbox refuses a loopback clientip in this mode, as Epay's limit would once a few buyers shared it.
  await t.rejects(epay.createPayment({ ...order(), clientIp: '127.0.0.1' }), /请明天再试/)
  const unknown = order()
  const created = await epay.createPayment(unknown)
  t.equal(created.payType, 'form', 'no clientIp: submit.php, where Epay sees the browser')
  t.equal(
    (await control('GET', `/control/epay/trades/${unknown.outTradeNo}`)).status,
    404,
    'no mapi.php order was created with a stand-in IP',
  )
  const first = order()
  t.match(await epay.createPayment({ ...first, clientIp: '198.51.100.30', device: 'mobile' }), { payType: 'jump' })
  t.match((await control('GET', `/control/epay/trades/${first.outTradeNo}`)).body, { api: 'mapi' })
  await control('POST', `/control/epay/trades/${first.outTradeNo}/pay`, { notify: false })
  await t.rejects(epay.createPayment({ ...order(), clientIp: '198.51.100.30' }), /请明天再试/, 'the same IP again: over the limit')
  t.match(
    await epay.createPayment({ ...order(), clientIp: '198.51.100.31', device: 'mobile' }),
    { payType: 'jump' },
    'another buyer is fine',
  )
})
