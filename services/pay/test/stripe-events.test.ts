/**
 * Stripe webhooks are processed once by their event id (issue 21): the id is claimed with the change the
 * event causes, a replay (the same `evt_…`, freshly signed, also after pay restarts) is acknowledged 2xx as a
 * DUPLICATE (EVENT_REPLAYED) and changes nothing, concurrent deliveries of one event record it once, and a
 * rejected event is not claimed (Stripe's retry is processed). Events are signed by the official library.
 * Attempts are inserted as pay's create would leave them (the create itself needs Stripe: test/e2e/stripe.test.ts).
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import Stripe from 'stripe'
import { newOrderNo, setupPay, type PayHarness } from './helpers.ts'

const SECRET = `whsec_${'e'.repeat(32)}`
const STRIPE_ENV = { STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}`, STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_BASE: 'http://127.0.0.1:9' }

let seq = 0
async function pendingAttempt(pay: PayHarness, amount = 1000) {
  const orderNo = newOrderNo()
  await pay.sql`insert into payment_attempts (id, order_id, order_no, out_trade_no, provider, channel, amount, subject, status)
                values (${randomUUID()}, ${5000 + seq++}, ${orderNo}, ${orderNo}, 'STRIPE', 'card', ${amount}, '积分', 'PENDING')`
  return orderNo
}
const session = (orderNo: string, over: object = {}) => ({
  id: `cs_test_${orderNo}`,
  object: 'checkout.session',
  status: 'complete',
  payment_status: 'paid',
  client_reference_id: orderNo,
  metadata: { out_trade_no: orderNo },
  amount_total: 1000,
  currency: 'cny',
  payment_intent: `pi_${orderNo}`,
  created: Math.floor(Date.now() / 1000),
  ...over,
})
const eventBody = (id: string, type: string, object: object) =>
  JSON.stringify({ id, object: 'event', type, api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), data: { object } })
/** Delivers `body` signed now (a replay is the same event signed again, as Stripe's retries and a resend are). */
const deliver = (pay: PayHarness, body: string) =>
  pay.app.inject({
    method: 'POST',
    url: '/api/pay/notify/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET }),
    },
    payload: body,
  })
const logOf = (pay: PayHarness, orderNo: string) =>
  pay.sql<{ verdict: string; reason: string | null }[]>`select verdict, reason from notify_log where out_trade_no = ${orderNo} order by id`
async function state(pay: PayHarness) {
  const attempts = await pay.sql`select id, status, trade_no, paid_at, closed_at, updated_at from payment_attempts order by id`
  const outbox = await pay.sql`select event_id, payment_attempt_id from outbox order by id`
  const refunds = await pay.sql`select refund_no from refunds order by id`
  const events = await pay.sql`select provider, event_id, event_type, out_trade_no from provider_events order by event_id`
  return JSON.stringify({ attempts, outbox, refunds, events })
}

t.test('a payment event once by its id: a replay, also after a restart, is a DUPLICATE that changes nothing', async (t) => {
  const pay = await setupPay(t, { env: STRIPE_ENV })
  const orderNo = await pendingAttempt(pay)
  const paid = eventBody('evt_paid1', 'checkout.session.completed', session(orderNo))

  const first = await deliver(pay, paid)
  t.equal(first.statusCode, 200, first.body)
  t.match(await pay.sql`select status, trade_no, paid_via from payment_attempts where order_no = ${orderNo}`, [
    { status: 'PAID', trade_no: `pi_${orderNo}`, paid_via: 'NOTIFY' },
  ])
  t.same(await pay.sql`select provider, event_id, event_type, out_trade_no from provider_events`, [
    { provider: 'STRIPE', event_id: 'evt_paid1', event_type: 'checkout.session.completed', out_trade_no: orderNo },
  ])
  const after = await state(pay)

  const replay = await deliver(pay, paid)
  t.equal(replay.statusCode, 200, 'acknowledged, so Stripe stops')
  t.equal(await state(pay), after, 'nothing changed')

  // Another instance (or pay after a restart) on the same database: the id is remembered there, not in memory.
  const restarted = await setupPay(t, { env: STRIPE_ENV, keys: pay.keys, databaseUrl: pay.env.DATABASE_URL })
  const again = await deliver(restarted, paid)
  t.equal(again.statusCode, 200)
  t.equal(await state(pay), after, 'nothing changed after the restart either')
  t.same(
    (await logOf(pay, orderNo)).map((r) => [r.verdict, r.reason]),
    [
      ['ACCEPTED', null],
      ['DUPLICATE', 'EVENT_REPLAYED'],
      ['DUPLICATE', 'EVENT_REPLAYED'],
    ],
  )

  // Another event about the same payment (charge.refunded, a second completed): a duplicate by the trade, claimed too.
  const other = eventBody('evt_paid2', 'checkout.session.async_payment_succeeded', session(orderNo))
  t.equal((await deliver(pay, other)).statusCode, 200)
  t.equal((await deliver(pay, other)).statusCode, 200)
  t.same(
    (await logOf(pay, orderNo)).slice(3).map((r) => [r.verdict, r.reason]),
    [
      ['DUPLICATE', null],
      ['DUPLICATE', 'EVENT_REPLAYED'],
    ],
  )
  t.equal((await pay.sql`select count(*)::int as n from provider_events where event_id = 'evt_paid2'`)[0]!.n, 1)
})

