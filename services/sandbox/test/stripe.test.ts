/**
 * The Stripe side of the sandbox, refereed by the official `stripe` package: every answer is parsed by
 * the SDK (sessions, lists with has_more/starting_after, PaymentIntent search, refunds, balance
 * transactions with expanded sources, error objects with Stripe's types and statuses, idempotency),
 * and every webhook is accepted by `stripe.webhooks.constructEvent` with the endpoint secret. Also the
 * hosted page (one 支付, one 取消), webhook retries until a 2xx, the control API and its forgeries.
 */
import t from 'tap'
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import Stripe from 'stripe'
import { freePort } from '@paysys/devkit'
import { loadConfig } from '../src/config.ts'
import { controlJson, countButtons, getManual, postForm, sleep, startSandbox, type Sandbox } from './fixtures/harness.ts'

const SECRET_KEY = `sk_test_${randomBytes(12).toString('hex')}`
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`

/** The merchant's webhook endpoint: records body and signature; answers from a queue of statuses (default 200). */
interface Hit {
  body: string
  signature: string | undefined
  at: number
}
const hits: Hit[] = []
const statuses: number[] = []
const rx = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (c: string) => (body += c))
  req.on('end', () => {
    const sig = req.headers['stripe-signature']
    hits.push({ body, signature: typeof sig === 'string' ? sig : undefined, at: Date.now() })
    res.writeHead(statuses.shift() ?? 200, { 'content-type': 'application/json' }).end('{"received":true}')
  })
})
const rxPort = await freePort()
await new Promise<void>((r) => rx.listen(rxPort, '127.0.0.1', r))
const webhookUrl = `http://127.0.0.1:${rxPort}/webhook`

const sb: Sandbox = await startSandbox({
  SANDBOX_STRIPE_SECRET_KEY: SECRET_KEY,
  SANDBOX_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  SANDBOX_STRIPE_WEBHOOK_URL: webhookUrl,
})
t.teardown(async () => {
  await sb.close()
  await new Promise<void>((r) => rx.close(() => r()))
})

const client = (key = SECRET_KEY) =>
  new Stripe(key, { host: '127.0.0.1', port: sb.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false })
const stripe = client()

/** Every webhook the endpoint got, verified by the SDK (throws on any the SDK refuses). */
const events = () => hits.map((h) => stripe.webhooks.constructEvent(h.body, h.signature ?? '', WEBHOOK_SECRET, 300))
async function waitEvents(pred: (e: Stripe.Event) => boolean, n = 1, timeoutMs = 10_000): Promise<Stripe.Event[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = events().filter(pred)
    if (found.length >= n) return found
    if (Date.now() > deadline) throw new Error(`expected ${n} matching webhooks, got ${found.length}`)
    await sleep(20)
  }
}

