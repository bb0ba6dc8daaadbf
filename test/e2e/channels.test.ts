/**
 * Every payment channel through the whole system (main → pay → sandbox → notify → pay → main):
 * credited exactly once; and after a cancel the sandbox refuses the payment, or a late payment is
 * still credited once (latePayment). Channel choice by device; BANK_CARD through Stripe when it is configured
 * (the stack configures it; pay's methods test holds the rule), Epay's bank channel through EPAY.
 */
import t from 'tap'
import { http, parseForm, startStack, until } from './fixtures/stack.ts'

const stack = await startStack()
t.teardown(() => stack.stop())
const { main, sandbox } = stack

let seq = 0
async function newUser() {
  const email = `ch${++seq}-${Date.now()}@example.com`
  const res = await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })
  const token = res.json.data.token as string
  // JSAPI needs the payer's openid: bound on the profile.
  await http(`${main}/api/users/me`, { method: 'PATCH', token, body: { wechatOpenid: `oUpF8uMuAJO_M2pxb1Q9zNjWeS6o${seq}` } })
  return token
}
const balance = async (token: string) => (await http(`${main}/api/credits/balance`, { token })).json.data.balance as number
/** For form flows the provider trade exists once the browser has submitted the form (as on real Alipay). */
async function openCashier(paymentInfo: { payType: string; formHtml?: string }) {
  if (paymentInfo.payType !== 'form' || !paymentInfo.formHtml) return
  const form = parseForm(paymentInfo.formHtml, 'punchout_form')
  const res = await http(form.action, { method: form.method, form: form.fields })
  if (res.status !== 302 && res.status !== 200) throw new Error(`cashier did not open: ${res.status} ${res.text.slice(0, 200)}`)
}
const provider = (method: string) => (method === 'ALIPAY' ? 'alipay' : method === 'WECHAT_PAY' ? 'wechat' : 'epay')

const CHANNELS: [string, string, string][] = [
  ['ALIPAY', 'page', 'form'],
  ['ALIPAY', 'wap', 'form'],
  ['ALIPAY', 'qr', 'qrcode'],
  ['WECHAT_PAY', 'native', 'qrcode'],
  ['WECHAT_PAY', 'jsapi', 'jsapi'],
  ['WECHAT_PAY', 'h5', 'jump'],
  ['EPAY', 'alipay', ''],
  ['EPAY', 'wxpay', ''],
]

