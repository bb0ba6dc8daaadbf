/**
 * Stripe's pure parts in pay: config (both secrets or neither), the one state mapping, `expires_at` within
 * Stripe's 30 min – 24 h window, webhook signatures (what the sandbox and Stripe send verifies; wrong secret,
 * stale, future, unsigned and tampered bodies do not), events → trades, balance transactions → bill rows.
 * The adapter against the sandbox is exercised end to end in test/e2e/stripe.test.ts.
 */
import t from 'tap'
import { createHmac } from 'node:crypto'
import Stripe from 'stripe'
import { createEnvReader } from '@paysys/config'
import { readStripeConfig } from '../src/providers/stripe/config.ts'
import {
  billRowFromBalanceTransaction,
  sessionExpiresAt,
  stripeSessionState,
  tradeFromEvent,
  verifyWebhookSignature,
} from '../src/providers/stripe/transformers.ts'

const SECRET = `whsec_${'c'.repeat(32)}`
const sign = (body: string, t: number, secret = SECRET) => `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
const now = Date.now()
const nowS = Math.floor(now / 1000)

t.test('config: both secrets or neither; key shapes checked', async (t) => {
  const read = (env: Record<string, string>) => {
    const r = createEnvReader(env)
    return { config: readStripeConfig(r), problems: r.problems }
  }
  t.same(read({}), { config: null, problems: [] })
  t.match(read({ STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}` }).problems, [/both/])
  t.match(read({ STRIPE_SECRET_KEY: 'pk_test_abcdefghij', STRIPE_WEBHOOK_SECRET: SECRET }).problems, [/sk_test_/])
  t.match(read({ STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}`, STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_CURRENCY: 'JPY' }).problems, [
    /two-decimal/,
  ])
  t.same(read({ STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}`, STRIPE_WEBHOOK_SECRET: SECRET }), {
    config: {
      secretKey: `sk_test_${'a'.repeat(24)}`,
      webhookSecret: SECRET,
      apiBase: 'https://api.stripe.com',
      currency: 'cny',
      methods: ['card'],
    },
    problems: [],
  })
})

