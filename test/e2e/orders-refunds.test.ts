/**
 * The order domain's money paths end to end (main + pay + sandbox as separate processes):
 * refunds through pay and the Alipay sandbox with credits clawed back, goods with delivery paid
 * through Alipay and with credits, cancel closing the provider trade (or finding it paid), expiry.
 */
import t from 'tap'
import { http, scanQr, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const stack = await startStack({ extra: { main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, EXPIRY_SWEEP_MS: '200' } } })
t.teardown(() => stack.stop())
const { main, sandbox } = stack

let seq = 0
async function newUser() {
  const email = `buyer${++seq}-${Date.now()}@example.com`
  const res = await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })
  if (res.status !== 200) throw new Error(res.text)
  return { email, token: res.json.data.token as string, id: res.json.data.user.id as number }
}
const login = await http(`${main}/api/auth/login`, { body: ADMIN })
const adminToken = login.json.data.token as string
const balance = async (token: string) => (await http(`${main}/api/credits/balance`, { token })).json.data.balance as number
const order = async (token: string, id: number) => (await http(`${main}/api/orders/${id}`, { token })).json.data
const trade = async (orderNo: string) => (await http(`${sandbox}/control/alipay/trades/${orderNo}`)).json

/** A CREDITS_500 order paid at the sandbox (QR channel), credited in main. */
async function paidCredits500(token: string) {
  const res = await http(`${main}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  if (res.status !== 200) throw new Error(res.text)
  const { id, orderNo } = res.json.data
  const p = await http(`${sandbox}/control/alipay/trades/${orderNo}/pay`, { body: {} })
  if (p.status !== 200) throw new Error(p.text)
  await until('order PAID', async () => (await order(token, id)).status === 'PAID')
  return { id: id as number, orderNo: orderNo as string }
}

t.test('the first admin comes from ADMIN_EMAIL / ADMIN_PASSWORD', async (t) => {
  t.equal(login.status, 200, login.text)
  t.equal(login.json.data.user.role, 'admin')
})

t.test(
  'refund: pay 25.0 for CREDITS_500, refund 10.0 → PARTIALLY_REFUNDED, −200 credits; 15.0 more → REFUNDED; a third is 409',
  async (t) => {
    const buyer = await newUser()
    const { id, orderNo } = await paidCredits500(buyer.token)
    t.equal(await balance(buyer.token), 500)
    const refund = (body: object) => http(`${main}/api/admin/orders/${id}/refund`, { token: adminToken, body })

    const first = await refund({ amount: 10.0, reason: '部分退款' })
    t.equal(first.status, 200, first.text)
    t.match(first.json.data, {
      refund: { status: 'SUCCEEDED', amount: 10, creditsClawedBack: 200, via: 'PROVIDER' },
      order: { status: 'PARTIALLY_REFUNDED', refundedAmount: 10 },
    })
    t.equal(await balance(buyer.token), 300)
    const rows = (await http(`${main}/api/credits/ledger`, { token: buyer.token })).json.data.content
    const refundRows = rows.filter((r: { type: string }) => r.type === 'REFUND')
    t.equal(refundRows.length, 1, 'one REFUND row')
    t.match(refundRows[0], { delta: -200, balanceAfter: 300, orderId: id })
    t.equal((await trade(orderNo)).refundedAmount, '10.00', 'the sandbox refunded 10.00')

    const second = await refund({ amount: '15.00', reason: '余款退款' })
    t.equal(second.status, 200, second.text)
    t.match(second.json.data, {
      refund: { status: 'SUCCEEDED', creditsClawedBack: 300 },
      order: { status: 'REFUNDED', refundedAmount: 25 },
    })
    t.equal(await balance(buyer.token), 0)

    const third = await refund({ amount: 0.01, reason: '再退' })
    t.equal(third.status, 409)
    t.equal(third.json.error, 'ORDER_NOT_REFUNDABLE')

    // The provider shows the same refunded total; pay's books and its events agree.
    const tr = await trade(orderNo)
    t.match(tr, { refundedAmount: '25.00', status: 'TRADE_CLOSED' })
    const payRefunds = await stack.paySql`select refund_no, amount, status from refunds where order_no = ${orderNo} order by created_at`
    t.same(
      payRefunds.map((r) => [r.amount, r.status]),
      [
        [1000, 'SUCCEEDED'],
        [1500, 'SUCCEEDED'],
      ],
    )
    const [attempt] = await stack.paySql`select status from payment_attempts where order_no = ${orderNo}`
    t.equal(attempt!.status, 'REFUNDED')
    const payStatus = await http(`${main}/api/payment-orders/${orderNo}/status`)
    t.match(payStatus.json.data, { status: 'REFUNDED', creditsGranted: true })
    // The REFUND_SUCCEEDED events reach main through the outbox. Delivery is immediate, so an event may be applied
    // before the admin's own call settles the refund (then that call finds it done); either way once per refund.
    await until('refund events delivered', async () => {
      const [r] = await stack.paySql`select count(*)::int as n from outbox where event_type = 'REFUND_SUCCEEDED' and status = 'DELIVERED'
      and payload->>'orderNo' = ${orderNo}`
      return r!.n === 2
    })
    const events = await stack.mainSql`select outcome from processed_events where order_no = ${orderNo} and type = 'REFUND_SUCCEEDED'`
    t.equal(events.length, 2, 'one processed event per refund')
    for (const e of events) t.ok(['ALREADY_APPLIED', 'PARTIALLY_REFUNDED', 'REFUNDED'].includes(e.outcome), e.outcome)
    t.equal(await balance(buyer.token), 0, 'nothing clawed back twice')
    const ledger = (await http(`${main}/api/credits/ledger`, { token: buyer.token })).json.data.content
    t.same(
      ledger
        .filter((r: { type: string }) => r.type === 'REFUND')
        .map((r: { delta: number }) => r.delta)
        .sort(),
      [-200, -300],
      'one REFUND row per refund',
    )
    const [sum] = await stack.mainSql`select sum(delta)::int as s from credit_ledger where user_id = ${buyer.id}`
    t.equal(sum!.s, 0, 'the ledger sums to the balance')
  },
)

t.test('refund when the credits were spent: 409 CREDITS_ALREADY_SPENT, nothing refunded; forced, the rest is taken', async (t) => {
  const buyer = await newUser()
  const { id, orderNo } = await paidCredits500(buyer.token)
  const spend = await http(`${main}/api/credits/consume`, {
    token: buyer.token,
    body: { credits: 450, description: 'AI', idempotencyKey: 'use-450' },
  })
  t.equal(spend.status, 200, spend.text)
  const refused = await http(`${main}/api/admin/orders/${id}/refund`, { token: adminToken, body: { reason: '全额退款' } })
  t.equal(refused.status, 409)
  t.equal(refused.json.error, 'CREDITS_ALREADY_SPENT')
  t.equal((await trade(orderNo)).refundedAmount, '0.00', 'nothing refunded at the provider')
  const forced = await http(`${main}/api/admin/orders/${id}/refund`, { token: adminToken, body: { reason: '全额退款', force: true } })
  t.equal(forced.status, 200, forced.text)
  t.match(forced.json.data, {
    refund: { status: 'SUCCEEDED', amount: 25, creditsClawedBack: 50, forced: true },
    order: { status: 'REFUNDED' },
  })
  t.equal(await balance(buyer.token), 0, 'never negative')
  t.equal((await trade(orderNo)).refundedAmount, '25.00')
})

t.test(
  'goods: express to an address costs price × qty + 10.0 through Alipay; pickup paid with credits; shipping forward only',
  async (t) => {
    const buyer = await newUser()
    const products = (await http(`${main}/api/products?kind=goods`)).json.data.content
    const goods = products[0]
    t.match(goods, { kind: 'goods', price: 95.5 })
    const fee = await http(`${main}/api/delivery-fee`, {
      body: { productId: goods.id, deliveryMethod: 'express', address: '北京市海淀区中关村123号', quantity: 2 },
    })
    t.match(fee.json.data, { deliveryFee: 10, totalAmount: 201 })

    const created = await http(`${main}/api/orders`, {
      token: buyer.token,
      headers: { 'idempotency-key': `goods-${buyer.id}` },
      body: {
        productId: goods.id,
        quantity: 2,
        deliveryMethod: 'express',
        deliveryAddress: '北京市海淀区中关村123号',
        contactName: '李四',
      },
    })
    t.equal(created.status, 200, created.text)
    const o = created.json.data
    t.match(o, {
      amount: 201,
      deliveryFee: 10,
      deliveryMethod: 'express',
      deliveryAddress: '北京市海淀区中关村123号',
      deliveryStatus: 'PENDING',
    })
    const paying = await http(`${main}/api/orders/${o.id}/pay`, { token: buyer.token, body: { method: 'ALIPAY', channel: 'qr' } })
    t.equal(paying.status, 200, paying.text)
    t.match(paying.json.data.paymentInfo, { amount: 201, payType: 'qrcode' })
    t.equal((await trade(o.orderNo)).totalAmount, '201.00', 'the provider was asked for the server-computed amount')
    await http(`${sandbox}/control/alipay/trades/${o.orderNo}/pay`, { body: {} })
    await until('goods order PAID', async () => (await order(buyer.token, o.id)).status === 'PAID')
    const paid = await order(buyer.token, o.id)
    t.match(paid, {
      creditsGranted: false,
      credits: 0,
      delivery: { status: 'PENDING', address: '北京市海淀区中关村123号', contactName: '李四' },
    })
    t.equal(await balance(buyer.token), 0, 'goods grant no credits')

    const ship = (status: string) =>
      http(`${main}/api/admin/orders/${o.id}/shipping`, { token: adminToken, body: { deliveryStatus: status } })
    t.equal((await ship('SHIPPED')).status, 200)
    t.equal((await ship('PENDING')).status, 409)
    t.equal((await ship('DELIVERED')).status, 200)
    t.equal((await ship('SHIPPED')).status, 409)
    t.equal((await order(buyer.token, o.id)).deliveryStatus, 'DELIVERED')

    // Pickup costs price × qty, paid from the balance (credits bought through Alipay first).
    await paidCredits500(buyer.token)
    await paidCredits500(buyer.token)
    await paidCredits500(buyer.token)
    await paidCredits500(buyer.token)
    t.equal(await balance(buyer.token), 2000)
    const pickup = (await http(`${main}/api/orders`, { token: buyer.token, body: { productId: goods.id, deliveryMethod: 'pickup' } })).json
      .data
    t.match(pickup, { amount: 95.5, deliveryFee: 0 })
    // A QR was offered (and scanned) first: paying with credits closes that trade so it cannot be paid twice.
    const offered = await http(`${main}/api/orders/${pickup.id}/pay`, { token: buyer.token, body: { method: 'ALIPAY', channel: 'qr' } })
    await scanQr(sandbox, (offered.json.data.paymentInfo ?? offered.json.data).qrCode)
    const byCredits = await http(`${main}/api/orders/${pickup.id}/pay`, { token: buyer.token, body: { method: 'CREDITS' } })
    t.equal(byCredits.status, 200, byCredits.text)
    t.match(byCredits.json.data.paymentInfo, { paymentMethod: 'CREDITS', creditsSpent: 1910, balance: 90 })
    t.equal((await trade(pickup.orderNo)).status, 'TRADE_CLOSED')
    t.equal(await balance(buyer.token), 90)
    // Refunding it gives the credits back, without any provider.
    const r = await http(`${main}/api/admin/orders/${pickup.id}/refund`, { token: adminToken, body: { reason: '缺货' } })
    t.match(r.json.data, { refund: { via: 'CREDITS', status: 'SUCCEEDED', creditsReturned: 1910 }, order: { status: 'REFUNDED' } })
    t.equal(await balance(buyer.token), 2000)
  },
)

t.test('cancel closes the provider trade (CANCELLED); if the buyer already paid, the order becomes PAID instead', async (t) => {
  const buyer = await newUser()
  const a = await http(`${main}/api/credits/purchase`, {
    token: buyer.token,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  // Scanned (else Alipay does not know the trade yet and the close cannot stop it).
  await scanQr(sandbox, a.json.data.paymentInfo.qrCode)
  const c = await http(`${main}/api/orders/${a.json.data.id}/cancel`, { token: buyer.token, method: 'POST', body: {} })
  t.equal(c.status, 200, c.text)
  t.equal(c.json.data.status, 'CANCELLED')
  t.equal((await trade(a.json.data.orderNo)).status, 'TRADE_CLOSED')
  const late = await http(`${sandbox}/control/alipay/trades/${a.json.data.orderNo}/pay`, { body: {} })
  t.equal(late.status, 409, 'a closed trade cannot be paid')

  // Paid at the provider, the notify not arrived yet: cancel learns it from pay's close.
  const b = await http(`${main}/api/credits/purchase`, {
    token: buyer.token,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  await http(`${sandbox}/control/alipay/trades/${b.json.data.orderNo}/pay`, { body: { notify: false } })
  const c2 = await http(`${main}/api/orders/${b.json.data.id}/cancel`, { token: buyer.token, method: 'POST', body: {} })
  t.equal(c2.status, 409)
  t.equal(c2.json.error, 'ORDER_ALREADY_PAID')
  t.match(await order(buyer.token, b.json.data.id), { status: 'PAID', creditsGranted: true })
  t.equal(await balance(buyer.token), 200)
})

t.test('expiry: an overdue order becomes EXPIRED and its provider trade is closed', async (t) => {
  const buyer = await newUser()
  const res = await http(`${main}/api/credits/purchase`, {
    token: buyer.token,
    body: { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  const { id, orderNo } = res.json.data
  await scanQr(sandbox, res.json.data.paymentInfo.qrCode)
  await stack.mainSql`update orders set expire_at = now() - interval '1 second' where id = ${id}`
  await until('order EXPIRED', async () => (await order(buyer.token, id)).status === 'EXPIRED')
  await until('provider trade closed', async () => (await trade(orderNo)).status === 'TRADE_CLOSED')
  await until('nothing left to close', async () => {
    const [r] = await stack.mainSql`select trade_close_pending from orders where id = ${id}`
    return r!.trade_close_pending === false
  })
  const pay = await http(`${main}/api/orders/${id}/pay`, { token: buyer.token, body: { method: 'ALIPAY', channel: 'qr' } })
  t.equal(pay.status, 409)
  t.equal(pay.json.error, 'ORDER_NOT_PAYABLE')
})

t.test('Epay refunds an order once: a partial refund succeeds, a second one is 409 before anything reaches Epay', async (t) => {
  const u = await newUser()
  const res = await http(`${main}/api/credits/purchase`, {
    token: u.token,
    body: { packageCode: 'CREDITS_500', paymentMethod: 'EPAY', channel: 'wxpay', device: 'pc' },
  })
  t.equal(res.status, 200, res.text)
  const { id, orderNo } = res.json.data
  t.equal((await http(`${sandbox}/control/epay/trades/${orderNo}/pay`, { body: {} })).status, 200)
  await until('order PAID', async () => (await order(u.token, id)).status === 'PAID')
  const first = await http(`${main}/api/admin/orders/${id}/refund`, { token: adminToken, body: { amount: 5, reason: '部分退款' } })
  t.equal(first.status, 200, first.text)
  t.match(first.json.data, { refund: { status: 'SUCCEEDED', amount: 5 }, order: { status: 'PARTIALLY_REFUNDED' } })
  const second = await http(`${main}/api/admin/orders/${id}/refund`, { token: adminToken, body: { amount: 5, reason: '再退' } })
  t.equal(second.status, 409, second.text)
  t.equal(second.json.error, 'ORDER_NOT_REFUNDABLE')
  t.equal((await order(u.token, id)).status, 'PARTIALLY_REFUNDED')
  t.match((await http(`${sandbox}/control/epay/trades/${orderNo}`)).json, { status: 2, refundedMoney: '5.00' }, 'refunded once at Epay')
  t.equal(await balance(u.token), 400, '100 credits clawed back once')
})
