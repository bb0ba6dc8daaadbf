/**
 * Walking skeleton, end to end over real HTTP between separately started processes:
 * browser form → sandbox gateway → cashier 支付 → signed notify → pay → main → credits.
 */
import t from 'tap'
import { http, parseForm, startStack, until } from './fixtures/stack.ts'

const stack = await startStack()
t.teardown(() => stack.stop())
const { main, pay, sandbox } = stack

let seq = 0
async function newUser() {
  const email = `user${++seq}-${Date.now()}@example.com`
  const res = await http(`${main}/api/auth/register`, { body: { email, password: 'password123', name: `用户${seq}` } })
  if (res.status !== 200) throw new Error(`register failed: ${res.text}`)
  return { email, token: res.json.data.token as string }
}
async function purchase(token: string, body: Record<string, unknown>) {
  return http(`${main}/api/credits/purchase`, { token, body: { paymentMethod: 'ALIPAY', ...body } })
}
async function balance(token: string) {
  return (await http(`${main}/api/credits/balance`, { token })).json.data.balance as number
}
async function ledger(token: string) {
  return (await http(`${main}/api/credits/ledger`, { token })).json.data
}

t.test('B: CREDITS_500 through the Alipay page form, the sandbox cashier and the notify', async (t) => {
  const { token } = await newUser()
  const res = await purchase(token, { packageCode: 'CREDITS_500' })
  t.equal(res.status, 200, res.text)
  const d = res.json.data
  t.match(d, { packageInfo: { packageCode: 'CREDITS_500', credits: 500, price: 25 }, orderStatus: 'PENDING_PAYMENT' })
  t.equal(d.orderId, d.orderNo, 'seed 000: orderId is the orderNo')
  t.match(d.orderNo, /^P\d{14}[A-Z2-7]{12,}$/)
  t.match(d.paymentInfo, { paymentMethod: 'ALIPAY', channel: 'page', payType: 'form', amount: 25, currency: 'CNY' })

  // The browser submits the punchout_form to the sandbox gateway, which verifies the RSA2 signature.
  const form = parseForm(d.paymentInfo.formHtml, 'punchout_form')
  t.match(form.action, `127.0.0.1:${stack.ports.sandbox}/gateway.do`.replace('127.0.0.1', 'localhost'))
  const gw = await http(form.action, { method: form.method, form: form.fields })
  t.equal(gw.status, 302, `gateway accepted the signature: ${gw.text.slice(0, 200)}`)
  const cashierUrl = new URL(String(gw.headers.location), sandbox).toString()
  const cashier = await http(cashierUrl)
  t.equal(cashier.status, 200)
  t.equal((cashier.text.match(/>\s*支付\s*</g) ?? []).length, 1, 'one 支付 button')
  t.equal((cashier.text.match(/>\s*取消\s*</g) ?? []).length, 1, 'one 取消 button')
  const payForm = /<form[^>]*action=["']([^"']*\/pay)["']/i.exec(cashier.text)
  t.ok(payForm, 'the 支付 form')
  const paid = await http(new URL(payForm![1]!, cashierUrl).toString(), { method: 'POST', form: {} })
  t.equal(paid.status, 302)
  const returnUrl = String(paid.headers.location)
  t.match(returnUrl, `localhost:${stack.ports.pay}/api/pay/return?`)

  // Pay verifies the notify and pushes it to main: the local order (never asks pay) turns PAID.
  const order = await until('order PAID in main', async () => {
    const o = await http(`${main}/api/orders/${d.id}`, { token })
    return o.json.data.status === 'PAID' && o.json.data
  })
  t.match(order, { creditsGranted: true, latePayment: false, payAmount: 25, paymentMethod: 'ALIPAY' })
  t.equal(await balance(token), 500)
  const rows = await ledger(token)
  t.equal(rows.totalElements, 1)
  t.match(rows.content[0], { type: 'PURCHASE', delta: 500, balanceAfter: 500, orderId: d.id })
  const st = await http(`${main}/api/orders/${d.id}/payment-status`, { token })
  t.match(st.json.data, { orderNo: d.orderNo, status: 'PAID', paid: true })
  const pub = await http(`${main}/api/payment-orders/${d.orderNo}/status`)
  t.match(pub.json.data, { orderId: d.orderNo, status: 'PAID', creditsGranted: true, creditsAmount: 500, amount: 25 })

  // The browser return lands on the frontend order page, by numeric id.
  const back = await http(returnUrl)
  t.equal(back.status, 302)
  t.equal(back.headers.location, `http://localhost:3000/order/${d.id}`)
  const direct = await http(`${pay}/api/pay/return?out_trade_no=${d.orderNo}`)
  t.equal(direct.status, 302)
  t.equal(direct.headers.location, `http://localhost:3000/order/${d.id}`)
  const unknown = await http(`${pay}/api/pay/return?out_trade_no=P20260101000000AAAAAAAAAAAAAAAA&return_url=https://evil.example`)
  t.equal(unknown.status, 302)
  t.match(String(unknown.headers.location), /^http:\/\/localhost:3000\//)

  // seed 003 /alipay answers {paymentId, formHtml} for a pending order; a paid one is not payable again.
  const again = await http(`${main}/api/orders/${d.id}/alipay`, { method: 'POST', token, body: {} })
  t.equal(again.status, 409)
})

t.test('seed 003 /api/orders/{id}/alipay gives a punchout_form', async (t) => {
  const { token } = await newUser()
  const res = await purchase(token, { packageCode: 'CREDITS_200', channel: 'qr' })
  t.equal(res.status, 200, res.text)
  t.match(res.json.data.paymentInfo, { payType: 'qrcode', channel: 'qr' })
  t.match(res.json.data.paymentInfo.qrCodeUrl, /^data:image\/svg\+xml;base64,/)
  const a = await http(`${main}/api/orders/${res.json.data.id}/alipay`, { method: 'POST', token, body: {} })
  t.equal(a.status, 200, a.text)
  t.type(a.json.data.paymentId, 'string')
  t.match(a.json.data.formHtml, /name=["']punchout_form["']/)
})

t.test('C: 10 concurrent copies of the notify while 10 payment-status polls run: credited once', async (t) => {
  const { token } = await newUser()
  const res = await purchase(token, { packageCode: 'CREDITS_500', channel: 'qr' })
  t.equal(res.status, 200, res.text)
  const { id, orderNo } = res.json.data
  // The sandbox marks the trade paid without notifying; then everything races.
  const p = await http(`${sandbox}/control/alipay/trades/${orderNo}/pay`, { body: { notify: false } })
  t.equal(p.status, 200, p.text)
  const [notified, ...polls] = await Promise.all([
    http(`${sandbox}/control/alipay/trades/${orderNo}/notify`, { body: { times: 10 } }),
    ...Array.from({ length: 10 }, () => http(`${main}/api/orders/${id}/payment-status`, { token })),
  ])
  t.equal(notified!.status, 200, notified!.text)
  t.equal(notified!.json.deliveries.length, 10)
  t.ok(
    notified!.json.deliveries.every((d: { body: string }) => d.body === 'success'),
    'pay acknowledged every copy',
  )
  t.ok(
    polls.every((r) => r.status === 200),
    'every poll answered',
  )
  await until('order PAID', async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID')
  // Let any straggling outbox delivery land before counting.
  await until('outbox drained', async () => {
    const [r] = await stack.paySql`select count(*)::int as n from outbox where status <> 'DELIVERED'`
    return r!.n === 0
  })
  t.equal(await balance(token), 500)
  const rows = await ledger(token)
  t.equal(rows.totalElements, 1, 'exactly one PURCHASE row')
  const [events] =
    await stack.paySql`select count(*)::int as n from outbox o join payment_attempts a on a.id = o.payment_attempt_id where a.order_no = ${orderNo}`
  t.equal(events!.n, 1, 'pay recorded the payment once')
})

t.test('D: forged and tampered notifies get failure, change nothing, and are logged with their reason', async (t) => {
  const { token } = await newUser()
  const res = await purchase(token, { packageCode: 'CREDITS_500', channel: 'qr' })
  const { id, orderNo } = res.json.data
  const notifyUrl = `http://localhost:${stack.ports.pay}/api/pay/notify/alipay`
  const cases = [
    {
      name: 'wrong signature',
      call: () =>
        http(`${sandbox}/control/alipay/trades/${orderNo}/notify`, { body: { wrongKey: true, tamper: { trade_status: 'TRADE_SUCCESS' } } }),
      reason: 'BAD_SIGNATURE',
    },
    {
      name: 'tampered total_amount',
      call: () =>
        http(`${sandbox}/control/alipay/trades/${orderNo}/notify`, {
          body: { tamper: { total_amount: '0.01', trade_status: 'TRADE_SUCCESS' } },
        }),
      reason: 'AMOUNT_MISMATCH',
    },
    {
      name: 'wrong app_id',
      call: () =>
        http(`${sandbox}/control/alipay/trades/${orderNo}/notify`, {
          body: { tamper: { app_id: '2021999999999999', trade_status: 'TRADE_SUCCESS' } },
        }),
      reason: 'APP_ID_MISMATCH',
    },
    {
      name: 'unknown out_trade_no',
      call: () =>
        http(`${sandbox}/control/alipay/notify-raw`, {
          body: {
            notifyUrl,
            params: {
              notify_type: 'trade_status_sync',
              notify_id: 'n1',
              app_id: stack.keys.alipay.appId,
              out_trade_no: 'P20260101000000ZZZZZZZZZZZZZZZZ',
              trade_no: '2026',
              trade_status: 'TRADE_SUCCESS',
              total_amount: '25.00',
              charset: 'utf-8',
              version: '1.0',
              sign_type: 'RSA2',
            },
          },
        }),
      reason: 'UNKNOWN_ORDER',
    },
  ]
  for (const c of cases) {
    const r = await c.call()
    t.equal(r.status, 200, `${c.name}: ${r.text}`)
    const replies = r.json.deliveries ? r.json.deliveries.map((d: { body: string }) => d.body) : [r.json.body]
    t.same(replies, ['failure'], `${c.name} → failure`)
  }
  const order = (await http(`${main}/api/orders/${id}`, { token })).json.data
  t.equal(order.status, 'PENDING_PAYMENT')
  t.equal(await balance(token), 0)
  const [attempt] = await stack.paySql`select status from payment_attempts where order_no = ${orderNo}`
  t.equal(attempt!.status, 'PENDING')
  const log =
    await stack.paySql`select verdict, reason, out_trade_no from notify_log where out_trade_no in (${orderNo}, 'P20260101000000ZZZZZZZZZZZZZZZZ') order by id`
  t.same(
    log.map((l) => [l.verdict, l.reason]),
    cases.map((c) => ['REJECTED', c.reason]),
  )
})

t.test('E: pay down → payment-status answers the local state; after restart the re-sent notify credits', async (t) => {
  const { token } = await newUser()
  const res = await purchase(token, { packageCode: 'CREDITS_500', channel: 'qr' })
  const { id, orderNo } = res.json.data
  await stack.services.pay.stop()
  const st = await http(`${main}/api/orders/${id}/payment-status`, { token })
  t.equal(st.status, 200)
  t.match(st.json.data, { status: 'PENDING', paid: false })
  // The buyer pays while pay is down: the sandbox's notify fails and is retried on its schedule.
  const p = await http(`${sandbox}/control/alipay/trades/${orderNo}/pay`, { body: {} })
  t.equal(p.status, 200, p.text)
  await until('a failed delivery attempt', async () => {
    const list = (await http(`${sandbox}/control/alipay/notifications?outTradeNo=${orderNo}`)).json
    return Array.isArray(list) && list.length >= 1
  })
  t.equal((await http(`${main}/api/orders/${id}`, { token })).json.data.status, 'PENDING_PAYMENT')
  await stack.restart('pay')
  await until(
    'order PAID after pay restarts',
    async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID',
    30_000,
  )
  t.equal(await balance(token), 500)
  t.equal((await ledger(token)).totalElements, 1)
})

t.test('F: custom credits, errors, auth and ownership', async (t) => {
  const { token } = await newUser()
  const custom = await purchase(token, { packageCode: 'CREDITS_CUSTOM', customCredits: 300, channel: 'qr' })
  t.equal(custom.status, 200, custom.text)
  t.match(custom.json.data, { packageInfo: { credits: 300, price: 15 }, paymentInfo: { amount: 15 } })
  for (const n of [99, 10001]) {
    const r = await purchase(token, { packageCode: 'CREDITS_CUSTOM', customCredits: n })
    t.equal(r.status, 422)
    t.equal(r.json.error, 'CUSTOM_CREDITS_OUT_OF_RANGE')
  }
  const unknown = await purchase(token, { packageCode: 'CREDITS_42' })
  t.equal(unknown.status, 404)
  t.equal((await http(`${main}/api/credits/balance`)).status, 401)
  const other = await newUser()
  const peek = await http(`${main}/api/orders/${custom.json.data.id}`, { token: other.token })
  t.equal(peek.status, 403)
  t.equal((await http(`${main}/api/orders/${custom.json.data.id}/payment-status`, { token: other.token })).status, 403)
})

t.test('guest checkout credits the account of that email, claimable by registering', async (t) => {
  const email = `guest-${Date.now()}@example.com`
  const res = await http(`${main}/api/credits/purchase`, {
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr', customerEmail: email, customerName: '访客' },
  })
  t.equal(res.status, 200, res.text)
  const { orderNo } = res.json.data
  await http(`${sandbox}/control/alipay/trades/${orderNo}/pay`, { body: {} })
  await until('guest order PAID', async () => (await http(`${main}/api/payment-orders/${orderNo}/status`)).json.data.status === 'PAID')
  const reg = await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })
  t.equal(reg.status, 200, 'a guest account is claimed by registering')
  t.equal(await balance(reg.json.data.token), 200)
})

t.test('payment methods come from what pay has configured; the device picks the channel', async (t) => {
  const res = await http(`${main}/api/payment-methods`)
  t.equal(res.status, 200)
  const alipay = res.json.data.find((m: { code: string }) => m.code === 'ALIPAY')
  t.match(alipay, { name: '支付宝', enabled: true })
  t.same(
    alipay.channels.map((c: { code: string }) => c.code),
    ['page', 'wap', 'qr'],
  )
  const { token } = await newUser()
  const mobile = await purchase(token, { packageCode: 'CREDITS_200', device: 'mobile' })
  t.equal(mobile.status, 200, mobile.text)
  t.match(mobile.json.data.paymentInfo, { channel: 'wap', payType: 'form' })
  const pc = await purchase(token, { packageCode: 'CREDITS_200', device: 'pc' })
  t.match(pc.json.data.paymentInfo, { channel: 'page', payType: 'form' })
  const bad = await purchase(token, { packageCode: 'CREDITS_200', device: 'toaster' })
  t.equal(bad.status, 400)
})