t.test('a closing event once; an ignored one once; a rejected one is not claimed and its retry is processed', async (t) => {
  const pay = await setupPay(t, { env: STRIPE_ENV })
  const expiring = await pendingAttempt(pay)
  const expired = eventBody('evt_exp1', 'checkout.session.expired', session(expiring, { status: 'expired', payment_status: 'unpaid' }))
  t.equal((await deliver(pay, expired)).statusCode, 200)
  const [closed] = await pay.sql`select status, closed_at from payment_attempts where order_no = ${expiring}`
  t.equal(closed!.status, 'CLOSED')
  const after = await state(pay)
  t.equal((await deliver(pay, expired)).statusCode, 200)
  t.equal(await state(pay), after)
  t.same(
    (await logOf(pay, expiring)).map((r) => r.verdict),
    ['ACCEPTED', 'DUPLICATE'],
  )

  const processing = await pendingAttempt(pay)
  const unpaid = eventBody(
    'evt_async1',
    'checkout.session.completed',
    session(processing, { payment_status: 'unpaid', payment_intent: null }),
  )
  t.equal((await deliver(pay, unpaid)).statusCode, 200)
  t.equal((await deliver(pay, unpaid)).statusCode, 200)
  t.same(
    (await logOf(pay, processing)).map((r) => [r.verdict, r.reason]),
    [
      ['IGNORED', 'complete/unpaid'],
      ['DUPLICATE', 'EVENT_REPLAYED'],
    ],
  )

  // A wrong amount is refused (400: Stripe retries) and not claimed: each retry is judged again.
  const wrong = await pendingAttempt(pay, 999)
  const mismatched = eventBody('evt_amount1', 'checkout.session.completed', session(wrong))
  t.equal((await deliver(pay, mismatched)).statusCode, 400)
  t.equal((await deliver(pay, mismatched)).statusCode, 400)
  t.same(
    (await logOf(pay, wrong)).map((r) => [r.verdict, r.reason]),
    [
      ['REJECTED', 'AMOUNT_MISMATCH'],
      ['REJECTED', 'AMOUNT_MISMATCH'],
    ],
  )
  t.equal((await pay.sql`select count(*)::int as n from provider_events where event_id = 'evt_amount1'`)[0]!.n, 0)
  t.equal((await pay.sql`select status from payment_attempts where order_no = ${wrong}`)[0]!.status, 'PENDING')
})

t.test('concurrent deliveries of one event: one records the payment, the rest are DUPLICATE', async (t) => {
  const pay = await setupPay(t, { env: STRIPE_ENV })
  const orderNo = await pendingAttempt(pay)
  const body = eventBody('evt_race1', 'checkout.session.completed', session(orderNo))
  const answers = await Promise.all(Array.from({ length: 8 }, () => deliver(pay, body)))
  t.same(
    answers.map((a) => a.statusCode),
    Array(8).fill(200),
  )
  const verdicts = await pay.sql`select verdict, count(*)::int as n from notify_log where out_trade_no = ${orderNo} group by verdict`
  t.same(Object.fromEntries(verdicts.map((v) => [v.verdict, v.n])), { ACCEPTED: 1, DUPLICATE: 7 }, 'accepted once (notify_log)')
})
