/**
 * Observability of pay: GET /metrics with payment attempts by provider and status, the outbox
 * backlog (read at scrape time), notifications by verdict and rejected ones by reason;
 * METRICS_TOKEN (pay is internet-facing); the caller's x-request-id used as pay's request id.
 */
import t from 'tap'
import { signServiceRequest } from '@paysys/service-auth'
import { loadConfig } from '../src/config.ts'
import { alipayNotifyParams, createRequest, postNotify, setupPay, signedNotifyBody, type PayHarness } from './helpers.ts'

/** The value of one sample in Prometheus text format; `labels` must all match. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return undefined
}

async function scrape(pay: PayHarness, headers: Record<string, string> = {}) {
  const res = await pay.app.inject({ method: 'GET', url: '/metrics', headers })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${res.body}`)
  return res.body
}

t.test('payments, notifications and the outbox move the series; rejected notifies are counted by reason', async (t) => {
  const pay = await setupPay(t)
  const first = await scrape(pay)
  t.match(first, '# TYPE paysys_notify_verification_failures_total counter')
  t.match(first, '# TYPE paysys_notifications_total counter')
  for (const provider of ['ALIPAY', 'WECHAT_PAY', 'EPAY'])
    for (const status of ['PENDING', 'PAID', 'CLOSED', 'FAILED', 'REFUNDED'])
      t.equal(sample(first, 'paysys_payment_attempts', { provider, status }), 0, `${provider} ${status} at 0`)
  t.equal(sample(first, 'paysys_outbox_pending'), 0)
  t.equal(sample(first, 'paysys_outbox_oldest_pending_age_seconds'), 0)
  t.equal(sample(first, 'paysys_outbox_dead'), 0)

  const req = createRequest()
  const created = await pay.call('POST', '/api/pay/create', req)
  t.equal(created.statusCode, 200, created.body)
  const afterCreate = await scrape(pay)
  t.equal(sample(afterCreate, 'paysys_payment_attempts', { provider: 'ALIPAY', status: 'PENDING' }), 1)
  t.equal(
    sample(afterCreate, 'paysys_http_request_duration_seconds_count', { method: 'POST', route: '/api/pay/create', status_code: '200' }),
    1,
  )

  // A notify signed with another key, then one for another amount: both rejected, each with its reason.
  const params = alipayNotifyParams({ out_trade_no: req.orderNo, app_id: pay.keys.alipay.appId, total_amount: '25.00' })
  const forged = await postNotify(pay.app, signedNotifyBody(params, pay.keys.alipay.merchantPrivateKey))
  t.equal(forged.body, 'failure')
  const cheap = await postNotify(pay.app, signedNotifyBody({ ...params, total_amount: '0.01' }, pay.keys.alipay.platformPrivateKey))
  t.equal(cheap.body, 'failure')
  const rejected = await scrape(pay)
  t.equal(sample(rejected, 'paysys_notify_verification_failures_total', { provider: 'ALIPAY', reason: 'BAD_SIGNATURE' }), 1)
  t.equal(sample(rejected, 'paysys_notify_verification_failures_total', { provider: 'ALIPAY', reason: 'AMOUNT_MISMATCH' }), 1)
  t.equal(sample(rejected, 'paysys_notifications_total', { provider: 'ALIPAY', verdict: 'REJECTED' }), 2)
  t.equal(sample(rejected, 'paysys_payment_attempts', { provider: 'ALIPAY', status: 'PAID' }), 0, 'nothing paid by them')
  const [logged] = await pay.sql<{ n: number }[]>`select count(*)::int as n from notify_log where verdict = 'REJECTED'`
  t.equal(logged!.n, 2, 'one count per notify_log REJECTED row')

  // The genuine notify, twice: paid once, one event waiting for main (nothing delivers it here).
  const body = signedNotifyBody(params, pay.keys.alipay.platformPrivateKey)
  t.equal((await postNotify(pay.app, body)).body, 'success')
  t.equal((await postNotify(pay.app, body)).body, 'success')
  await pay.sql`update outbox set created_at = now() - interval '90 seconds'`
  const paid = await scrape(pay)
  t.equal(sample(paid, 'paysys_payment_attempts', { provider: 'ALIPAY', status: 'PAID' }), 1)
  t.equal(sample(paid, 'paysys_payment_attempts', { provider: 'ALIPAY', status: 'PENDING' }), 0)
  t.equal(sample(paid, 'paysys_notifications_total', { provider: 'ALIPAY', verdict: 'ACCEPTED' }), 1)
  t.equal(sample(paid, 'paysys_notifications_total', { provider: 'ALIPAY', verdict: 'DUPLICATE' }), 1)
  t.equal(sample(paid, 'paysys_notify_verification_failures_total', { provider: 'ALIPAY', reason: 'BAD_SIGNATURE' }), 1, 'unchanged')
  t.equal(sample(paid, 'paysys_outbox_pending'), 1)
  const age = sample(paid, 'paysys_outbox_oldest_pending_age_seconds')!
  t.ok(age >= 90 && age < 150, `oldest pending event is ~90 s old (${age})`)

  // Given up after its retries: no longer pending, counted as dead.
  await pay.sql`update outbox set status = 'DEAD'`
  const dead = await scrape(pay)
  t.equal(sample(dead, 'paysys_outbox_pending'), 0)
  t.equal(sample(dead, 'paysys_outbox_oldest_pending_age_seconds'), 0)
  t.equal(sample(dead, 'paysys_outbox_dead'), 1)

  // A notify for a provider pay has no configuration for is rejected too, under its own name.
  const wechat = await pay.app.inject({
    method: 'POST',
    url: '/api/pay/notify/wechat',
    headers: { 'content-type': 'application/json' },
    payload: '{}',
  })
  t.not(wechat.statusCode, 500)
  const disabled = await scrape(pay)
  t.equal(sample(disabled, 'paysys_notify_verification_failures_total', { provider: 'WECHAT_PAY', reason: 'PROVIDER_DISABLED' }), 1)
})

t.test('METRICS_TOKEN guards /metrics on the internet-facing pay; without one it is open', async (t) => {
  const token = 'pay-metrics-token-0123456789'
  const pay = await setupPay(t, { env: { METRICS_TOKEN: token } })
  const none = await pay.app.inject('/metrics')
  t.equal(none.statusCode, 401)
  t.match(none.json(), { code: 401, error: 'UNAUTHORIZED' })
  t.notMatch(none.body, 'paysys_')
  t.equal((await pay.app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope-nope-nope-nope' } })).statusCode, 401)
  const ok = await scrape(pay, { authorization: `Bearer ${token}` })
  t.equal(sample(ok, 'paysys_outbox_pending'), 0)
  t.equal(
    sample(ok, 'paysys_http_request_duration_seconds_count', { route: '/metrics', status_code: '401' }),
    2,
    'refused scrapes are timed too',
  )
  t.equal((await pay.app.inject('/healthz')).statusCode, 200)

  const env = { ...pay.env }
  delete env.METRICS_TOKEN
  t.notOk('metricsToken' in loadConfig(env))
  t.throws(() => loadConfig({ ...env, METRICS_TOKEN: 'too-short' }), /METRICS_TOKEN must be at least 16 characters/)
})

t.test(
  "pay takes the caller's x-request-id as its request id and echoes it (test/e2e/metrics.test.ts reads it in pay's logs)",
  async (t) => {
    const pay = await setupPay(t)
    const headers = {
      ...signServiceRequest({ key: pay.serviceKey, method: 'GET', path: '/api/pay/methods', body: '' }),
      'x-request-id': 'rid-from-main-42',
    }
    const res = await pay.app.inject({ method: 'GET', url: '/api/pay/methods', headers })
    t.equal(res.statusCode, 200, res.body)
    t.equal(res.headers['x-request-id'], 'rid-from-main-42')
    const bad = await pay.app.inject({ url: '/healthz', headers: { 'x-request-id': 'x'.repeat(65) } })
    t.match(bad.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an oversized id is replaced by a fresh one')
  },
)
