/**
 * Observability end to end, over real HTTP between separately started processes: main's and pay's
 * /metrics move with a purchase (HTTP histogram, orders by status, payment attempts by provider and
 * status) and with a forged notify (verification failures by reason); pay's /metrics wants its
 * METRICS_TOKEN; the request id a client gives main is the one pay logs for the create call.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { http, startStack, until } from './fixtures/stack.ts'

const PAY_METRICS_TOKEN = 'e2e-pay-metrics-token-0123456789'
// pay logs at info: its request lines (with their request id) are read back from its output.
const stack = await startStack({ extra: { pay: { LOG_LEVEL: 'info', METRICS_TOKEN: PAY_METRICS_TOKEN } } })
t.teardown(() => stack.stop())
const { main, pay, sandbox } = stack

/** The value of one sample in Prometheus text format; `labels` must all match. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return 0 // a labelled series that was never touched is absent: it counts as 0
}

async function scrape(base: string, token?: string) {
  const res = await http(`${base}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
  if (res.status !== 200) throw new Error(`${base}/metrics answered ${res.status}: ${res.text.slice(0, 200)}`)
  if (!/^text\/plain; version=0\.0\.4/.test(String(res.headers['content-type'])))
    throw new Error(`not Prometheus text: ${res.headers['content-type']}`)
  return res.text
}
const scrapeMain = () => scrape(main)
const scrapePay = () => scrape(pay, PAY_METRICS_TOKEN)

t.test('a purchase moves main and pay metrics; a forged notify counts as BAD_SIGNATURE; pay logs the request id', async (t) => {
  const email = `metrics-${Date.now()}@example.com`
  const reg = await http(`${main}/api/auth/register`, { body: { email, password: 'password123', name: '指标' } })
  t.equal(reg.status, 200, reg.text)
  const token = reg.json.data.token as string

  const main0 = await scrapeMain()
  const pay0 = await scrapePay()

  // Alipay QR purchase with a request id of our own, paid through the sandbox.
  const requestId = `e2e-metrics-${randomBytes(6).toString('hex')}`
  const res = await http(`${main}/api/credits/purchase`, {
    token,
    headers: { 'x-request-id': requestId },
    body: { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  t.equal(res.status, 200, res.text)
  t.equal(res.headers['x-request-id'], requestId)
  const { id, orderNo } = res.json.data
  const paid = await http(`${sandbox}/control/alipay/trades/${orderNo}/pay`, { body: {} })
  t.equal(paid.status, 200, paid.text)
  await until('order PAID in main', async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID')

  const main1 = await scrapeMain()
  const pay1 = await scrapePay()
  const moved = (before: string, after: string, name: string, labels: Record<string, string> = {}) =>
    sample(after, name, labels) - sample(before, name, labels)

  const purchase = { method: 'POST', route: '/api/credits/purchase', status_code: '200' }
  t.equal(moved(main0, main1, 'paysys_http_request_duration_seconds_count', purchase), 1, 'main timed the purchase')
  t.ok(sample(main1, 'paysys_http_request_duration_seconds_sum', purchase) > 0)
  t.equal(moved(main0, main1, 'paysys_orders', { status: 'PAID' }), 1, 'main: one more PAID order')
  const create = { method: 'POST', route: '/api/pay/create', status_code: '200' }
  t.equal(moved(pay0, pay1, 'paysys_http_request_duration_seconds_count', create), 1, 'pay timed the create call')
  t.equal(moved(pay0, pay1, 'paysys_payment_attempts', { provider: 'ALIPAY', status: 'PAID' }), 1, 'pay: one more ALIPAY PAID attempt')
  t.ok(moved(pay0, pay1, 'paysys_notifications_total', { provider: 'ALIPAY', verdict: 'ACCEPTED' }) >= 1, 'the sandbox notify was accepted')
  await until('outbox drained', async () => sample(await scrapePay(), 'paysys_outbox_pending') === 0)
  t.equal(sample(await scrapePay(), 'paysys_outbox_oldest_pending_age_seconds'), 0)

  // A notify signed with the wrong key.
  const forged = await http(`${sandbox}/control/alipay/trades/${orderNo}/notify`, { body: { wrongKey: true } })
  t.equal(forged.status, 200, forged.text)
  t.same(
    forged.json.deliveries.map((d: { body: string }) => d.body),
    ['failure'],
  )
  const pay2 = await scrapePay()
  t.equal(moved(pay1, pay2, 'paysys_notify_verification_failures_total', { provider: 'ALIPAY', reason: 'BAD_SIGNATURE' }), 1)
  t.equal(moved(pay1, pay2, 'paysys_notifications_total', { provider: 'ALIPAY', verdict: 'REJECTED' }), 1)

  // pay's log lines for the create call carry the id the client gave main.
  const lines = stack.services.pay
    .output()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { reqId?: string; msg?: string; req?: { url?: string }; res?: { statusCode?: number } }]
      } catch {
        return [] // not a log line (or the last one, still being written)
      }
    })
  const mine = lines.filter((l) => l.reqId === requestId)
  t.ok(
    mine.some((l) => l.msg === 'incoming request' && l.req?.url === '/api/pay/create'),
    'pay logged the create call under the request id',
  )
  t.ok(
    mine.some((l) => l.msg === 'request completed' && l.res?.statusCode === 200),
    'and its completion',
  )
  t.notOk(
    lines.some((l) => l.req?.url === '/api/pay/create' && l.msg === 'incoming request' && l.reqId !== requestId),
    'no create call under another id',
  )
})

t.test("pay's /metrics wants METRICS_TOKEN; main's (no token configured) is open", async (t) => {
  const none = await http(`${pay}/metrics`)
  t.equal(none.status, 401)
  t.equal(none.json.error, 'UNAUTHORIZED')
  t.equal((await http(`${pay}/metrics`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401)
  t.equal((await http(`${main}/metrics`)).status, 200)
  t.equal((await http(`${pay}/readyz`)).status, 200)
})
