/**
 * A payment taken twice, as real Alipay makes possible: a QR trade does not exist at Alipay until the
 * buyer scans it, so the close pay sends when the buyer switches channel answers ACQ.TRADE_NOT_EXIST
 * and does not stop the QR code. The buyer pays the new channel, then scans and pays the old QR code.
 * One payment is kept, the other is refunded by pay at the provider by itself, the credits are granted
 * once; Alipay's notify of that refund (TRADE_CLOSED) is acknowledged with `success`. Checked at main
 * (orders, ledger, admin trail), at pay (attempts, refunds, events, notify log) and at the sandbox
 * (its trades and the notifies it sent), each independently.
 */
import t from 'tap'
import { http, parseForm, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const stack = await startStack({ extra: { main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password } } })
t.teardown(() => stack.stop())
const { main, sandbox, paySql, mainSql } = stack

const trade = async (outTradeNo: string) => (await http(`${sandbox}/control/alipay/trades/${outTradeNo}`)).json

t.test('an old QR code paid after a channel switch: one payment kept, the other refunded automatically, credited once', async (t) => {
  const reg = await http(`${main}/api/auth/register`, { body: { email: `dup-${Date.now()}@example.com`, password: 'password123' } })
  const token = reg.json.data.token as string
  const userId = reg.json.data.user.id as number

  // 1. A QR code is offered; the buyer does not scan it yet.
  const buy = await http(`${main}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', channel: 'qr', device: 'pc' },
  })
  t.equal(buy.status, 200, buy.text)
  const { id, orderNo, paymentInfo: qr } = buy.json.data
  t.equal(qr.payType, 'qrcode')

  // 2. The buyer switches to the cashier page: pay closes the QR trade (Alipay does not know it yet).
  const again = await http(`${main}/api/orders/${id}/pay`, { token, body: { method: 'ALIPAY', channel: 'page', device: 'pc' } })
  t.equal(again.status, 200, again.text)
  const page = again.json.data.paymentInfo ?? again.json.data
  t.equal(page.outTradeNo, `${orderNo}_2`)
  t.equal((await trade(orderNo)).status, 'WAIT_BUYER_PAY', 'the close did not stop the QR code')

  // 3. The buyer pays on the page.
  const form = parseForm(page.formHtml, 'punchout_form')
  const opened = await http(form.action, { method: form.method, form: form.fields })
  t.equal(opened.status, 302, opened.text.slice(0, 200))
  const paidPage = await http(`${sandbox}/control/alipay/trades/${page.outTradeNo}/pay`, { body: {} })
  t.equal(paidPage.status, 200, paidPage.text)
  await until('order PAID', async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID', 30_000)

  // 4. Then scans the old QR code and pays it too: Alipay takes the money.
  const scanned = await http(`${sandbox}/scan?code=${encodeURIComponent(qr.qrCode)}`)
  t.equal(scanned.status, 302)
  const cashier = String(scanned.headers.location)
  const paidQr = await http(`${sandbox}${cashier}/pay`, { method: 'POST', form: {} })
  t.equal(paidQr.status, 200, `the old QR code is still payable: ${paidQr.text.slice(0, 200)}`)
  t.match(paidQr.text, /支付成功/)

  // 5. At the provider: the later payment is refunded in full, by pay alone; the kept one is untouched.
  const refunded = await until(
    'the duplicate payment refunded at the sandbox',
    async () => {
      const tr = await trade(orderNo)
      return tr.refundedAmount === '25.00' && tr
    },
    30_000,
  )
  t.match(refunded, { status: 'TRADE_CLOSED', totalAmount: '25.00', refundedAmount: '25.00' })
  t.match(await trade(page.outTradeNo), { status: 'TRADE_SUCCESS', refundedAmount: '0.00' })

  // Alipay's refund notify (TRADE_CLOSED + refund fields) is acknowledged: it changes nothing.
  const refundNotify = await until(
    'the refund notify acknowledged',
    async () => {
      const list = (await http(`${sandbox}/control/alipay/notifications?outTradeNo=${orderNo}`)).json as {
        responseBody: string | null
        params: Record<string, string>
      }[]
      return list.find((n) => n.params.refund_fee === '25.00' && n.responseBody === 'success')
    },
    30_000,
  )
  t.match(refundNotify.params, { trade_status: 'TRADE_CLOSED', out_trade_no: orderNo, refund_fee: '25.00' })
  t.match(refundNotify.params.gmt_refund, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/)

  // 6. At pay: the duplicate attempt REFUNDED by a ledger-free DUPLICATE_PAYMENT refund, no event for it.
  const attempts = await paySql`select out_trade_no, status from payment_attempts where order_no = ${orderNo} order by out_trade_no`
  t.same(
    attempts.map((a) => `${a.out_trade_no}:${a.status}`),
    [`${orderNo}:REFUNDED`, `${orderNo}_2:PAID`],
  )
  const refunds = await paySql`select kind, status, amount from refunds where order_no = ${orderNo}`
  t.same(
    refunds.map((r) => ({ ...r, amount: Number(r.amount) })),
    [{ kind: 'DUPLICATE_PAYMENT', status: 'SUCCEEDED', amount: 2500 }],
    'one automatic refund',
  )
  const events = await paySql`
    select event_type from outbox where payment_attempt_id in (select id from payment_attempts where order_no = ${orderNo})
       or refund_id in (select id from refunds where order_no = ${orderNo})`
  t.same(
    events.map((e) => e.event_type),
    ['PAYMENT_SUCCEEDED'],
    'main hears of one payment only, and of no refund',
  )
  const rejected = await paySql`select reason from notify_log where out_trade_no = ${orderNo} and verdict = 'REJECTED'`
  t.same(rejected, [], 'no notify of the trade was refused')

  // 7. At main: paid once, credited once, nothing refunded there.
  const order = (await http(`${main}/api/orders/${id}`, { token })).json.data
  t.match(order, { status: 'PAID', creditsGranted: true })
  t.equal((await http(`${main}/api/credits/balance`, { token })).json.data.balance, 500)
  const ledger = await mainSql`select type, delta from credit_ledger where user_id = ${userId} order by id`
  t.same(
    ledger.map((l) => `${l.type}:${l.delta}`),
    ['PURCHASE:500'],
    'one ledger entry',
  )
  t.equal((await mainSql`select count(*)::int as n from refunds where order_id = ${id}`)[0]!.n, 0, 'no refund of main')

  // 8. The admin sees it in the order's trail.
  const admin = await http(`${main}/api/auth/login`, { body: ADMIN })
  const trail = await http(`${main}/api/admin/orders/${id}/trail`, { token: admin.json.data.token })
  t.equal(trail.status, 200)
  const titles = (trail.json.data.timeline as { title: string; status: string | null }[]).map((e) => `${e.title}:${e.status}`)
  t.ok(titles.includes('重复支付自动退款:PENDING'), titles.join(', '))
  t.ok(titles.includes('重复支付已退回:SUCCEEDED'), titles.join(', '))
})