t.test('STRIPE_METHODS: card by default; known types, each once, in a currency Stripe offers them in', async (t) => {
  const read = (env: Record<string, string>) => {
    const r = createEnvReader({ STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}`, STRIPE_WEBHOOK_SECRET: SECRET, ...env })
    return { methods: readStripeConfig(r)?.methods, problems: r.problems }
  }
  t.same(read({ STRIPE_METHODS: 'card, Alipay,wechat_pay' }), { methods: ['card', 'alipay', 'wechat_pay'], problems: [] })
  t.same(read({ STRIPE_METHODS: 'alipay' }), { methods: ['alipay'], problems: [] })
  t.match(read({ STRIPE_METHODS: 'card,paypal' }).problems, [/STRIPE_METHODS: unknown method "paypal"/])
  t.match(read({ STRIPE_METHODS: 'card,' }).problems, [/STRIPE_METHODS: unknown method ""/])
  t.match(read({ STRIPE_METHODS: 'card,card' }).problems, [/listed twice/])
  t.match(read({ STRIPE_METHODS: 'card,wechat_pay', STRIPE_CURRENCY: 'brl' }).problems, [/wechat_pay .*not in STRIPE_CURRENCY brl/])
  t.same(read({ STRIPE_METHODS: 'card', STRIPE_CURRENCY: 'brl' }).problems, [], 'cards take any currency')
})

t.test('the one state mapping; unknown is never SUCCEEDED', async (t) => {
  t.equal(stripeSessionState('open', 'unpaid'), 'PENDING')
  t.equal(stripeSessionState('complete', 'unpaid'), 'PENDING', 'an asynchronous method still processing')
  t.equal(stripeSessionState('complete', 'paid'), 'SUCCEEDED')
  t.equal(stripeSessionState('expired', 'unpaid'), 'CLOSED')
  t.equal(stripeSessionState('complete', 'no_payment_required'), 'UNKNOWN')
  t.equal(stripeSessionState(null, 'paid'), 'UNKNOWN')
})

t.test('expires_at: the order expiry, within Stripe 30 minutes to 24 hours', async (t) => {
  t.equal(sessionExpiresAt(new Date(now + 2 * 3600_000), now), Math.floor((now + 2 * 3600_000) / 1000))
  t.equal(sessionExpiresAt(new Date(now + 10 * 60_000), now), nowS + 31 * 60, 'sooner: the minimum (the order close expires it)')
  t.equal(sessionExpiresAt(new Date(now + 48 * 3600_000), now), nowS + 24 * 3600 - 60)
  t.equal(sessionExpiresAt(null, now), nowS + 24 * 3600 - 60)
})

t.test('webhook signatures: the SDK-made header verifies; forgeries do not', async (t) => {
  const body = '{"id":"evt_1","object":"event"}'
  t.same(verifyWebhookSignature(body, sign(body, nowS), SECRET, now), { ok: true })
  const sdkHeader = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET })
  t.same(verifyWebhookSignature(body, sdkHeader, SECRET, now), { ok: true }, 'as the official library signs')
  t.same(verifyWebhookSignature(body, `${sign(body, nowS)},v0=abc`, SECRET, now), { ok: true }, 'other schemes ignored')
  t.same(verifyWebhookSignature(body, sign(body, nowS, `whsec_${'d'.repeat(32)}`), SECRET, now), { ok: false, reason: 'BAD_SIGNATURE' })
  t.same(verifyWebhookSignature(`${body} `, sign(body, nowS), SECRET, now), { ok: false, reason: 'BAD_SIGNATURE' }, 'tampered body')
  t.same(verifyWebhookSignature(body, sign(body, nowS - 301), SECRET, now), { ok: false, reason: 'TIMESTAMP_EXPIRED' })
  t.same(verifyWebhookSignature(body, sign(body, nowS - 299), SECRET, now), { ok: true }, 'within 300 s')
  t.same(verifyWebhookSignature(body, sign(body, nowS + 600), SECRET, now), { ok: false, reason: 'TIMESTAMP_EXPIRED' })
  t.same(verifyWebhookSignature(body, undefined, SECRET, now), { ok: false, reason: 'BAD_SIGNATURE' }, 'unsigned')
  t.same(verifyWebhookSignature(body, 'garbage', SECRET, now), { ok: false, reason: 'BAD_SIGNATURE' })
  t.same(verifyWebhookSignature(body, `t=${nowS},t=${nowS},v1=00`, SECRET, now), { ok: false, reason: 'BAD_SIGNATURE' })
})

const session = (over: object = {}) => ({
  id: 'cs_test_1',
  object: 'checkout.session',
  status: 'complete',
  payment_status: 'paid',
  client_reference_id: 'P1',
  metadata: { out_trade_no: 'P1' },
  amount_total: 1000,
  currency: 'cny',
  payment_intent: 'pi_1',
  created: nowS,
  ...over,
})
const event = (type: string, object: object) => JSON.stringify({ id: 'evt_1', object: 'event', type, data: { object } })

t.test('events → trades', async (t) => {
  t.match(tradeFromEvent(event('checkout.session.completed', session()), 'cny'), {
    ok: true,
    trade: { outTradeNo: 'P1', state: 'SUCCEEDED', tradeNo: 'pi_1', amount: 1000 },
  })
  t.match(tradeFromEvent(event('checkout.session.completed', session({ payment_status: 'unpaid', payment_intent: null })), 'cny'), {
    ok: true,
    trade: { state: 'PENDING' },
  })
  t.match(tradeFromEvent(event('checkout.session.async_payment_failed', session({ payment_status: 'unpaid' })), 'cny'), {
    ok: true,
    trade: { state: 'CLOSED' },
  })
  t.match(tradeFromEvent(event('checkout.session.expired', session({ status: 'expired', payment_status: 'unpaid' })), 'cny'), {
    ok: true,
    trade: { state: 'CLOSED' },
  })
  const charge = {
    id: 'ch_1',
    object: 'charge',
    amount: 1000,
    currency: 'cny',
    paid: true,
    status: 'succeeded',
    payment_intent: 'pi_1',
    metadata: { out_trade_no: 'P1' },
    created: nowS,
  }
  t.match(tradeFromEvent(event('charge.refunded', charge), 'cny'), {
    ok: true,
    trade: { outTradeNo: 'P1', state: 'SUCCEEDED', tradeNo: 'pi_1' },
  })
  t.match(tradeFromEvent(event('checkout.session.completed', session({ currency: 'usd' })), 'cny'), {
    ok: false,
    reason: 'MALFORMED',
    outTradeNo: 'P1',
  })
  t.match(tradeFromEvent(event('checkout.session.completed', session({ payment_intent: null })), 'cny'), { ok: false, reason: 'MALFORMED' })
  t.match(tradeFromEvent(event('customer.created', { object: 'customer' }), 'cny'), { ok: false, reason: 'UNSUPPORTED_EVENT' })
  t.match(tradeFromEvent('not json', 'cny'), { ok: false, reason: 'MALFORMED' })
  t.match(
    tradeFromEvent(JSON.stringify({ id: 'x', object: 'event', type: 'checkout.session.completed', data: { object: session() } }), 'cny'),
    {
      ok: false,
      reason: 'MALFORMED',
    },
  )
})

t.test('balance transactions → bill rows', async (t) => {
  const base = { currency: 'cny', created: nowS }
  t.match(
    billRowFromBalanceTransaction(
      {
        ...base,
        id: 'txn_1',
        type: 'charge',
        amount: 1000,
        fee: 29,
        source: { id: 'ch_1', metadata: { out_trade_no: 'P1' }, payment_intent: 'pi_1' },
      },
      'cny',
    ),
    { kind: 'PAYMENT', outTradeNo: 'P1', tradeNo: 'pi_1', amount: 1000, fee: 29, refundNo: null },
  )
  t.match(
    billRowFromBalanceTransaction(
      {
        ...base,
        id: 'txn_2',
        type: 'refund',
        amount: -400,
        fee: 0,
        source: { id: 're_1', metadata: { out_trade_no: 'P1', refund_no: 'R1' }, payment_intent: 'pi_1' },
      },
      'cny',
    ),
    { kind: 'REFUND', outTradeNo: 'P1', amount: 400, fee: 0, refundNo: 'R1' },
  )
  t.equal(billRowFromBalanceTransaction({ ...base, id: 'txn_3', type: 'payout', amount: -5000, fee: 0, source: 'po_1' }, 'cny'), null)
  t.equal(
    billRowFromBalanceTransaction({ ...base, id: 'txn_4', type: 'charge', amount: 1000, fee: 29, source: 'ch_1' }, 'cny'),
    'invalid',
    'source not expanded',
  )
  t.equal(
    billRowFromBalanceTransaction(
      { ...base, id: 'txn_5', type: 'charge', amount: 1000, fee: 29, source: { id: 'ch_1', metadata: {} } },
      'cny',
    ),
    'invalid',
    'not our trade number',
  )
})
