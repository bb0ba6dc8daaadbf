/**
 * Stripe's own Alipay / WeChat Pay (STRIPE_METHODS) against the provider sandbox: pay and the sandbox run as
 * their own processes (devkit's stackEnv, with STRIPE_METHODS=card,alipay,wechat_pay), a small HTTP server
 * stands in for main. With the native Alipay and WeChat Pay configured too they keep ALIPAY and WECHAT_PAY, so
 * main never picks Stripe's channels here; pay is asked for them directly (provider STRIPE, channel alipay), as
 * main would where Stripe is the only provider of the method. The official SDK reads the sessions pay made.
 */
import t from 'tap'
import Stripe from 'stripe'
import type { CreatePaymentResponse, Envelope, PayMethodInfo } from '@paysys/contracts'
import { createRequest, startPayWithSandbox, waitFor } from './helpers.ts'

const FRONTEND = 'http://localhost:3000'
const { keys, main, sandbox, client, sql } = await startPayWithSandbox(t, {
  name: 'stripe',
  frontendUrl: FRONTEND,
  pay: { STRIPE_METHODS: 'card,alipay,wechat_pay' },
})
const sandboxUrl = new URL(sandbox.url)
const stripe = new Stripe(keys.stripe.secretKey, {
  host: sandboxUrl.hostname,
  port: Number(sandboxUrl.port),
  protocol: 'http',
  maxNetworkRetries: 0,
  telemetry: false,
})

async function create(channel: string) {
  const req = createRequest({ method: 'STRIPE', channel, amount: 1990, expireAt: new Date(Date.now() + 3600_000).toISOString() })
  const res = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const [a] = await sql<{ provider_ref: string; out_trade_no: string }[]>`
    select provider_ref, out_trade_no from payment_attempts where order_no = ${req.orderNo}`
  return { req, data: res.body.data, session: await stripe.checkout.sessions.retrieve(a!.provider_ref) }
}

t.test('with the native providers configured, ALIPAY and WECHAT_PAY stay theirs; Stripe keeps BANK_CARD', async (t) => {
  const methods = (await client.get<Envelope<PayMethodInfo[]>>('/api/pay/methods')).body.data
  t.match(Object.fromEntries(methods.map((m) => [m.method, m.provider])), {
    ALIPAY: 'ALIPAY',
    WECHAT_PAY: 'WECHAT_PAY',
    BANK_CARD: 'STRIPE',
  })
})

t.test('a Stripe-alipay purchase: the session offers alipay, paid on the hosted page, credited once', async (t) => {
  const { req, data, session } = await create('alipay')
  t.match(data, { payType: 'jump', method: 'STRIPE', channel: 'alipay', amount: 1990 })
  t.same(session.allowed_payment_method_types, ['alipay'])
  t.same(session.payment_method_types, ['alipay'])
  t.match(session, { amount_total: 1990, currency: 'cny', client_reference_id: req.orderNo })
  const cashier = new URL(data.paymentUrl!).pathname
  const page = await (await fetch(`${sandbox.url}${cashier}`)).text()
  t.match(page, /支付宝 \(Alipay\)/, 'the hosted page opens on Alipay')

  const res = await fetch(`${sandbox.url}${cashier}/pay`, { method: 'POST', redirect: 'manual' })
  t.equal(res.status, 302)
  const back = await fetch(res.headers.get('location')!, { redirect: 'manual' })
  t.equal(back.headers.get('location'), `${FRONTEND}/order/${req.orderId}`, 'the browser lands on the frontend order page')

  await waitFor(async () => main.callbacks.some((c) => c.event.orderNo === req.orderNo))
  const [attempt] = await sql`select status, paid_via, channel from payment_attempts where order_no = ${req.orderNo}`
  t.match(attempt, { status: 'PAID', channel: 'alipay' })
  // Another completion event of the same session (the sandbox's control API sends one now) credits nothing more.
  const resend = await fetch(`${sandbox.url}/control/stripe/trades/${req.orderNo}/notify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(resend.status, 200, 'the sandbox sent the event again')
  await waitFor(async () => (await sql`select 1 from notify_log where out_trade_no = ${req.orderNo}`).length >= 2)
  const outbox = await sql`select payload from outbox where payload->>'orderNo' = ${req.orderNo}`
  t.same(
    outbox.map((r) => [(r.payload as { type: string }).type, (r.payload as { amount: number }).amount]),
    [['PAYMENT_SUCCEEDED', 1990]],
    'one payment event',
  )
  t.equal(main.callbacks.filter((c) => c.event.orderNo === req.orderNo && c.event.type === 'PAYMENT_SUCCEEDED').length, 1)
})

t.test('a Stripe-wechat_pay create asks Checkout for wechat_pay with the web client', async (t) => {
  const { data, session } = await create('wechat_pay')
  t.match(data, { payType: 'jump', method: 'STRIPE', channel: 'wechat_pay' })
  t.same(session.allowed_payment_method_types, ['wechat_pay'])
  t.match(session.payment_method_options, { wechat_pay: { client: 'web' } })
})
