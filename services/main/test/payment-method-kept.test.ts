/**
 * The buyer's payment method and the provider that took the money are two fields: a BANK_CARD order
 * paid through Epay still reads BANK_CARD (it used to read EPAY once paid). And pay's events are applied
 * once by event id, recorded in the same transaction as the payment (deliveries racing: one applies).
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { newOrderNo } from '../src/orders/order-no.ts'
import { bearer, registerUser, signedHeaders, startMain } from './helpers.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app, sql } = main

async function insertOrder(userId: number) {
  const [p] = await sql`select id from products where package_code = 'CREDITS_500'`
  const [o] =
    await sql`insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, amount_fen, expire_at, customer_email)
    values (${newOrderNo()}, ${userId}, ${p!.id}, 'credits', 'CREDITS_500', '标准套餐', 500, 2500, now() + interval '30 minutes', 'x@example.com')
    returning id, order_no as "orderNo"`
  return o as { id: number; orderNo: string }
}
const paidEvent = (order: { id: number; orderNo: string }, provider: string, channel: string, eventId = randomUUID()) => ({
  eventId,
  type: 'PAYMENT_SUCCEEDED',
  orderId: order.id,
  orderNo: order.orderNo,
  amount: 2500,
  provider,
  channel,
  tradeNo: `T${Date.now()}`,
  paidAt: new Date().toISOString(),
})
function deliver(body: object) {
  const text = JSON.stringify(body)
  return app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    payload: text,
    headers: signedHeaders('POST', '/api/orders/callback', text),
  })
}

t.test('a BANK_CARD order paid through Epay keeps BANK_CARD as its method; the provider is recorded beside it', async (t) => {
  const { token, userId } = await registerUser(app, 'bank@example.com')
  const order = await insertOrder(userId)
  await app.deps.orders.recordPaymentStarted(order.id, { method: 'BANK_CARD', provider: 'EPAY', channel: 'bank', paymentId: randomUUID() })
  const res = await deliver(paidEvent(order, 'EPAY', 'bank'))
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().data.outcome, 'PAID')
  const seen = (await app.inject({ url: `/api/orders/${order.id}`, headers: bearer(token) })).json().data
  t.match(seen, { status: 'PAID', paymentMethod: 'BANK_CARD', paymentProvider: 'EPAY', paymentChannel: 'bank' })
  const [row] = await sql`select payment_method, payment_provider from orders where id = ${order.id}`
  t.same(row, { payment_method: 'BANK_CARD', payment_provider: 'EPAY' }, 'stored as two facts')
})

t.test('an order paid with no payment start recorded takes the provider as its method (the best that is known)', async (t) => {
  const { userId } = await registerUser(app, 'lost-start@example.com')
  const order = await insertOrder(userId)
  t.equal((await deliver(paidEvent(order, 'EPAY', 'alipay'))).json().data.outcome, 'PAID')
  const [row] = await sql`select payment_method, payment_provider, payment_channel from orders where id = ${order.id}`
  t.same(row, { payment_method: 'EPAY', payment_provider: 'EPAY', payment_channel: 'alipay' })
})

t.test('the same event delivered twice at once is applied once; the other delivery is DUPLICATE', async (t) => {
  const { token, userId } = await registerUser(app, 'race@example.com')
  const order = await insertOrder(userId)
  const e = paidEvent(order, 'ALIPAY', 'qr')
  const outcomes = (await Promise.all([deliver(e), deliver(e), deliver(e)])).map((r) => r.json().data.outcome).sort()
  t.same(outcomes, ['DUPLICATE', 'DUPLICATE', 'PAID'])
  t.equal((await app.inject({ url: '/api/credits/balance', headers: bearer(token) })).json().data.balance, 500, 'credited once')
  const [recorded] = await sql`select outcome from processed_events where event_id = ${e.eventId}`
  t.equal(recorded!.outcome, 'PAID', 'recorded with what it did')
  // Another event for the same payment (a new id) changes nothing and is recorded as such.
  t.equal((await deliver(paidEvent(order, 'ALIPAY', 'qr'))).json().data.outcome, 'ALREADY_PAID')
  t.equal((await deliver(e)).json().data.outcome, 'DUPLICATE', 'a later redelivery too')
})

t.test('an event that cannot be applied is not recorded, so pay delivers it again', async (t) => {
  const { userId } = await registerUser(app, 'mismatch@example.com')
  const order = await insertOrder(userId)
  const wrong = { ...paidEvent(order, 'ALIPAY', 'qr'), amount: 1 }
  t.equal((await deliver(wrong)).statusCode, 409)
  const unknown = paidEvent({ id: order.id, orderNo: newOrderNo() }, 'ALIPAY', 'qr')
  t.equal((await deliver(unknown)).statusCode, 404)
  const rows = await sql`select 1 from processed_events where event_id in (${wrong.eventId}, ${unknown.eventId})`
  t.equal(rows.length, 0)
  const [o] = await sql`select status from orders where id = ${order.id}`
  t.equal(o!.status, 'PENDING_PAYMENT')
})