for (const [method, channel, payType] of CHANNELS) {
  t.test(`${method} ${channel}: paid in the sandbox, credited exactly once`, async (t) => {
    const token = await newUser()
    const res = await http(`${main}/api/credits/purchase`, {
      token,
      body: { packageCode: 'CREDITS_500', paymentMethod: method, channel, device: 'pc' },
    })
    t.equal(res.status, 200, res.text)
    const { id, orderNo, paymentInfo } = res.json.data
    t.match(paymentInfo, { paymentMethod: method, channel, amount: 25 })
    if (payType) t.equal(paymentInfo.payType, payType)
    if (paymentInfo.payType === 'jsapi') t.match(paymentInfo.jsapiParams, { signType: 'RSA', package: /^prepay_id=/ })
    if (paymentInfo.payType === 'qrcode') t.match(paymentInfo.qrCodeUrl, /^data:image\/svg\+xml;base64,/)
    await openCashier(paymentInfo)
    const paid = await http(`${sandbox}/control/${provider(method)}/trades/${orderNo}/pay`, { body: {} })
    t.equal(paid.status, 200, paid.text)
    await until('order PAID', async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID', 30_000)
    // Duplicates and polls after the fact change nothing.
    await http(`${sandbox}/control/${provider(method)}/trades/${orderNo}/notify`, { body: { times: 3 } })
    const st = await http(`${main}/api/orders/${id}/payment-status`, { token })
    t.match(st.json.data, { status: 'PAID', paid: true })
    t.equal(await balance(token), 500)
    t.equal((await http(`${main}/api/credits/ledger`, { token })).json.data.totalElements, 1)
  })

  t.test(`${method} ${channel}: cancelled, then the buyer tries to pay`, async (t) => {
    const token = await newUser()
    const res = await http(`${main}/api/credits/purchase`, {
      token,
      body: { packageCode: 'CREDITS_200', paymentMethod: method, channel, device: 'pc' },
    })
    t.equal(res.status, 200, res.text)
    const { id, orderNo } = res.json.data
    await openCashier(res.json.data.paymentInfo)
    const cancel = await http(`${main}/api/orders/${id}/cancel`, { method: 'POST', token, body: {} })
    t.equal(cancel.status, 200, cancel.text)
    t.equal((await http(`${main}/api/orders/${id}`, { token })).json.data.status, 'CANCELLED')
    const late = await http(`${sandbox}/control/${provider(method)}/trades/${orderNo}/pay`, { body: {} })
    if (late.status === 200) {
      // The provider took the money anyway: nothing is lost, credited once, flagged.
      const o = await until(
        'late payment recorded',
        async () => {
          const d = (await http(`${main}/api/orders/${id}`, { token })).json.data
          return d.status === 'PAID' && d
        },
        30_000,
      )
      t.match(o, { latePayment: true, creditsGranted: true })
      t.equal(await balance(token), 200)
    } else {
      t.equal(late.status, 409, `the sandbox refuses to pay a closed trade: ${late.text}`)
      await new Promise((r) => setTimeout(r, 500))
      t.equal((await http(`${main}/api/orders/${id}`, { token })).json.data.status, 'CANCELLED')
      t.equal(await balance(token), 0)
    }
  })
}

// Re-paying a pending order with another channel of the SAME provider: the first trade is closed
// and the new one is a new provider trade (its own out_trade_no), because no provider reopens a
// closed trade number (WeChat ORDER_CLOSED, Alipay ACQ.TRADE_HAS_CLOSE).
const SWITCHES: [string, string, string][] = [
  ['ALIPAY', 'qr', 'page'],
  ['WECHAT_PAY', 'native', 'h5'],
  ['WECHAT_PAY', 'h5', 'native'],
  ['EPAY', 'alipay', 'wxpay'],
]
for (const [method, from, to] of SWITCHES) {
  t.test(`${method} ${from} → ${to} on a pending order: the new trade is paid, credited once`, async (t) => {
    const token = await newUser()
    const res = await http(`${main}/api/credits/purchase`, {
      token,
      body: { packageCode: 'CREDITS_500', paymentMethod: method, channel: from, device: 'pc' },
    })
    t.equal(res.status, 200, res.text)
    const { id, orderNo, paymentInfo: first } = res.json.data
    t.equal(first.outTradeNo, orderNo, 'the first attempt is sent as the orderNo')
    await openCashier(first)
    const again = await http(`${main}/api/orders/${id}/pay`, { token, body: { method, channel: to, device: 'pc' } })
    t.equal(again.status, 200, again.text)
    const second = again.json.data.paymentInfo ?? again.json.data
    t.match(second, { channel: to, outTradeNo: `${orderNo}_2` })
    await openCashier(second)
    const paid = await http(`${sandbox}/control/${provider(method)}/trades/${second.outTradeNo}/pay`, { body: {} })
    t.equal(paid.status, 200, paid.text)
    await until('order PAID', async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID', 30_000)
    t.match((await http(`${main}/api/orders/${id}`, { token })).json.data, { status: 'PAID', creditsGranted: true })
    t.notOk((await http(`${main}/api/orders/${id}`, { token })).json.data.latePayment, 'paid on the live attempt')
    t.equal(await balance(token), 500)
    if (method === 'ALIPAY' && from === 'qr') {
      // Nobody scanned the QR code: Alipay did not know the trade, the close did not stop it. Paid now, pay
      // refunds that second payment by itself.
      const old = await http(`${sandbox}/control/alipay/trades/${orderNo}/pay`, { body: {} })
      t.equal(old.status, 200, old.text)
      await until(
        'the second payment refunded',
        async () => (await http(`${sandbox}/control/alipay/trades/${orderNo}`)).json.refundedAmount === '25.00',
        30_000,
      )
    } else if (method !== 'EPAY') {
      // Epay has no close (the local attempt is closed); WeChat closed the first trade.
      const old = await http(`${sandbox}/control/${provider(method)}/trades/${orderNo}/pay`, { body: {} })
      t.not(old.status, 200, `the first trade cannot be paid any more: ${old.status}`)
    }
    t.equal((await http(`${main}/api/credits/ledger`, { token })).json.data.totalElements, 1)
  })
}

t.test('the device picks the channel; BANK_CARD goes through Stripe, Epay bank through EPAY', async (t) => {
  const token = await newUser()
  const buy = (body: object) => http(`${main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_200', ...body } })
  t.match((await buy({ paymentMethod: 'ALIPAY', device: 'mobile' })).json.data.paymentInfo, { channel: 'wap' })
  t.match((await buy({ paymentMethod: 'WECHAT_PAY', device: 'pc' })).json.data.paymentInfo, { channel: 'native', payType: 'qrcode' })
  t.match((await buy({ paymentMethod: 'wechat', device: 'wechat' })).json.data.paymentInfo, { channel: 'jsapi', payType: 'jsapi' })
  t.match((await buy({ paymentMethod: 'WECHAT_PAY', device: 'mobile' })).json.data.paymentInfo, { channel: 'h5', payType: 'jump' })
  // With Stripe configured (as the stack does) it serves BANK_CARD: the higher priority of the two.
  const card = await buy({ paymentMethod: 'BANK_CARD' })
  t.equal(card.status, 200, card.text)
  t.match(card.json.data.paymentInfo, { paymentMethod: 'BANK_CARD', channel: 'card', payType: 'jump' })
  const bank = await buy({ paymentMethod: 'EPAY', channel: 'bank' })
  t.equal(bank.status, 200, bank.text)
  t.match(bank.json.data.paymentInfo, { paymentMethod: 'EPAY', channel: 'bank' })
  await http(`${sandbox}/control/epay/trades/${bank.json.data.orderNo}/pay`, { body: {} })
  await until(
    'bank order PAID',
    async () => (await http(`${main}/api/orders/${bank.json.data.id}`, { token })).json.data.status === 'PAID',
    30_000,
  )
  const methods = (await http(`${main}/api/payment-methods`)).json.data.map((m: { code: string }) => m.code)
  t.same(methods, ['ALIPAY', 'WECHAT_PAY', 'EPAY', 'BANK_CARD'])
})

t.test('JSAPI without an openid is a clear 400 and leaves nothing behind', async (t) => {
  const email = `noopenid-${Date.now()}@example.com`
  const token = (await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })).json.data.token
  const before = await stack.mainSql`select count(*)::int as n from orders`
  const res = await http(`${main}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'WECHAT_PAY', channel: 'jsapi' },
  })
  t.equal(res.status, 400, res.text)
  t.equal(res.json.error, 'INVALID_PARAMS')
  t.match(res.json.message, /openid/i)
  const after = await stack.mainSql`select count(*)::int as n from orders`
  t.equal(after[0]!.n, before[0]!.n, 'no order created')
})

t.test('without Epay and Stripe configured, BANK_CARD is 422 PAYMENT_METHOD_DISABLED', async (t) => {
  const noEpay = await startStack({
    extra: { pay: { EPAY_PID: '', EPAY_KEY: '', EPAY_BASE_URL: '', STRIPE_SECRET_KEY: '', STRIPE_WEBHOOK_SECRET: '' } },
  })
  t.teardown(() => noEpay.stop())
  const token = (await http(`${noEpay.main}/api/auth/register`, { body: { email: 'x@example.com', password: 'password123' } })).json.data
    .token
  const res = await http(`${noEpay.main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_200', paymentMethod: 'BANK_CARD' } })
  t.equal(res.status, 422)
  t.equal(res.json.error, 'PAYMENT_METHOD_DISABLED')
  const methods = (await http(`${noEpay.main}/api/payment-methods`)).json.data.map((m: { code: string }) => m.code)
  t.same(methods, ['ALIPAY', 'WECHAT_PAY'])
  t.equal((await noEpay.mainSql`select count(*)::int as n from orders`)[0]!.n, 0)
})
