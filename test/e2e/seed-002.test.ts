/**
 * Seed 002 (an Epay points shop) runs its own client unchanged: the document's `handlePayment` /
 * `pollOrderStatus` (fixtures/seed-002-client.js, copied verbatim) against the real stack, with a V1
 * (MD5) and a V2 (RSA) Epay operator, paying in the sandbox. Only the browser is shimmed: relative
 * fetch URLs resolve against main (the page's origin), `token` is the core API's JWT, and showQRCode /
 * alert / console are the buyer's eyes. Credited once, visible in 002's order answer and in the core API;
 * a mismatched amount/points pair is a 422 that writes nothing.
 */
import { readFileSync } from 'node:fs'
import { runInNewContext } from 'node:vm'
import t, { type Test } from 'tap'
import { http, startStack, until, type Stack } from './fixtures/stack.ts'

const CLIENT = readFileSync(new URL('./fixtures/seed-002-client.js', import.meta.url), 'utf8')
// Alipay direct is not configured: 002's `alipay` is served by whichever provider has it (Epay's alipay type).
const NO_ALIPAY = { ALIPAY_APP_ID: '', ALIPAY_PRIVATE_KEY: '', ALIPAY_PUBLIC_KEY: '' }

interface Browser {
  alerts: string[]
  logs: unknown[][]
  qrCodes: string[]
  jumps: string[]
  handlePayment(amount: number, points: number, paymentType: string): Promise<void>
}

/** The document's code in a page whose origin is main, logged in with `token`. */
function page(main: string, token: string): Browser {
  const b = { alerts: [] as string[], logs: [] as unknown[][], qrCodes: [] as string[], jumps: [] as string[] }
  const timers = new Set<ReturnType<typeof setInterval>>()
  const globals = {
    token,
    fetch: (url: string, init?: RequestInit) => fetch(new URL(url, main), init),
    window: {
      location: {
        set href(url: string) {
          b.jumps.push(url)
        },
      },
    },
    showQRCode: (content: string) => b.qrCodes.push(content),
    handleJSAPIPayment: () => {
      throw new Error('not a mini program')
    },
    alert: (message: string) => b.alerts.push(message),
    console: { log: (...args: unknown[]) => b.logs.push(args), error: (...args: unknown[]) => b.logs.push(['error', ...args]) },
    setInterval: (fn: () => void, ms: number) => {
      const id = setInterval(fn, ms)
      timers.add(id)
      return id
    },
    clearInterval: (id: ReturnType<typeof setInterval>) => {
      timers.delete(id)
      clearInterval(id)
    },
    setTimeout,
    JSON,
  }
  const fns = runInNewContext(`${CLIENT}\n;({ handlePayment, pollOrderStatus })`, globals) as { handlePayment: Browser['handlePayment'] }
  t.teardown(() => timers.forEach((id) => clearInterval(id)))
  return { ...b, handlePayment: fns.handlePayment }
}

async function register(stack: Stack, name: string) {
  const res = await http(`${stack.main}/api/auth/register`, {
    body: { email: `${name}-${Date.now()}@example.com`, password: 'password123' },
  })
  return res.json.data.token as string
}