let seq = 0
const params = (over: Partial<Stripe.Checkout.SessionCreateParams> = {}): Stripe.Checkout.SessionCreateParams => {
  const ref = `T${Date.now()}${++seq}`
  return {
    mode: 'payment',
    client_reference_id: ref,
    line_items: [{ quantity: 1, price_data: { currency: 'cny', unit_amount: 2500, product_data: { name: '200 积分' } } }],
    success_url: `http://merchant.test/return?out_trade_no=${ref}&session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `http://merchant.test/return?out_trade_no=${ref}&cancelled=1`,
    expires_at: Math.floor(Date.now() / 1000) + 3600,
    metadata: { out_trade_no: ref },
    payment_intent_data: { metadata: { out_trade_no: ref } },
    ...over,
  }
}
/** The error a call is refused with (the test fails when it is not refused). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected the call to be refused')
}
const paymentIdOf = (url: string) => new URL(url).pathname.split('/').pop()!

t.test('config: the key and the webhook secret, both or neither', async (t) => {
  const base = { DATABASE_URL: 'postgres://x/y' }
  t.equal(loadConfig(base).stripe, null)
  t.throws(() => loadConfig({ ...base, SANDBOX_STRIPE_SECRET_KEY: SECRET_KEY }), /SANDBOX_STRIPE/)
  t.throws(
    () => loadConfig({ ...base, SANDBOX_STRIPE_SECRET_KEY: 'pk_test_abcdefgh', SANDBOX_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET }),
    /sk_test_/,
  )
  t.match(loadConfig({ ...base, SANDBOX_STRIPE_SECRET_KEY: SECRET_KEY, SANDBOX_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET }).stripe, {
    secretKey: SECRET_KEY,
    webhookUrl: null,
    feeBps: 290,
  })
})

t.test('a Checkout Session: created, retrieved, paid on the hosted page, back to success_url, webhook signed', async (t) => {
  const p = params()
  const s = await stripe.checkout.sessions.create(p, { idempotencyKey: `k-${p.client_reference_id}` })
  t.match(s, {
    object: 'checkout.session',
    status: 'open',
    payment_status: 'unpaid',
    amount_total: 2500,
    currency: 'cny',
    payment_intent: null,
  })
  t.match(s.id, /^cs_test_/)
  t.equal(s.client_reference_id, p.client_reference_id)
  t.same(s.metadata, { out_trade_no: p.client_reference_id })
  t.equal((await stripe.checkout.sessions.retrieve(s.id)).id, s.id)
  t.equal(s.lastResponse.headers['stripe-version'], Stripe.API_VERSION, 'Stripe-Version echoed')

  const page = await (await fetch(s.url!.replace('localhost', '127.0.0.1'))).text()
  t.equal(countButtons(page, '支付'), 1)
  t.equal(countButtons(page, '取消'), 1)
  t.match(page, /25\.00/)

  const res = await postForm(`${sb.base}/cashier/${paymentIdOf(s.url!)}/pay`)
  t.equal(res.status, 302)
  t.equal(res.headers.get('location'), `http://merchant.test/return?out_trade_no=${p.client_reference_id}&session_id=${s.id}`)

  const paid = await stripe.checkout.sessions.retrieve(s.id)
  t.match(paid, { status: 'complete', payment_status: 'paid', url: null })
  t.match(paid.payment_intent, /^pi_/)
  const pi = await stripe.paymentIntents.retrieve(paid.payment_intent as string)
  t.match(pi, { status: 'succeeded', amount: 2500, amount_received: 2500, metadata: { out_trade_no: p.client_reference_id } })
  t.match(pi.latest_charge, /^ch_/)

  const [event] = await waitEvents((e) => e.type === 'checkout.session.completed' && (e.data.object as Stripe.Checkout.Session).id === s.id)
  t.match(event!.id, /^evt_/)
  t.match(event!.data.object, { client_reference_id: p.client_reference_id, payment_status: 'paid', amount_total: 2500 })
  t.throws(
    () => stripe.webhooks.constructEvent(hits.at(-1)!.body, hits.at(-1)!.signature!, 'whsec_other', 300),
    'another secret is refused',
  )

  // Paying again changes nothing; the page is no longer payable.
  const again = await postForm(`${sb.base}/cashier/${paymentIdOf(s.url!)}/pay`)
  t.equal(again.status, 302)
  const found = await stripe.paymentIntents.search({ query: `metadata['out_trade_no']:'${p.client_reference_id}'` })
  t.same(
    found.data.map((x) => x.id),
    [pi.id],
    'one PaymentIntent',
  )
})

t.test('取消 goes back to cancel_url and leaves the session open; expire closes it', async (t) => {
  const p = params()
  const s = await stripe.checkout.sessions.create(p)
  const res = await postForm(`${sb.base}/cashier/${paymentIdOf(s.url!)}/cancel`)
  t.equal(res.status, 302)
  t.equal(res.headers.get('location'), p.cancel_url)
  t.equal((await stripe.checkout.sessions.retrieve(s.id)).status, 'open')

  const expired = await stripe.checkout.sessions.expire(s.id)
  t.match(expired, { status: 'expired', url: null })
  t.match(
    await failure(stripe.checkout.sessions.expire(s.id)),
    { type: 'StripeInvalidRequestError', statusCode: 400 },
    'only open sessions expire',
  )
  const pay = await postForm(`${sb.base}/cashier/${paymentIdOf(s.url!)}/pay`)
  t.equal(pay.status, 409, 'an expired session cannot be paid')
  await waitEvents((e) => e.type === 'checkout.session.expired' && (e.data.object as Stripe.Checkout.Session).id === s.id)
})

t.test('errors: Stripe types, codes and statuses, parsed by the SDK', async (t) => {
  t.match(await failure(client(`sk_test_${'0'.repeat(24)}`).checkout.sessions.retrieve('cs_test_x')), {
    type: 'StripeAuthenticationError',
    statusCode: 401,
  })
  t.match(await failure(stripe.checkout.sessions.retrieve('cs_test_missing')), {
    type: 'StripeInvalidRequestError',
    statusCode: 404,
    code: 'resource_missing',
  })
  t.match(await failure(stripe.checkout.sessions.create(params({ expires_at: Math.floor(Date.now() / 1000) + 600 }))), {
    type: 'StripeInvalidRequestError',
    param: 'expires_at',
  })
  t.match(await failure(stripe.checkout.sessions.create({ ...params(), unknown_field: 'x' } as Stripe.Checkout.SessionCreateParams)), {
    code: 'parameter_unknown',
  })
  const raw = await fetch(`${sb.base}/v1/checkout/sessions/cs_test_missing`, { headers: { authorization: `Bearer ${SECRET_KEY}` } })
  t.equal(raw.status, 404)
  t.match(await raw.json(), { error: { type: 'invalid_request_error', code: 'resource_missing', message: String } })
})

t.test('payment_method_types: card, alipay, wechat_pay (client web) stored and shown; unknown types and currencies refused', async (t) => {
  const alipay = await stripe.checkout.sessions.create(params({ allowed_payment_method_types: ['alipay'] }))
  t.same(alipay.payment_method_types, ['alipay'])
  t.same((await stripe.checkout.sessions.retrieve(alipay.id)).payment_method_types, ['alipay'], 'stored on the session')
  const page = await (await fetch(alipay.url!.replace('localhost', '127.0.0.1'))).text()
  t.match(page, /支付宝 \(Alipay\)/, 'the hosted page shows the method')
  t.equal(countButtons(page, '支付'), 1)
  t.equal((await postForm(`${sb.base}/cashier/${paymentIdOf(alipay.url!)}/pay`)).status, 302)
  const paid = await stripe.checkout.sessions.retrieve(alipay.id)
  t.equal(paid.payment_status, 'paid')
  t.same((await stripe.paymentIntents.retrieve(paid.payment_intent as string)).payment_method_types, ['alipay'])

  const wechat = await stripe.checkout.sessions.create(
    params({ allowed_payment_method_types: ['wechat_pay', 'card'], payment_method_options: { wechat_pay: { client: 'web' } } }),
  )
  t.same(wechat.payment_method_types, ['wechat_pay', 'card'])
  t.same(wechat.allowed_payment_method_types, ['wechat_pay', 'card'])
  t.match(wechat.payment_method_options, { wechat_pay: { client: 'web' } })
  t.match(await (await fetch(wechat.url!.replace('localhost', '127.0.0.1'))).text(), /微信支付 \(WeChat Pay\)/)
  t.same((await stripe.checkout.sessions.create(params())).payment_method_types, ['card'], 'card by default')

  const newest = async () => (await stripe.checkout.sessions.list({ limit: 1 })).data[0]?.id
  const before = await newest()
  t.match(await failure(stripe.checkout.sessions.create(params({ allowed_payment_method_types: ['card', 'bitcoin'] }))), {
    type: 'StripeInvalidRequestError',
    statusCode: 400,
    param: 'allowed_payment_method_types[1]',
  })
  t.match(await failure(stripe.checkout.sessions.create(params({ allowed_payment_method_types: ['wechat_pay'] }))), {
    type: 'StripeInvalidRequestError',
    param: 'payment_method_options[wechat_pay][client]',
  })
  t.match(
    await failure(
      stripe.checkout.sessions.create(
        params({ allowed_payment_method_types: ['wechat_pay'], payment_method_options: { wechat_pay: { client: 'android' } } }),
      ),
    ),
    { param: 'payment_method_options[wechat_pay][client]' },
  )
  const krw = params({ allowed_payment_method_types: ['alipay'] })
  krw.line_items![0]!.price_data!.currency = 'krw'
  t.match(await failure(stripe.checkout.sessions.create(krw)), {
    param: 'allowed_payment_method_types[0]',
    code: 'payment_method_currency_mismatch',
  })
  const raw = await fetch(`${sb.base}/v1/checkout/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'mode=payment&success_url=http%3A%2F%2Fm.test%2Fok&line_items[0][quantity]=1&line_items[0][price_data][currency]=cny&line_items[0][price_data][unit_amount]=100&line_items[0][price_data][product_data][name]=x&payment_method_types[0]=paypal',
  })
  t.equal(raw.status, 400)
  t.match(await raw.json(), { error: { type: 'invalid_request_error', param: 'payment_method_types[0]', message: String } })
  t.equal(await newest(), before, 'a refused create makes no session')
})

t.test('idempotency: the same key and parameters answer the same session; other parameters are refused', async (t) => {
  const p = params()
  const key = `idem-${p.client_reference_id}`
  const a = await stripe.checkout.sessions.create(p, { idempotencyKey: key })
  const b = await stripe.checkout.sessions.create(p, { idempotencyKey: key })
  t.equal(b.id, a.id)
  t.equal(b.lastResponse.headers['idempotent-replayed'], 'true')
  t.match(await failure(stripe.checkout.sessions.create({ ...p, expires_at: p.expires_at! + 60 }, { idempotencyKey: key })), {
    type: 'StripeIdempotencyError',
  })
  const rows = await sb.sql<
    { n: number }[]
  >`select count(*)::int as n from stripe_sessions where client_reference_id = ${p.client_reference_id!}`
  t.equal(rows[0]?.n, 1, 'one session')
})

t.test('refunds: partial, the rest, too much refused, idempotent; charge.refunded webhooks', async (t) => {
  const p = params()
  const s = await stripe.checkout.sessions.create(p)
  await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/pay`, { notify: false })
  const pi = (await stripe.checkout.sessions.retrieve(s.id)).payment_intent as string
  const r1 = await stripe.refunds.create(
    { payment_intent: pi, amount: 1000, metadata: { refund_no: 'R1' } },
    { idempotencyKey: 'refund-R1' },
  )
  t.match(r1, { object: 'refund', status: 'succeeded', amount: 1000, payment_intent: pi, metadata: { refund_no: 'R1' } })
  const again = await stripe.refunds.create(
    { payment_intent: pi, amount: 1000, metadata: { refund_no: 'R1' } },
    { idempotencyKey: 'refund-R1' },
  )
  t.equal(again.id, r1.id, 'the same key: the same refund')
  t.match(await failure(stripe.refunds.create({ payment_intent: pi, amount: 1501 })), { code: 'amount_too_large', statusCode: 400 })
  const r2 = await stripe.refunds.create({ payment_intent: pi })
  t.equal(r2.amount, 1500, 'no amount: what is left')
  t.match(await failure(stripe.refunds.create({ payment_intent: pi, amount: 1 })), { code: 'charge_already_refunded' })
  t.equal((await stripe.refunds.retrieve(r2.id)).id, r2.id)
  const refunded = await waitEvents((e) => e.type === 'charge.refunded' && (e.data.object as Stripe.Charge).payment_intent === pi, 2)
  t.same(
    refunded.map((e) => (e.data.object as Stripe.Charge).amount_refunded).sort((a, b) => a - b),
    [1000, 2500],
  )
  t.match(refunded[0]!.data.object, { metadata: { out_trade_no: p.client_reference_id } })
})

t.test('lists: sessions and balance transactions page with has_more / starting_after; sources expand', async (t) => {
  const since = Math.floor(Date.now() / 1000) - 5
  const refs: string[] = []
  for (let i = 0; i < 3; i++) {
    const p = params()
    refs.push(p.client_reference_id!)
    await stripe.checkout.sessions.create(p)
    await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/pay`, { notify: false })
  }
  const page1 = await stripe.checkout.sessions.list({ created: { gte: since }, limit: 2 })
  t.equal(page1.data.length, 2)
  t.equal(page1.has_more, true)
  const all: string[] = []
  for await (const s of stripe.checkout.sessions.list({ created: { gte: since }, limit: 2 })) all.push(s.client_reference_id!)
  for (const r of refs) t.ok(all.includes(r), `${r} listed`)
  t.equal(new Set(all).size, all.length, 'no session twice')

  const bts: Stripe.BalanceTransaction[] = []
  for await (const bt of stripe.balanceTransactions.list({ created: { gte: since, lt: since + 3600 }, limit: 2, expand: ['data.source'] }))
    bts.push(bt)
  const mine = bts.filter((bt) => refs.includes(((bt.source as Stripe.Charge).metadata ?? {}).out_trade_no!))
  t.equal(mine.length, 3, 'a charge for each')
  for (const bt of mine) {
    t.match(bt, { type: 'charge', amount: 2500, fee: 73, net: 2427, currency: 'cny' })
    t.match(bt.source, { object: 'charge', amount: 2500 })
  }
  const none = await stripe.balanceTransactions.list({ created: { gte: since + 7200 } })
  t.same(none.data, [])
})

t.test('webhooks are retried with backoff until a 2xx, each attempt signed anew', async (t) => {
  const p = params()
  await stripe.checkout.sessions.create(p)
  statuses.push(500, 503)
  await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/pay`, {})
  const mine = () => hits.filter((h) => h.body.includes(p.client_reference_id!))
  const deadline = Date.now() + 15_000
  while (mine().length < 3 && Date.now() < deadline) await sleep(50)
  t.equal(mine().length, 3, 'two failures, then delivered')
  await sleep(300)
  t.equal(mine().length, 3, 'nothing after the 2xx')
  const ids = mine().map((h) => (JSON.parse(h.body) as { id: string }).id)
  t.equal(new Set(ids).size, 1, 'the same event each time')
  for (const h of mine()) t.ok(stripe.webhooks.constructEvent(h.body, h.signature!, WEBHOOK_SECRET, 300), 'each attempt verifies')
  const attempts = (await controlJson(sb.base, 'GET', `/control/stripe/notifications?outTradeNo=${p.client_reference_id}`)).json
  t.same(
    attempts.map((a: { status: number }) => a.status),
    [500, 503, 200],
  )
})

t.test('control: notify now, forged (wrong secret, stale, unsigned, replayed id); close; faults', async (t) => {
  const p = params()
  await stripe.checkout.sessions.create(p)
  await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/pay`, { notify: false })
  const ok = await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/notify`, {})
  t.equal(ok.status, 200)
  t.equal(ok.json.deliveries[0].status, 200)
  const sent = hits.at(-1)!
  t.ok(stripe.webhooks.constructEvent(sent.body, sent.signature!, WEBHOOK_SECRET, 300))

  const wrong = await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/notify`, { wrongSecret: true })
  t.throws(() => stripe.webhooks.constructEvent(hits.at(-1)!.body, hits.at(-1)!.signature!, WEBHOOK_SECRET, 300), 'wrong secret')
  t.not(wrong.json.signature, null)
  await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/notify`, { timestampOffsetSeconds: -600 })
  t.throws(() => stripe.webhooks.constructEvent(hits.at(-1)!.body, hits.at(-1)!.signature!, WEBHOOK_SECRET, 300), /tolerance/, 'stale')
  await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/notify`, { unsigned: true })
  t.equal(hits.at(-1)!.signature, undefined, 'unsigned')
  const replay = await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/notify`, { eventId: ok.json.event.id })
  t.equal(replay.json.event.id, ok.json.event.id, 'the same event id again')

  t.equal(
    (await controlJson(sb.base, 'POST', `/control/stripe/trades/${p.client_reference_id}/close`)).status,
    409,
    'a paid session cannot be expired',
  )
  const open = params()
  await stripe.checkout.sessions.create(open)
  const closed = await controlJson(sb.base, 'POST', `/control/stripe/trades/${open.client_reference_id}/close`)
  t.match(closed.json, { state: 'EXPIRED', status: 'expired' })
  t.equal((await controlJson(sb.base, 'GET', `/control/stripe/trades/NOPE${Date.now()}`)).status, 404)

  // Faults: a 503 the SDK reads as an API error, garbage it cannot parse.
  await controlJson(sb.base, 'POST', '/control/faults', { provider: 'stripe', operation: 'create', mode: '5xx' })
  t.match(await failure(stripe.checkout.sessions.create(params())), { type: 'StripeAPIError', statusCode: 503 })
  await controlJson(sb.base, 'POST', '/control/faults', { provider: 'stripe', operation: 'create', mode: 'garbage' })
  t.match(await failure(stripe.checkout.sessions.create(params())), { type: 'StripeAPIError' })
  await controlJson(sb.base, 'POST', '/control/faults', { provider: 'stripe', operation: 'create', mode: 'none' })
  t.ok((await stripe.checkout.sessions.create(params())).id)
  const unknownPage = await getManual(`${sb.base}/cashier/stripe_${'x'.repeat(24)}`)
  t.equal(unknownPage.status, 404)
})
