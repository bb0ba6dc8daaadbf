/**
 * Stripe end to end (issue 21), main → pay (the official stripe SDK) → the sandbox's Stripe and back:
 * BANK_CARD served by Stripe; a card purchase on the hosted page (支付 → success_url → pay's return → 302 to
 * /order/{id}, PAID, credited once); a cancelled one (取消 → cancel_url → the order page, then the session
 * expired by the order's cancel); a partial refund (and its charge.refunded webhook changing nothing); forged
 * webhooks (wrong secret, stale timestamp, unsigned, replayed event — also after pay restarts, by its event id)
 * refused or idempotent with nothing changed;
 * and a day's reconciliation against the balance transactions repairing a silent payment once.
 */
import t from 'tap'
import { createHmac } from 'node:crypto'
import { http, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const stack = await startStack({
  extra: {
    // Main's pull of stale pending orders stays out of the way: only the bill may find the silent payment.
    main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, RECONCILE_AFTER_SECONDS: '86400' },
    pay: { RECONCILE_FEE_RATES: 'STRIPE:0.029' },
  },
})
t.teardown(() => stack.stop())
const { main, pay, sandbox, paySql, mainSql } = stack
const webhookSecret = stack.keys.stripe.webhookSecret
const frontend = stack.env.pay.FRONTEND_URL!

const adminToken = (await http(`${main}/api/auth/login`, { body: ADMIN })).json.data.token as string
const admin = (path: string, body?: object) => http(`${main}/api/admin${path}`, { token: adminToken, ...(body ? { body } : {}) })
const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10)