const count = async (stack: Stack, table: 'orders' | 'credit_ledger') =>
  (await stack.mainSql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`))[0]!.n

async function runDocumentFlow(t: Test, stack: Stack, version: 1 | 2) {
  const token = await register(stack, `v${version}`)
  const browser = page(stack.main, token)
  await browser.handlePayment(10.0, 200, 'alipay')
  t.same(
    browser.logs.filter((l) => l[0] === '支付失败:'),
    [],
    'handlePayment did not fail',
  )
  const orderNo = browser.logs.find((l) => l[0] === '订单创建成功:')?.[1] as string
  t.match(orderNo, /^P\d{14}/, 'the order number came back in message.order_no')
  const payInfo = browser.logs.find((l) => l[0] === '支付信息:')?.[1] as Record<string, string>
  t.match(payInfo, { pay_type: 'qrcode', order_no: orderNo, trade_no: orderNo }, 'web + pc: a QR code')
  t.same(browser.qrCodes, [payInfo.pay_info], 'the page showed the QR code')

  // The buyer scans it and pays at Epay (the sandbox): the QR is that Epay order's, created through the chosen API.
  const trade = (await http(`${stack.sandbox}/control/epay/trades/${orderNo}`)).json
  t.match(trade, { qrCode: payInfo.pay_info, type: 'alipay', money: '10.00', api: version === 2 ? 'v2' : 'mapi' })
  const paid = await http(`${stack.sandbox}/control/epay/trades/${orderNo}/pay`, { body: {} })
  t.equal(paid.status, 200, paid.text)

  // pollOrderStatus (every 3 s, with sync=true) sees status 1 and says so.
  await until('the page alerts 支付成功！', async () => browser.alerts.length > 0, 40_000)
  t.same(browser.alerts, ['支付成功！'])

  const order = (await http(`${stack.main}/payment/order/${orderNo}?sync=1`, { token })).json
  t.match(order, {
    code: 0,
    message: {
      order_no: orderNo,
      amount: 10,
      points: 200,
      payment_type: 'alipay',
      status: 1,
      status_text: '已支付',
      paid_at: /^\d{4}-/,
      yipay_info: { trade_no: trade.tradeNo, status: 1, status_text: '已支付', endtime: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/ },
      synced: true,
    },
  })
  // A second notify (Epay retries) credits nothing more.
  const again = await http(`${stack.sandbox}/control/epay/trades/${orderNo}/notify`, { body: { times: 2 } })
  t.equal(again.status, 200, again.text)
  const core = (await http(`${stack.main}/api/orders/${order.message.order_id}`, { token })).json.data
  t.match(core, { orderNo, status: 'PAID', credits: 200, creditsGranted: true })
  t.equal((await http(`${stack.main}/api/credits/balance`, { token })).json.data.balance, 200, 'credited once')
  const rows = await stack.mainSql`select count(*)::int as n from credit_ledger where order_id = ${Number(order.message.order_id)}`
  t.equal(rows[0]!.n, 1, 'one ledger row for the order')
  return { token, orderNo }
}

/** One stack at a time: each is stopped when its subtest ends. */
async function withStack(t: Test, version: 1 | 2) {
  const stack = await startStack({ extra: { pay: { ...NO_ALIPAY, ...(version === 2 ? { EPAY_API_VERSION: '2' } : {}) } } })
  t.teardown(() => stack.stop())
  return stack
}

t.test('V1 (MD5) operator', async (t) => {
  const stack = await withStack(t, 1)
  const { token } = await runDocumentFlow(t, stack, 1)

  t.test('amount and points must be what the catalogue sells, else 422 and nothing written', async (t) => {
    const before = { orders: await count(stack, 'orders'), ledger: await count(stack, 'credit_ledger') }
    for (const body of [
      { amount: 10.0, points: 100, payment_type: 'alipay' }, // 200 credits cost 10.00, 100 cost 5.00
      { amount: 0.01, points: 200, payment_type: 'alipay' },
      { amount: 5.01, points: 100, payment_type: 'alipay' },
      { amount: 1000, points: 20000, payment_type: 'alipay' }, // beyond the custom range
    ]) {
      const res = await http(`${stack.main}/payment/create-order`, { token, body })
      t.equal(res.status, 422, JSON.stringify(body))
      t.match(res.json, { code: -1, message: String, error: /AMOUNT_MISMATCH|CUSTOM_CREDITS_OUT_OF_RANGE/ })
    }
    t.same({ orders: await count(stack, 'orders'), ledger: await count(stack, 'credit_ledger') }, before)
    // The custom rule (0.05 yuan a credit) and a catalogue package are accepted.
    const custom = await http(`${stack.main}/payment/create-order`, { token, body: { amount: 5, points: 100, payment_type: 'qq' } })
    t.match(custom.json, { code: 0, message: { amount: 5, points: 100, payment_type: 'qq', order_no: /^P/ } })
    const pkg = await http(`${stack.main}/payment/create-order`, { token, body: { amount: '25.00', points: 500, payment_type: 'bank' } })
    t.match(pkg.json, { code: 0, message: { amount: 25, points: 500, payment_type: 'bank' } })
    t.equal(await count(stack, 'orders'), before.orders + 2)
  })

  t.test('V1: method/device are mapped onto mapi.php (jump → device=jump, qq → qqpay)', async (t) => {
    const created = await http(`${stack.main}/payment/create-order`, { token, body: { amount: 5, points: 100, payment_type: 'qq' } })
    const orderNo = created.json.message.order_no
    const jump = await http(`${stack.main}/payment/get-pay-url`, { token, body: { order_no: orderNo, method: 'jump' } })
    t.match(jump.json, { code: 0, message: { pay_type: 'jump', pay_info: /\/cashier\/epay_/, order_no: orderNo } })
    t.match((await http(`${stack.sandbox}/control/epay/trades/${orderNo}`)).json, { type: 'qqpay', device: 'jump', api: 'mapi' })
    const jsapi = await http(`${stack.main}/payment/get-pay-url`, { token, body: { order_no: orderNo, method: 'jsapi' } })
    t.equal(jsapi.status, 422)
    t.match(jsapi.json, { code: -1, error: 'PAYMENT_METHOD_DISABLED' })
  })
})

t.test('V2 (RSA) operator', async (t) => {
  const stack = await withStack(t, 2)
  const { token } = await runDocumentFlow(t, stack, 2)

  t.test('V2: method and device pass through, pay_type/pay_info as Epay answered', async (t) => {
    const created = await http(`${stack.main}/payment/create-order`, { token, body: { amount: 5, points: 100, payment_type: 'qq' } })
    const orderNo = created.json.message.order_no
    const mobile = await http(`${stack.main}/payment/get-pay-url`, { token, body: { order_no: orderNo, method: 'web', device: 'mobile' } })
    t.match(mobile.json, { code: 0, message: { pay_type: 'jump', pay_info: /\/cashier\/epay_/, trade_no: orderNo } })
    t.match((await http(`${stack.sandbox}/control/epay/trades/${orderNo}`)).json, { type: 'qqpay', device: 'mobile', api: 'v2' })
  })
})
