/**
 * End to end against the provider sandbox: the pay service and the sandbox run as their own
 * processes (src/server.ts of each), on their own databases; a small HTTP server stands in for
 * main and verifies the signed callbacks.
 */
import t from 'tap'
import { connect } from '@paysys/db'
import { createTestDatabase, freePort, generateDevKeys, stackEnv, startService } from '@paysys/devkit'
import { createServiceClient, parseServiceKeys } from '@paysys/service-auth'
import type { CreatePaymentResponse, Envelope, PaymentStatusResponse } from '@paysys/contracts'
import { createRequest, startStandInMain, waitFor } from './helpers.ts'

t.test('pay against the Alipay sandbox', async (t) => {
  const keys = generateDevKeys()
  const serviceKeys = parseServiceKeys(keys.serviceKeys)
  const payDb = await createTestDatabase('paye2e')
  const sandboxDb = await createTestDatabase('sbxe2e')
  t.teardown(() => Promise.all([payDb.drop(), sandboxDb.drop()]))

  const main = await startStandInMain(serviceKeys)
  t.teardown(main.close)
  const callbacks = main.callbacks
  const mainPort = main.port

  const ports = { main: mainPort, pay: await freePort(), sandbox: await freePort() }
  const env = stackEnv({
    keys,
    ports,
    databases: { main: 'postgres://unused', pay: payDb.url, sandbox: sandboxDb.url },
    extra: {
      pay: { LOG_LEVEL: 'warn', OUTBOX_POLL_MS: '50', PROVIDER_TIMEOUT_MS: '5000' },
      sandbox: { LOG_LEVEL: 'warn', SANDBOX_TIME_FACTOR: '0.001' },
    },
  })
  const sandbox = await startService('sandbox', env.sandbox)
  t.teardown(() => sandbox.stop())
  const pay = await startService('pay', env.pay)
  t.teardown(() => pay.stop())

  const client = createServiceClient({ baseUrl: pay.url, key: serviceKeys[0]!, timeoutMs: 10_000 })
  t.teardown(() => client.close())
  const sql = connect(payDb.url, { max: 2 })
  t.teardown(() => sql.end({ timeout: 5 }))
  const sandboxSql = connect(sandboxDb.url, { max: 1 })
  t.teardown(() => sandboxSql.end({ timeout: 5 }))
  const control = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
  }
  const create = async (over: Record<string, unknown>) => {
    const req = createRequest(over)
    const res = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
    return { req, res }
  }
  const status = async (orderNo: string) => (await client.get<Envelope<PaymentStatusResponse>>(`/api/pay/status/${orderNo}`)).body.data

  await t.test('qr: precreate returns the QR content; status actively queries and records the payment', async (t) => {
    const { req, res } = await create({ channel: 'qr', amount: 2500 })
    t.equal(res.status, 200, JSON.stringify(res.body))
    t.match(res.body.data, { payType: 'qrcode', channel: 'qr', amount: 2500 })
    t.type(res.body.data.qrCode, 'string')
    const trade = await control('GET', `/control/alipay/trades/${req.orderNo}`)
    t.match(trade.body, { status: 'WAIT_BUYER_PAY', totalAmount: '25.00', qrCode: res.body.data.qrCode })
    t.equal(trade.body.notifyUrl, `${env.pay.PUBLIC_URL}/api/pay/notify/alipay`)

    const again = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
    t.equal(again.body.data.qrCode, res.body.data.qrCode, 'same attempt, same QR')
    t.equal(again.body.data.paymentId, res.body.data.paymentId)

    t.match(await status(req.orderNo), { status: 'PENDING', tradeNo: null })

    // Paid at the provider, the notify lost: the status query alone gets it recorded.
    const paid = await control('POST', `/control/alipay/trades/${req.orderNo}/pay`, { notify: false })
    t.equal(paid.status, 200, JSON.stringify(paid.body))
    const s = await status(req.orderNo)
    t.match(s, { status: 'PAID', tradeNo: paid.body.trade.tradeNo, amount: 2500 })
    const [row] = await sql`select paid_via from payment_attempts where order_no = ${req.orderNo}`
    t.equal(row!.paid_via, 'QUERY')
    const cb = await waitFor(async () => callbacks.find((c) => c.event.orderNo === req.orderNo))
    t.ok(cb.verified, 'main received a correctly signed callback')
    t.match(cb.event, { type: 'PAYMENT_SUCCEEDED', orderId: req.orderId, amount: 2500, tradeNo: paid.body.trade.tradeNo, channel: 'qr' })
  })

  await t.test('the sandbox notify records the payment; duplicates and forgeries do not', async (t) => {
    const { req } = await create({ channel: 'qr', amount: 990 })
    const paid = await control('POST', `/control/alipay/trades/${req.orderNo}/pay`, {})
    t.equal(paid.status, 200)
    await waitFor(async () => (await sql`select 1 from payment_attempts where order_no = ${req.orderNo} and status = 'PAID'`).length === 1)
    const [row] = await sql`select paid_via, trade_no from payment_attempts where order_no = ${req.orderNo}`
    t.match(row, { paid_via: 'NOTIFY', trade_no: paid.body.trade.tradeNo })

    const dup = await control('POST', `/control/alipay/trades/${req.orderNo}/notify`, { times: 10 })
    t.same(
      dup.body.deliveries.map((d: { body: string }) => d.body),
      Array(10).fill('success'),
    )
    const forged = await control('POST', `/control/alipay/trades/${req.orderNo}/notify`, { wrongKey: true })
    t.equal(forged.body.deliveries[0].body, 'failure')
    const tampered = await control('POST', `/control/alipay/trades/${req.orderNo}/notify`, { tamper: { total_amount: '0.01' } })
    t.equal(tampered.body.deliveries[0].body, 'failure')
    const otherApp = await control('POST', `/control/alipay/trades/${req.orderNo}/notify`, { tamper: { app_id: '2021000000009999' } })
    t.equal(otherApp.body.deliveries[0].body, 'failure')
    const raw = await control('POST', '/control/alipay/notify-raw', {
      notifyUrl: `${env.pay.PUBLIC_URL}/api/pay/notify/alipay`,
      params: {
        app_id: keys.alipay.appId,
        out_trade_no: 'P20240101000000NOSUCHORDER',
        trade_no: 'X',
        trade_status: 'TRADE_SUCCESS',
        total_amount: '1.00',
      },
    })
    t.equal(raw.body.body, 'failure')

    t.equal(
      (
        await sql`select count(*)::int as n from outbox o join payment_attempts a on a.id = o.payment_attempt_id where a.order_no = ${req.orderNo}`
      )[0]!.n,
      1,
    )
    const verdicts = await sql`select verdict, reason from notify_log where out_trade_no = ${req.orderNo} order by id`
    // Counted, not ordered: the sandbox's own scheduled notify may be retried at any moment.
    t.equal(verdicts[0]!.verdict, 'ACCEPTED')
    t.equal(verdicts.filter((v) => v.verdict === 'ACCEPTED').length, 1)
    t.ok(verdicts.filter((v) => v.verdict === 'DUPLICATE').length >= 10)
    t.same(
      verdicts.filter((v) => v.verdict === 'REJECTED').map((v) => v.reason),
      ['BAD_SIGNATURE', 'AMOUNT_MISMATCH', 'APP_ID_MISMATCH'],
    )
    await waitFor(async () => callbacks.find((c) => c.event.orderNo === req.orderNo))
  })

  await t.test('page: the form, submitted as a browser would, passes the sandbox signature check', async (t) => {
    const { res } = await create({ channel: 'page', amount: 1500 })
    t.equal(res.status, 200)
    const html = res.body.data.formHtml as string
    const action = /<form action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&')
    t.ok(action.startsWith(`${env.pay.ALIPAY_GATEWAY}?`))
    const fields = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m): [string, string] => [
      m[1]!,
      m[2]!.replace(/&quot;/g, '"'),
    ])
    const submitted = await fetch(action, { method: 'POST', body: new URLSearchParams(fields) })
    const page = await submitted.text()
    t.equal(submitted.status, 200, page.slice(0, 500))
    t.match(page, /<button[^>]*>支付<\/button>/, 'the cashier page (the sandbox accepted our request signature)')
    const forged = fields.map(([k, v]): [string, string] => [k, k === 'biz_content' ? v.replace('"15.00"', '"0.01"') : v])
    const refused = await fetch(action, { method: 'POST', body: new URLSearchParams(forged) })
    const refusedPage = await refused.text()
    t.notMatch(refusedPage, /<button[^>]*>支付<\/button>/, `a tampered form is refused (${refused.status})`)
    t.match(refusedPage, /invalid-signature|验签/)
    const viaGet = await fetch(res.body.data.paymentUrl!)
    const getPage = await viaGet.text()
    t.equal(viaGet.status, 200, getPage.slice(0, 500))
    t.match(getPage, /<button[^>]*>支付<\/button>/)
  })

  await t.test('close closes the provider trade; switching channel closes the previous one', async (t) => {
    const { req, res } = await create({ channel: 'qr', amount: 100 })
    // Scanned: the trade exists at Alipay and the close closes it.
    t.equal((await fetch(`${sandbox.url}/scan?code=${encodeURIComponent(res.body.data.qrCode!)}`, { redirect: 'manual' })).status, 302)
    const closed = await client.post<Envelope<{ status: string }>>(`/api/pay/close/${req.orderNo}`, {})
    t.equal(closed.status, 200, JSON.stringify(closed.body))
    t.equal(closed.body.data.status, 'CLOSED')
    t.equal((await control('GET', `/control/alipay/trades/${req.orderNo}`)).body.status, 'TRADE_CLOSED')
    t.match(await sql`select close_unconfirmed from payment_attempts where order_no = ${req.orderNo}`, [{ close_unconfirmed: false }])

    // Not scanned: Alipay does not know the trade (ACQ.TRADE_NOT_EXIST), the QR stays payable until it expires.
    const unscanned = await create({ channel: 'qr', amount: 100 })
    const closed2 = await client.post<Envelope<{ status: string }>>(`/api/pay/close/${unscanned.req.orderNo}`, {})
    t.equal(closed2.body.data.status, 'CLOSED')
    t.equal((await control('GET', `/control/alipay/trades/${unscanned.req.orderNo}`)).body.status, 'WAIT_BUYER_PAY')
    const [attempt] =
      await sql`select close_unconfirmed, provider_expire_at from payment_attempts where order_no = ${unscanned.req.orderNo}`
    t.equal(attempt!.close_unconfirmed, true, 'closed here, but may still be paid there')
    t.ok(attempt!.provider_expire_at instanceof Date, 'until the time_expire sent')

    const page = await create({ channel: 'page', amount: 100 })
    const qr = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', { ...page.req, channel: 'qr' })
    t.equal(qr.status, 200, JSON.stringify(qr.body))
    t.equal(qr.body.data.payType, 'qrcode')
    const rows = await sql`select channel, status from payment_attempts where order_no = ${page.req.orderNo} order by created_at`
    t.same(
      rows.map((r) => `${r.channel}:${r.status}`),
      ['page:CLOSED', 'qr:PENDING'],
    )
  })

  await t.test('a QR code lives two hours: time_expire capped, and a dead one is never served again', async (t) => {
    // An order that lives five hours (ORDER_EXPIRE_MINUTES = 300).
    const expireAt = new Date(Date.now() + 5 * 3600_000).toISOString()
    const before = Date.now()
    const { req, res } = await create({ channel: 'qr', amount: 300, expireAt })
    const after = Date.now()
    t.equal(res.status, 200, JSON.stringify(res.body))
    const [a] = await sql`select provider_expire_at from payment_attempts where order_no = ${req.orderNo}`
    const dies = (a!.provider_expire_at as Date).getTime()
    t.ok(dies >= before + 2 * 3600_000 && dies <= after + 2 * 3600_000, 'time_expire capped at two hours')
    const [sb] = await sandboxSql`select expire_at from alipay_trades where out_trade_no = ${req.orderNo}`
    t.ok((sb!.expire_at as Date).getTime() <= dies, 'the time_expire the sandbox got is never later')
    // Two hours later (moved back in time here): the QR code is dead at the provider.
    await sql`update payment_attempts set provider_expire_at = now() - interval '1 second' where order_no = ${req.orderNo}`
    const again = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
    t.equal(again.status, 200, JSON.stringify(again.body))
    t.not(again.body.data.qrCode, res.body.data.qrCode, 'a new QR code')
    t.equal(again.body.data.outTradeNo, `${req.orderNo}_2`, 'on a new trade')
    const rows = await sql`select out_trade_no, status from payment_attempts where order_no = ${req.orderNo} order by created_at`
    t.same(
      rows.map((r) => `${r.out_trade_no}:${r.status}`),
      [`${req.orderNo}:CLOSED`, `${req.orderNo}_2:PENDING`],
    )
  })

  await t.test('pay stops cleanly on SIGTERM', async (t) => {
    await pay.stop()
    t.equal(pay.child.exitCode, 0, pay.output().slice(-2000))
  })
})