let seq = 0
async function newUser() {
  const email = `stripe${++seq}-${Date.now()}@example.com`
  return (await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })).json.data.token as string
}
async function buy(token: string) {
  const res = await http(`${main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_200', paymentMethod: 'BANK_CARD' } })
  if (res.status !== 200) throw new Error(res.text)
  return res.json.data as {
    id: number
    orderNo: string
    paymentInfo: { paymentUrl: string; payType: string; channel: string; paymentMethod: string }
  }
}
const order = async (token: string, id: number) => (await http(`${main}/api/orders/${id}`, { token })).json.data
const ledgerRows = async (id: number) =>
  (await mainSql`select count(*)::int as n from credit_ledger where order_id = ${id}`)[0]!.n as number
const notifyLog = (outTradeNo: string) =>
  paySql<
    { verdict: string; reason: string | null }[]
  >`select verdict, reason from notify_log where provider = 'STRIPE' and out_trade_no = ${outTradeNo} order by id`
async function moneyState() {
  const orders = await mainSql`select id, status, credits_granted, late_payment from orders order by id`
  const ledger = await mainSql`select count(*)::int as n, coalesce(sum(delta), 0)::bigint as s from credit_ledger`
  const attempts = await paySql`select id, status, trade_no, paid_at from payment_attempts order by id`
  const events = await paySql`select count(*)::int as n from outbox`
  return JSON.stringify({ orders, ledger, attempts, events })
}
/** Follows one redirect the way a browser does (relative or absolute Location). */
const follow = (res: { headers: Record<string, unknown> }, base: string) => new URL(String(res.headers.location), base).toString()

const token = await newUser()
let paidOrder: { id: number; orderNo: string }

t.test('BANK_CARD is served by Stripe when it is configured; the methods list shows it once', async (t) => {
  const methods = (await http(`${main}/api/payment-methods`)).json.data as { code: string; icon: string; channels: { code: string }[] }[]
  const bank = methods.filter((m) => m.code === 'BANK_CARD')
  t.equal(bank.length, 1)
  t.match(bank[0], { icon: '/icons/card.svg', channels: [{ code: 'card' }] })
})

t.test('a card purchase on the hosted page: 支付 → back on /order/{id} through pay, PAID, credited once', async (t) => {
  const d = await buy(token)
  t.match(d.paymentInfo, { paymentMethod: 'BANK_CARD', channel: 'card', payType: 'jump' })
  const page = await http(d.paymentInfo.paymentUrl)
  t.equal(page.status, 200)
  t.equal((page.text.match(/>\s*支付\s*</g) ?? []).length, 1, 'one 支付 button')
  t.equal((page.text.match(/>\s*取消\s*</g) ?? []).length, 1, 'one 取消 button')
  const payAction = /<form[^>]*action=["']([^"']*\/pay)["']/i.exec(page.text)![1]!
  const paid = await http(new URL(payAction, d.paymentInfo.paymentUrl).toString(), { method: 'POST', form: {} })
  t.equal(paid.status, 302)
  const returnUrl = follow(paid, sandbox)
  t.match(returnUrl, `localhost:${stack.ports.pay}/api/pay/return/stripe?out_trade_no=${d.orderNo}&session_id=cs_test_`)
  const back = await http(returnUrl)
  t.equal(back.status, 302)
  t.equal(back.headers.location, `${frontend}/order/${d.id}`, 'pay sends the browser to the order page')

  await until('order PAID', async () => (await order(token, d.id)).status === 'PAID', 30_000)
  t.match(await order(token, d.id), { status: 'PAID', creditsGranted: true })
  t.equal(await ledgerRows(d.id), 1, 'credited once')
  t.equal((await http(`${main}/api/credits/balance`, { token })).json.data.balance, 200)
  const [attempt] =
    await paySql`select provider, channel, trade_no, paid_via, provider_ref from payment_attempts where order_no = ${d.orderNo}`
  t.match(attempt, { provider: 'STRIPE', channel: 'card', paid_via: 'NOTIFY' })
  t.equal(attempt!.provider_ref, new URL(returnUrl).searchParams.get('session_id'), 'the Checkout Session id is on the attempt')
  t.match(attempt!.trade_no, /^pi_/, 'the PaymentIntent is the trade number')
  t.same(
    (await notifyLog(d.orderNo)).map((r) => r.verdict),
    ['ACCEPTED'],
  )
  paidOrder = d
})

t.test('a cancelled one: 取消 → back on the order page, unpaid; the order cancelled expires the session', async (t) => {
  const d = await buy(token)
  const page = await http(d.paymentInfo.paymentUrl)
  const cancelAction = /<form[^>]*action=["']([^"']*\/cancel)["']/i.exec(page.text)![1]!
  const cancelled = await http(new URL(cancelAction, d.paymentInfo.paymentUrl).toString(), { method: 'POST', form: {} })
  t.equal(cancelled.status, 302)
  const returnUrl = follow(cancelled, sandbox)
  t.match(returnUrl, `/api/pay/return/stripe?out_trade_no=${d.orderNo}&cancelled=1`)
  const back = await http(returnUrl)
  t.equal(back.headers.location, `${frontend}/order/${d.id}`)
  t.equal((await order(token, d.id)).status, 'PENDING_PAYMENT')

  const res = await http(`${main}/api/orders/${d.id}/cancel`, { token, method: 'POST', body: {} })
  t.equal(res.status, 200, res.text)
  const trade = (await http(`${sandbox}/control/stripe/trades/${d.orderNo}`)).json
  t.match(trade, { state: 'EXPIRED', status: 'expired' }, 'pay expired the session')
  const late = await http(new URL(/<form[^>]*action=["']([^"']*\/pay)["']/i.exec(page.text)![1]!, d.paymentInfo.paymentUrl).toString(), {
    method: 'POST',
    form: {},
  })
  t.equal(late.status, 409, 'the hosted page refuses to pay an expired session')
  t.equal(await ledgerRows(d.id), 0)
})

t.test(
  'a partial refund: SUCCEEDED at Stripe, PARTIALLY_REFUNDED, credits clawed back once; charge.refunded changes nothing',
  async (t) => {
    const res = await admin(`/orders/${paidOrder.id}/refund`, { amount: 4, reason: '部分退款' })
    t.equal(res.status, 200, res.text)
    t.match(res.json.data, {
      refund: { status: 'SUCCEEDED', amount: 4, via: 'PROVIDER' },
      order: { status: 'PARTIALLY_REFUNDED', refundedAmount: 4 },
    })
    const trade = (await http(`${sandbox}/control/stripe/trades/${paidOrder.orderNo}`)).json
    t.equal(trade.amountRefunded, 400, 'Stripe refunded 400 fen')
    const [refund] = await paySql`select status, amount from refunds where order_no = ${paidOrder.orderNo}`
    t.match(refund, { status: 'SUCCEEDED', amount: 400 })
    await until('charge.refunded received', async () => (await notifyLog(paidOrder.orderNo)).length === 2, 20_000)
    t.match((await notifyLog(paidOrder.orderNo))[1], { verdict: 'DUPLICATE' })
    t.equal(await ledgerRows(paidOrder.id), 2, 'the purchase and one claw-back')
  },
)

t.test('forged webhooks: wrong secret, stale, unsigned are refused; a replayed event changes nothing', async (t) => {
  const d = await buy(token)
  await http(d.paymentInfo.paymentUrl) // the buyer opened the page
  t.equal((await http(`${sandbox}/control/stripe/trades/${d.orderNo}/pay`, { body: { notify: false } })).status, 200)
  const before = await moneyState()
  const forged = async (body: object) => (await http(`${sandbox}/control/stripe/trades/${d.orderNo}/notify`, { body })).json
  const wrong = await forged({ wrongSecret: true })
  t.equal(wrong.deliveries[0].status, 400)
  const stale = await forged({ timestampOffsetSeconds: -301 - 5 })
  t.equal(stale.deliveries[0].status, 400)
  const future = await forged({ timestampOffsetSeconds: 600 })
  t.equal(future.deliveries[0].status, 400)
  const unsigned = await forged({ unsigned: true })
  t.equal(unsigned.deliveries[0].status, 400)
  t.same(
    (await notifyLog(d.orderNo)).map((r) => r.reason),
    ['BAD_SIGNATURE', 'TIMESTAMP_EXPIRED', 'TIMESTAMP_EXPIRED', 'BAD_SIGNATURE'],
  )
  t.equal(await moneyState(), before, 'nothing changed')
  t.equal((await order(token, d.id)).status, 'PENDING_PAYMENT')

  // The genuine event, then the same bytes and signature again (a replay within the tolerance), and
  // the same event re-dated with a signature made without the secret: the first records, the rest change nothing.
  const genuine = await forged({})
  t.equal(genuine.deliveries[0].status, 200)
  await until('order PAID', async () => (await order(token, d.id)).status === 'PAID', 30_000)
  await until('events delivered', async () => (await paySql`select count(*)::int as n from outbox where status <> 'DELIVERED'`)[0]!.n === 0)
  const paidState = await moneyState()
  const body = JSON.stringify(genuine.event, null, 2)
  const post = (sig: string) =>
    fetch(`${pay}/api/pay/notify/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sig },
      body,
    })
  const replayed = await post(genuine.signature)
  t.equal(replayed.status, 200, 'a replay within the tolerance is acknowledged…')
  const t0 = Number(/t=(\d+)/.exec(genuine.signature)![1])
  const redated = await post(genuine.signature.replace(`t=${t0}`, `t=${t0 + 1}`))
  t.equal(redated.status, 400, 'a re-dated signature does not verify')
  const old = t0 - 3600
  const oldSigned = await post(`t=${old},v1=${createHmac('sha256', webhookSecret).update(`${old}.${body}`).digest('hex')}`)
  t.equal(oldSigned.status, 400, 'an hour-old delivery replayed is refused')
  t.same(
    (await notifyLog(d.orderNo)).slice(4).map((r) => [r.verdict, r.reason]),
    [
      ['ACCEPTED', null],
      ['DUPLICATE', 'EVENT_REPLAYED'],
      ['REJECTED', 'BAD_SIGNATURE'],
      ['REJECTED', 'TIMESTAMP_EXPIRED'],
    ],
  )
  await new Promise((r) => setTimeout(r, 300))
  t.equal(await moneyState(), paidState, '…and changes nothing: credited once')
  t.equal(await ledgerRows(d.id), 1)

  // Pay restarts; the sandbox then sends the same event (its id) again, freshly signed as a Stripe retry
  // or a dashboard resend would be: remembered in the database, acknowledged, nothing changed.
  await stack.services.pay.stop()
  await stack.restart('pay')
  const resent = await forged({ eventId: genuine.event.id })
  t.equal(resent.event.id, genuine.event.id, 'the same event id')
  t.equal(resent.deliveries[0].status, 200, 'acknowledged after the restart')
  t.same((await notifyLog(d.orderNo)).at(-1), { verdict: 'DUPLICATE', reason: 'EVENT_REPLAYED' })
  t.equal(
    (await paySql`select count(*)::int as n from provider_events where provider = 'STRIPE' and event_id = ${genuine.event.id}`)[0]!.n,
    1,
  )
  await new Promise((r) => setTimeout(r, 300))
  t.equal(await moneyState(), paidState, 'changes nothing after a restart: credited once')
})

t.test("a day's reconciliation: the balance transactions against our books, a silent payment repaired once", async (t) => {
  const silent = await buy(token)
  await http(silent.paymentInfo.paymentUrl)
  t.equal((await http(`${sandbox}/control/stripe/trades/${silent.orderNo}/pay`, { body: { notify: false } })).status, 200)
  t.equal((await order(token, silent.id)).status, 'PENDING_PAYMENT', 'no webhook: still pending here')

  const run = await admin('/reconciliations', { provider: 'STRIPE', day: today })
  t.equal(run.status, 200, run.text)
  t.match(run.json.data, {
    provider: 'STRIPE',
    billDay: today,
    status: 'SUCCEEDED',
    source: 'BILL',
    differences: 1,
    repaired: 1,
    byClass: { STATUS_MISMATCH: 1, AMOUNT_MISMATCH: 0, LOCAL_ONLY: 0, PROVIDER_ONLY: 0, FEE_MISMATCH: 0, REFUND_MISMATCH: 0 },
  })
  t.equal(run.json.data.billPaymentTotal, 3 * 1000, 'three card payments of 10.00 that day')
  t.equal(run.json.data.billRefundTotal, 400)
  await until('silent order PAID', async () => (await order(token, silent.id)).status === 'PAID', 30_000)
  t.equal(await ledgerRows(silent.id), 1, 'credited once')
  const [via] = await paySql`select paid_via from payment_attempts where order_no = ${silent.orderNo}`
  t.equal(via!.paid_via, 'RECONCILIATION')
  await until('events delivered', async () => (await paySql`select count(*)::int as n from outbox where status <> 'DELIVERED'`)[0]!.n === 0)

  const before = await moneyState()
  const again = await admin('/reconciliations', { provider: 'STRIPE', day: today })
  t.equal(again.status, 200, again.text)
  t.equal(again.json.data.billRows, run.json.data.billRows)
  await new Promise((r) => setTimeout(r, 500))
  t.equal(await moneyState(), before, 'a re-run changes nothing')
  t.equal(await ledgerRows(silent.id), 1)
})
