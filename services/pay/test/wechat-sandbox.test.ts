/**
 * WeChat Pay end to end against the provider sandbox: pay and the sandbox run as their own
 * processes (src/server.ts of each) on their own databases, wired by devkit's stackEnv; a small
 * HTTP server stands in for main and verifies the signed callbacks.
 */
import t from 'tap'
import { connect } from '@paysys/db'
import { createTestDatabase, freePort, generateDevKeys, stackEnv, startService } from '@paysys/devkit'
import { createServiceClient, parseServiceKeys } from '@paysys/service-auth'
import type { CreatePaymentResponse, Envelope, PaymentStatusResponse } from '@paysys/contracts'
import { loadConfig } from '../src/config.ts'
import { createWechatProvider } from '../src/providers/wechat/wechat.ts'
import { createRequest, startStandInMain, waitFor } from './helpers.ts'

const OPENID = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o'

t.test('pay against the WeChat Pay sandbox', async (t) => {
  const keys = generateDevKeys()
  const serviceKeys = parseServiceKeys(keys.serviceKeys)
  const payDb = await createTestDatabase('paywx')
  const sandboxDb = await createTestDatabase('sbxwx')
  t.teardown(() => Promise.all([payDb.drop(), sandboxDb.drop()]))

  const main = await startStandInMain(serviceKeys)
  t.teardown(main.close)
  const callbacks = main.callbacks

  const ports = { main: main.port, pay: await freePort(), sandbox: await freePort() }
  const env = stackEnv({
    keys,
    ports,
    databases: { main: 'postgres://unused', pay: payDb.url, sandbox: sandboxDb.url },
    extra: {
      pay: { LOG_LEVEL: 'warn', OUTBOX_POLL_MS: '50', PROVIDER_TIMEOUT_MS: '5000' },
      sandbox: { LOG_LEVEL: 'warn', SANDBOX_TIME_FACTOR: '0.001' },
    },
  })
  t.match(env.pay, { WECHAT_APPID: keys.wechat.appId, WECHAT_BASE_URL: `http://127.0.0.1:${ports.sandbox}` })
  t.match(env.sandbox, { SANDBOX_WECHAT_MCHID: keys.wechat.mchId, SANDBOX_WECHAT_APIV3_KEY: keys.wechat.apiV3Key })
  const sandbox = await startService('sandbox', env.sandbox)
  t.teardown(() => sandbox.stop())
  const pay = await startService('pay', env.pay)
  t.teardown(() => pay.stop())

  const client = createServiceClient({ baseUrl: pay.url, key: serviceKeys[0]!, timeoutMs: 10_000 })
  t.teardown(() => client.close())
  const sql = connect(payDb.url, { max: 2 })
  t.teardown(() => sql.end({ timeout: 5 }))
  const control = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
  }
  const create = async (over: Record<string, unknown>) => {
    const req = createRequest({ method: 'WECHAT_PAY', channel: 'native', ...over })
    const res = await client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req)
    t.equal(res.status, 200, JSON.stringify(res.body))
    return { req, data: res.body.data }
  }
  const status = async (orderNo: string) => (await client.get<Envelope<PaymentStatusResponse>>(`/api/pay/status/${orderNo}`)).body.data
  const attempt = async (orderNo: string) =>
    (await sql`select status, trade_no, paid_via from payment_attempts where order_no = ${orderNo}`)[0]
  const eventCount = async (orderNo: string) =>
    (
      await sql`select count(*)::int as n from outbox o join payment_attempts a on a.id = o.payment_attempt_id where a.order_no = ${orderNo}`
    )[0]!.n
  const paidByNotify = (orderNo: string) =>
    waitFor(async () => (await sql`select 1 from payment_attempts where order_no = ${orderNo} and status = 'PAID'`).length === 1)
  const cashierOf = async (code: string) => {
    const scan = await fetch(`${sandbox.url}/scan?code=${encodeURIComponent(code)}`, { redirect: 'manual' })
    t.equal(scan.status, 302, `scan ${code}`)
    return `${sandbox.url}${scan.headers.get('location')}`
  }
  const click = (url: string) => fetch(url, { method: 'POST', redirect: 'manual' })

  await t.test('native: code_url → scan → 支付 → verified notify → PAID, one event, one callback; duplicates change nothing', async (t) => {
    const { req, data } = await create({ amount: 2500 })
    t.match(data, { payType: 'qrcode', qrCode: /^weixin:\/\/wxpay\/bizpayurl\?pr=/ })
    const trade = await control('GET', `/control/wechat/trades/${req.orderNo}`)
    t.match(trade.body, {
      tradeState: 'NOTPAY',
      tradeType: 'NATIVE',
      amountTotal: 2500,
      codeUrl: data.qrCode,
      notifyUrl: `${env.pay.PUBLIC_URL}/api/pay/notify/wechat`,
    })
    t.match(await status(req.orderNo), { status: 'PENDING', tradeNo: null })

    const page = await (await fetch(await cashierOf(data.qrCode!))).text()
    t.match(page, /<button[^>]*>支付<\/button>/)
    const paid = await click(`${await cashierOf(data.qrCode!)}/pay`)
    t.equal(paid.status, 200)
    await paidByNotify(req.orderNo)
    const after = await control('GET', `/control/wechat/trades/${req.orderNo}`)
    t.match(await attempt(req.orderNo), { status: 'PAID', paid_via: 'NOTIFY', trade_no: after.body.transactionId })
    // The sandbox records the attempt once pay's answer is in: wait for it.
    const deliveries = await waitFor(async () => {
      const r = await control('GET', `/control/wechat/notifications?outTradeNo=${req.orderNo}`)
      return (r.body as unknown[]).length > 0 && r
    })
    t.match(deliveries.body, [{ kind: 'auto', attempt: 1, status: 204, responseBody: '', deliveryState: 'DELIVERED' }])

    const dup = await control('POST', `/control/wechat/trades/${req.orderNo}/notify`, { times: 5 })
    t.same(
      dup.body.deliveries.map((d: { status: number }) => d.status),
      [204, 204, 204, 204, 204],
    )
    t.equal(await eventCount(req.orderNo), 1, 'exactly one outbox event')
    const cb = await waitFor(async () => callbacks.find((c) => c.event.orderNo === req.orderNo))
    t.ok(cb.verified)
    t.match(cb.event, {
      type: 'PAYMENT_SUCCEEDED',
      orderId: req.orderId,
      amount: 2500,
      provider: 'WECHAT_PAY',
      channel: 'native',
      tradeNo: after.body.transactionId,
    })
    const verdicts = await sql`select verdict from notify_log where out_trade_no = ${req.orderNo}`
    t.equal(verdicts.filter((v) => v.verdict === 'ACCEPTED').length, 1)
    t.equal(verdicts.filter((v) => v.verdict === 'DUPLICATE').length, 5)
    await waitFor(async () => callbacks.filter((c) => c.event.orderNo === req.orderNo).length >= 1)
    t.equal(callbacks.filter((c) => c.event.orderNo === req.orderNo).length, 1, 'main is called once')
  })

  await t.test(
    'a Native QR code lives two hours: time_expire capped, a dead one is refused by WeChat and never served again',
    async (t) => {
      const sandboxSql = connect(sandboxDb.url, { max: 1 })
      t.teardown(() => sandboxSql.end({ timeout: 5 }))
      // An order that lives five hours (ORDER_EXPIRE_MINUTES = 300).
      const expireAt = new Date(Date.now() + 5 * 3600_000)
      const before = Date.now()
      const { req, data } = await create({ amount: 350, expireAt: expireAt.toISOString() })
      const after = Date.now()
      const [a] = await sql`select provider_expire_at from payment_attempts where order_no = ${req.orderNo}`
      const dies = (a!.provider_expire_at as Date).getTime()
      t.ok(dies > before + 2 * 3600_000 - 1000 && dies <= after + 2 * 3600_000, 'provider expiry: two hours, not the order’s five')
      const trade = await control('GET', `/control/wechat/trades/${req.orderNo}`)
      t.equal(new Date(trade.body.timeExpire).getTime(), dies, 'the time_expire WeChat got is that moment')
      // Asked again within the two hours: the same QR code, from pay's record.
      t.equal((await create({ ...req })).data.qrCode, data.qrCode)
      // Two hours pass, at WeChat and at pay.
      await sandboxSql`update wechat_trades set created_at = created_at - interval '2 hours' where out_trade_no = ${req.orderNo}`
      await sql`update payment_attempts set provider_expire_at = now() - interval '1 second' where order_no = ${req.orderNo}`
      const dead = await click(`${await cashierOf(data.qrCode!)}/pay`)
      t.equal(dead.status, 409, 'WeChat refuses to pay a dead code_url')
      t.match(await dead.text(), /二维码已过期/)
      const again = await create({ ...req })
      t.not(again.data.qrCode, data.qrCode, 'a new QR code')
      t.equal(again.data.outTradeNo, `${req.orderNo}_2`, 'on a new trade')
      const attempts = await sql`select out_trade_no, status from payment_attempts where order_no = ${req.orderNo} order by created_at`
      t.equal(attempts.length, 2)
      t.match(attempts, [
        { out_trade_no: req.orderNo, status: 'CLOSED' },
        { out_trade_no: `${req.orderNo}_2`, status: 'PENDING' },
      ])
      t.equal((await click(`${await cashierOf(again.data.qrCode!)}/pay`)).status, 200, 'the new one pays')
      await paidByNotify(req.orderNo)
    },
  )

  await t.test('jsapi and h5 live as the order does: their provider expiry is the order’s, sent as time_expire', async (t) => {
    const expireAt = new Date(Math.floor((Date.now() + 5 * 3600_000) / 1000) * 1000)
    const { req } = await create({ channel: 'jsapi', openid: OPENID, amount: 360, expireAt: expireAt.toISOString() })
    const [a] = await sql`select provider_expire_at from payment_attempts where order_no = ${req.orderNo}`
    t.equal((a!.provider_expire_at as Date).getTime(), expireAt.getTime())
    t.equal(new Date((await control('GET', `/control/wechat/trades/${req.orderNo}`)).body.timeExpire).getTime(), expireAt.getTime())
  })

  await t.test('jsapi: signed JSAPI parameters for the openid; paying (WeixinJSBridge stand-in) → PAID', async (t) => {
    const { req, data } = await create({ channel: 'jsapi', amount: 990, openid: OPENID })
    t.match(data.jsapiParams, { appId: keys.wechat.appId, package: /^prepay_id=wx/, signType: 'RSA' })
    t.match((await control('GET', `/control/wechat/trades/${req.orderNo}`)).body, { tradeType: 'JSAPI', payerOpenid: OPENID })
    const paid = await click(`${await cashierOf(data.jsapiParams!.package!)}/pay`)
    t.equal(paid.status, 200)
    await paidByNotify(req.orderNo)
    t.equal(await eventCount(req.orderNo), 1)
    const noOpenid = await client.post<Envelope<null>>('/api/pay/create', createRequest({ method: 'WECHAT_PAY', channel: 'jsapi' }))
    t.equal(noOpenid.status, 400)
    t.match(noOpenid.body, { error: 'INVALID_PARAMS', message: /openid/ })
  })

  await t.test('h5: h5_url → cashier → 支付 → back through pay’s return route to the frontend; notify → PAID', async (t) => {
    const { req, data } = await create({ channel: 'h5', amount: 1500, clientIp: '203.0.113.5' })
    t.equal(data.payType, 'jump')
    const open = await fetch(data.paymentUrl!, { redirect: 'manual' })
    t.equal(open.status, 302)
    const paid = await click(`${sandbox.url}${open.headers.get('location')}/pay`)
    t.equal(paid.status, 302)
    const back = paid.headers.get('location')!
    t.equal(back, `${env.pay.PUBLIC_URL}/api/pay/return?out_trade_no=${req.orderNo}`)
    const ret = await fetch(back.replace(env.pay.PUBLIC_URL!, pay.url), { redirect: 'manual' })
    t.equal(ret.status, 302)
    t.equal(ret.headers.get('location'), `http://localhost:3000/order/${req.orderId}`)
    await paidByNotify(req.orderNo)
    t.equal(await eventCount(req.orderNo), 1)
  })

  await t.test('h5 again from another network: the number is not re-sent with other parameters, a new attempt is opened', async (t) => {
    const first = await create({ channel: 'h5', amount: 1300, clientIp: '203.0.113.5' })
    const prepayOf = (u: string) => new URL(u).searchParams.get('prepay_id')
    const same = await create({
      channel: 'h5',
      amount: 1300,
      clientIp: '203.0.113.5',
      orderId: first.req.orderId,
      orderNo: first.req.orderNo,
    })
    t.equal(prepayOf(same.data.paymentUrl!), prepayOf(first.data.paymentUrl!), 'the same parameters: the same prepay')
    t.equal(same.data.outTradeNo, first.req.orderNo)
    const moved = await create({
      channel: 'h5',
      amount: 1300,
      clientIp: '198.51.100.7',
      orderId: first.req.orderId,
      orderNo: first.req.orderNo,
    })
    t.not(moved.data.outTradeNo, first.req.orderNo, 'a new trade number')
    t.not(prepayOf(moved.data.paymentUrl!), prepayOf(first.data.paymentUrl!))
    t.match((await control('GET', `/control/wechat/trades/${first.req.orderNo}`)).body, { tradeState: 'CLOSED' }, 'the first one closed')
    t.match((await control('GET', `/control/wechat/trades/${moved.data.outTradeNo}`)).body, { tradeState: 'NOTPAY' })
    const open = await fetch(moved.data.paymentUrl!, { redirect: 'manual' })
    t.equal(open.status, 302, 'the new link opens the cashier')
    // h5_url lives 5 minutes: an older link is refused.
    const old = new URL(moved.data.paymentUrl!)
    const pkg = old.searchParams.get('package')!
    old.searchParams.set('package', `${pkg.slice(0, 10)}${(Date.now() - 6 * 60_000).toString(36)}`)
    t.equal((await fetch(old, { redirect: 'manual' })).status, 403, 'a 6-minute-old h5_url is expired')
  })

  await t.test('forged, tampered and mis-addressed notifies are refused with 4xx, logged, and change nothing', async (t) => {
    const { req } = await create({ amount: 2500 })
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ wrongKey: true }, 'BAD_SIGNATURE'],
      [{ wrongSerial: true }, 'SERIAL_MISMATCH'],
      [{ corruptCiphertext: true }, 'DECRYPT_FAILED'],
      [{ tamper: { mchid: '1900000109' } }, 'MCHID_MISMATCH'],
      [{ tamper: { appid: 'wx0123456789abcdef' } }, 'APPID_MISMATCH'],
      [{ tamper: { amount_total: 1 } }, 'AMOUNT_MISMATCH'],
    ]
    for (const [body, reason] of cases) {
      const r = await control('POST', `/control/wechat/trades/${req.orderNo}/notify`, body)
      t.equal(r.body.deliveries[0].status, 400, reason)
      t.match(JSON.parse(r.body.deliveries[0].body), { code: 'FAIL' }, reason)
    }
    const raw = await control('POST', '/control/wechat/notify-raw', {
      notifyUrl: `${env.pay.PUBLIC_URL}/api/pay/notify/wechat`,
      resource: {
        mchid: keys.wechat.mchId,
        appid: keys.wechat.appId,
        out_trade_no: 'P20240101000000NOSUCHORDER',
        transaction_id: '4200000000000000000000000001',
        trade_state: 'SUCCESS',
        amount: { total: 100, currency: 'CNY' },
      },
    })
    t.equal(raw.body.status, 400)
    t.match(await attempt(req.orderNo), { status: 'PENDING', trade_no: null })
    t.equal(await eventCount(req.orderNo), 0)
    const logged = await sql`select verdict, reason, out_trade_no from notify_log where provider = 'WECHAT_PAY' order by id desc limit 7`
    t.same(logged.map((l) => l.reason).reverse(), [...cases.map(([, r]) => r), 'UNKNOWN_ORDER'])
    t.ok(logged.every((l) => l.verdict === 'REJECTED'))
    // The genuine notify still goes through afterwards.
    await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, {})
    await paidByNotify(req.orderNo)
    t.equal(await eventCount(req.orderNo), 1)
  })

  await t.test('close: the sandbox refuses a later payment; a notify that still arrives is recorded as paid after close', async (t) => {
    const { req, data } = await create({ amount: 100 })
    const closed = await client.post<Envelope<{ status: string }>>(`/api/pay/close/${req.orderNo}`, {})
    t.equal(closed.status, 200, JSON.stringify(closed.body))
    t.equal(closed.body.data.status, 'CLOSED')
    t.equal((await control('GET', `/control/wechat/trades/${req.orderNo}`)).body.tradeState, 'CLOSED')
    t.equal((await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, {})).status, 409)
    t.equal((await click(`${await cashierOf(data.qrCode!)}/pay`)).status, 409)
    t.match(await status(req.orderNo), { status: 'CLOSED' })

    const late = await control('POST', `/control/wechat/trades/${req.orderNo}/notify`, {})
    t.equal(late.body.deliveries[0].status, 204)
    t.match(await attempt(req.orderNo), { status: 'PAID', paid_via: 'NOTIFY' })
    t.match(await sql`select verdict, reason from notify_log where out_trade_no = ${req.orderNo}`, [
      { verdict: 'ACCEPTED', reason: 'PAID_AFTER_CLOSE' },
    ])
    t.equal(await eventCount(req.orderNo), 1)
  })

  await t.test('query: a payment whose notify never came is recorded by the status call', async (t) => {
    const { req } = await create({ amount: 700 })
    const paid = await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, { notify: false })
    t.equal(paid.status, 200)
    const s = await status(req.orderNo)
    t.match(s, { status: 'PAID', tradeNo: paid.body.trade.transactionId, amount: 700, method: 'WECHAT_PAY' })
    t.match(await attempt(req.orderNo), { paid_via: 'QUERY' })
    t.equal(await eventCount(req.orderNo), 1)
    t.same(await control('GET', `/control/wechat/notifications?outTradeNo=${req.orderNo}`).then((r) => r.body), [], 'no notify was sent')
    await waitFor(async () => callbacks.find((c) => c.event.orderNo === req.orderNo))
  })

  await t.test(
    'the adapter against the sandbox: refunds, refund query, and /v3/certificates when no platform cert is configured',
    async (t) => {
      const { req } = await create({ amount: 1000 })
      await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, { notify: false })
      const { WECHAT_PLATFORM_CERT: _omitted, ...withoutCert } = env.pay
      for (const [name, e] of Object.entries({ configured: env.pay, downloaded: withoutCert })) {
        const config = loadConfig(e)
        const provider = createWechatProvider(config.wechat!, { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 })
        const q = await provider.query(req.orderNo)
        t.match(q, { found: true, state: 'SUCCEEDED', amount: 1000 }, `${name}: query`)
      }
      const provider = createWechatProvider(loadConfig(withoutCert).wechat!, { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 })
      const r1 = await provider.refund({
        outTradeNo: req.orderNo,
        refundNo: `R1${req.orderNo}`.slice(0, 64),
        amount: 300,
        reason: '部分退款',
      })
      t.match(r1, { amount: 300, state: 'SUCCEEDED' })
      t.ok(r1.refundedAt)
      t.match(await provider.queryRefund(`R1${req.orderNo}`.slice(0, 64)), { amount: 300, state: 'SUCCEEDED' })
      t.equal(await provider.queryRefund('RNOSUCHREFUND'), null)
      const r1again = await provider.refund({ outTradeNo: req.orderNo, refundNo: `R1${req.orderNo}`.slice(0, 64), amount: 300 })
      t.match(r1again, { amount: 300, state: 'SUCCEEDED' }, 'asked again: the same refund, not a second one')
      t.match(await provider.refund({ outTradeNo: req.orderNo, refundNo: `R1${req.orderNo}`.slice(0, 64), amount: 200 }), {
        state: 'FAILED',
        failureReason: /out_refund_no/,
      })
      const over = await provider.refund({ outTradeNo: req.orderNo, refundNo: `R2${req.orderNo}`.slice(0, 64), amount: 701 })
      t.match(
        over,
        { state: 'FAILED', amount: 701, refundedAt: null, failureReason: /INVALID_REQUEST/ },
        'over the refundable rest: refused',
      )
      const q = await provider.query(req.orderNo)
      t.match(q, { found: true, providerStatus: 'REFUND', state: 'CLOSED' })
      t.match(await provider.refund({ outTradeNo: 'P20240101000000NOSUCHORDER', refundNo: 'R3XXXXXX', amount: 1 }), {
        state: 'FAILED',
        failureReason: /ORDER_NOT_EXIST/,
      })
      const rest = await provider.refund({ outTradeNo: req.orderNo, refundNo: `R4${req.orderNo}`.slice(0, 64), amount: 700 })
      t.match(rest, { state: 'SUCCEEDED', amount: 700 })
    },
  )

  const fault = async (operation: string, mode: string) => {
    const res = await control('POST', '/control/faults', { provider: 'wechat', operation, mode })
    t.equal(res.status, 200, JSON.stringify(res.body))
  }
  const hits = async (operation: string) =>
    ((await control('GET', '/control/faults')).body.faults as { operation: string; hits: number }[]).find((f) => f.operation === operation)
      ?.hits ?? 0
  const refundVia = (orderNo: string, refundNo: string, amount: number) =>
    client.post<Envelope<{ status: string; failureReason: string | null }>>('/api/pay/refund', { orderNo, refundNo, amount })
  const payRefund = async (refundNo: string) =>
    (await sql`select status, failure_reason from refunds where refund_no = ${refundNo}`)[0] as { status: string } | undefined
  /** An order paid at the sandbox without a notify, recorded by pay's status call. */
  const paidOrder = async (amount: number) => {
    const { req } = await create({ amount })
    await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, { notify: false })
    const now = await status(req.orderNo)
    if (now.status !== 'PAID') throw new Error(`${req.orderNo} not recorded as paid: ${now.status}`)
    return req.orderNo
  }
  /** What the sandbox makes of new refunds (SUCCESS, PROCESSING, ABNORMAL, CLOSED). */
  const refundMode = (m: string) => control('POST', '/control/wechat/refund-mode', { status: m })
  const settle = (refundNo: string, to: string) => control('POST', `/control/wechat/refunds/${refundNo}`, { status: to })
  const refundEvents = async (refundNo: string) =>
    (await sql`select count(*)::int as n from outbox where payload->>'refundNo' = ${refundNo}`)[0]!.n as number

  await t.test('an unsigned 404 on the refund query (as WeChat answers before signing) does not hold the refund back', async (t) => {
    const { req } = await create({ amount: 800 })
    await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, { notify: false })
    t.match(await status(req.orderNo), { status: 'PAID' })
    await fault('refund-query', 'unsigned-404')
    const refundNo = `RU${req.orderNo}`.slice(0, 64)
    const res = await refundVia(req.orderNo, refundNo, 800)
    await fault('refund-query', 'none')
    t.equal(res.status, 200, JSON.stringify(res.body))
    t.equal(res.body.data.status, 'SUCCEEDED', 'the unsigned 404 is an error that proves nothing: the create with the same number is safe')
    t.match((await control('GET', `/control/wechat/trades/${req.orderNo}`)).body, { refunded: 800 })
  })

  await t.test(
    'WeChat answers 401 SIGN_ERROR unsigned to a request it cannot verify: reported as such, not as a forged answer',
    async (t) => {
      const other = generateDevKeys().wechat
      const config = { ...loadConfig(env.pay).wechat!, merchantSerial: other.merchantCertSerial }
      const provider = createWechatProvider(config, { publicUrl: env.pay.PUBLIC_URL!, timeoutMs: 5000 })
      const err = await provider.query('P20240101000000NOSUCH1').catch((e: Error) => e)
      t.type(err, Error)
      t.match((err as Error).message, /HTTP 401 \(未签名\) SIGN_ERROR/)
      t.notMatch((err as Error).message, /验签失败/)
      t.equal((err as { retryable?: boolean }).retryable, true, 'an unsigned answer decides nothing')
    },
  )

  await t.test(
    'a 429, 403 or unsigned 404 on any read or on the create of a refund leaves it PENDING; once healthy it succeeds once',
    async (t) => {
      const { req } = await create({ amount: 900 })
      await control('POST', `/control/wechat/trades/${req.orderNo}/pay`, { notify: false })
      t.match(await status(req.orderNo), { status: 'PAID' })
      const refundNo = `RF${req.orderNo}`.slice(0, 64)
      const cases: [string, string][] = [
        ['refund-query', '429'],
        ['refund-query', '403'],
        ['query', '429'],
        ['query', '403'],
        ['query', 'unsigned-404'],
        ['refund', '429'],
        ['refund', '403'],
        ['refund', 'unsigned-404'],
      ]
      for (const [operation, mode] of cases) {
        await fault(operation, mode)
        const res = await refundVia(req.orderNo, refundNo, 900)
        t.ok(await hits(operation), `${operation} ${mode}: the fault was hit`)
        await fault(operation, 'none')
        t.equal(res.status, 200, JSON.stringify(res.body))
        t.equal(res.body.data.status, 'PENDING', `${operation} ${mode}: stays PENDING (${res.body.data.failureReason ?? ''})`)
        t.match(await payRefund(refundNo), { status: 'PENDING' })
        t.match((await control('GET', `/control/wechat/trades/${req.orderNo}`)).body, { refunded: 0 }, 'nothing refunded yet')
      }
      const done = await client.get<Envelope<{ status: string }>>(`/api/pay/refund/${refundNo}`)
      t.equal(done.body.data.status, 'SUCCEEDED', 'retried with the same out_refund_no once healthy')
      t.match((await control('GET', `/control/wechat/trades/${req.orderNo}`)).body, { refunded: 900 }, 'refunded once')
    },
  )

  await t.test('ABNORMAL, PROCESSING and CLOSED refunds: ABNORMAL is its own state, kept reserved, finished later', async (t) => {
    const mode = async (m: string) => t.equal((await refundMode(m)).status, 200)
    t.teardown(() => refundMode('SUCCESS'))

    // ABNORMAL: not FAILED (main would give the credits back), the amount stays reserved.
    const a = await paidOrder(600)
    await mode('ABNORMAL')
    const ra = `RA${a}`.slice(0, 64)
    const abnormal = await refundVia(a, ra, 600)
    t.equal(abnormal.body.data.status, 'ABNORMAL', JSON.stringify(abnormal.body))
    t.match(await payRefund(ra), { status: 'ABNORMAL', failure_reason: /ABNORMAL/ })
    const again = await refundVia(a, `RB${a}`.slice(0, 64), 1)
    t.equal(again.status, 409, 'the abnormal refund still holds the amount: nothing more to refund')
    t.equal((await client.get<Envelope<{ status: string }>>(`/api/pay/refund/${ra}`)).body.data.status, 'ABNORMAL', 'asked again: still')
    t.equal(await refundEvents(ra), 0, 'no event for main')
    t.equal((await settle(ra, 'SUCCESS')).status, 200, 'finished by hand at WeChat')
    t.equal((await client.get<Envelope<{ status: string }>>(`/api/pay/refund/${ra}`)).body.data.status, 'SUCCEEDED')
    t.equal(await refundEvents(ra), 1, 'one REFUND_SUCCEEDED event')

    // PROCESSING → PENDING until WeChat says; CLOSED → FAILED (the money stayed with the merchant).
    const p = await paidOrder(500)
    await mode('PROCESSING')
    const rp = `RP${p}`.slice(0, 64)
    t.equal((await refundVia(p, rp, 500)).body.data.status, 'PENDING')
    t.equal((await settle(rp, 'CLOSED')).status, 200)
    t.equal((await client.get<Envelope<{ status: string }>>(`/api/pay/refund/${rp}`)).body.data.status, 'FAILED')
    t.match((await control('GET', `/control/wechat/trades/${p}`)).body, { refunded: 0 }, 'a closed refund refunds nothing')
    t.equal((await settle(rp, 'SUCCESS')).status, 409, 'a closed refund is final at the sandbox too')
  })

  await t.test(
    'refund notifies: a PROCESSING refund finished only by REFUND.SUCCESS ends SUCCEEDED once; ABNORMAL keeps the amount; replays change nothing',
    async (t) => {
      t.equal((await refundMode('PROCESSING')).status, 200)
      t.teardown(() => refundMode('SUCCESS'))
      const becomes = (refundNo: string, to: string) => waitFor(async () => (await payRefund(refundNo))?.status === to)
      const logged = async (orderNo: string) =>
        (await sql`select verdict, reason from notify_log where out_trade_no = ${orderNo} order by id`).map(
          (r) => `${r.verdict} ${r.reason}`,
        )
      const notifyUrl = `${env.pay.PUBLIC_URL}/api/pay/notify/wechat`
      /** A refund notify signed by the platform key, as WeChat sends it again (or as one that was never sent). */
      const raw = async (orderNo: string, refundNo: string, refundStatus: string, over: Record<string, unknown> = {}) => {
        const resource = {
          mchid: keys.wechat.mchId,
          out_trade_no: orderNo,
          transaction_id: (await attempt(orderNo))!.trade_no,
          out_refund_no: refundNo,
          refund_id: '50300000000000000000000000000',
          refund_status: refundStatus,
          user_received_account: '支付用户零钱',
          amount: { total: 700, refund: 700, payer_total: 700, payer_refund: 700 },
          ...over,
        }
        const r = await control('POST', '/control/wechat/notify-raw', {
          notifyUrl,
          resource,
          originalType: 'refund',
          eventType: `REFUND.${refundStatus}`,
        })
        return r.body.status as number
      }

      // Left PROCESSING by WeChat: pending at pay, nothing asks again (no main here); WeChat's REFUND.SUCCESS finishes it.
      const s = await paidOrder(700)
      const rs = `RN${s}`.slice(0, 64)
      t.equal((await refundVia(s, rs, 700)).body.data.status, 'PENDING')
      t.equal((await settle(rs, 'SUCCESS')).status, 200)
      await becomes(rs, 'SUCCEEDED')
      t.equal(await refundEvents(rs), 1, 'one REFUND_SUCCEEDED event')
      t.match((await sql`select status from payment_attempts where order_no = ${s}`)[0], { status: 'REFUNDED' })
      const delivered = await waitFor(async () => {
        const l = await control('GET', `/control/wechat/notifications?outTradeNo=${rs}`)
        return (l.body as unknown as unknown[]).length > 0 && l
      })
      t.match(delivered.body, [{ kind: 'auto', attempt: 1, status: 204, deliveryState: 'DELIVERED' }], 'acknowledged at once')
      t.same(await logged(s), ['ACCEPTED REFUND_SUCCEEDED'])
      // WeChat sends it again (its answer lost): acknowledged, nothing changes; a late contradicting one neither.
      t.equal(await raw(s, rs, 'SUCCESS'), 204)
      t.equal(await raw(s, rs, 'CLOSED'), 204)
      t.equal(await refundEvents(rs), 1, 'still one event')
      t.match(await payRefund(rs), { status: 'SUCCEEDED' })
      t.same(await logged(s), ['ACCEPTED REFUND_SUCCEEDED', 'DUPLICATE REFUND_SUCCEEDED', 'IGNORED REFUND_SUCCEEDED_NOT_FAILED'])

      // ABNORMAL by notify: its own state, the amount stays reserved, no event; then CLOSED → FAILED once.
      const a = await paidOrder(700)
      const ra = `RM${a}`.slice(0, 64)
      t.equal((await refundVia(a, ra, 700)).body.data.status, 'PENDING')
      t.equal((await settle(ra, 'ABNORMAL')).status, 200)
      await becomes(ra, 'ABNORMAL')
      t.equal(await raw(a, ra, 'ABNORMAL'), 204, 'a replayed ABNORMAL is acknowledged')
      t.equal((await refundVia(a, `RO${a}`.slice(0, 64), 1)).status, 409, 'the abnormal refund still holds the amount')
      t.equal(await refundEvents(ra), 0, 'no event for main: nothing given back, nothing refunded yet')
      t.equal((await settle(ra, 'CLOSED')).status, 200)
      await becomes(ra, 'FAILED')
      t.equal(await raw(a, ra, 'CLOSED'), 204)
      t.equal(await raw(a, ra, 'SUCCESS'), 204, 'a SUCCESS after CLOSED does not resurrect it')
      t.match(await payRefund(ra), { status: 'FAILED', failure_reason: /CLOSED/ })
      t.equal(await refundEvents(ra), 0)
      t.same(await logged(a), [
        'ACCEPTED REFUND_ABNORMAL',
        'DUPLICATE REFUND_ABNORMAL',
        'ACCEPTED REFUND_FAILED',
        'DUPLICATE REFUND_FAILED',
        'IGNORED REFUND_FAILED_NOT_SUCCEEDED',
      ])

      // Refused (WeChat retries): unknown refund, another amount, another merchant, a forged signature.
      const before = await logged(s)
      t.equal(await raw(s, 'RNOSUCH000001', 'SUCCESS'), 400)
      t.equal(await raw(s, rs, 'SUCCESS', { amount: { total: 700, refund: 600, payer_total: 700, payer_refund: 600 } }), 400)
      t.equal(await raw(s, rs, 'SUCCESS', { mchid: '1900000109' }), 400)
      t.equal(await raw(s, rs, 'SUCCESS', { refund_status: 'CLOSED' }), 400, 'event type and refund_status disagree')
      const forged = await control('POST', '/control/wechat/notify-raw', {
        notifyUrl,
        resource: {
          mchid: keys.wechat.mchId,
          out_trade_no: s,
          out_refund_no: rs,
          refund_status: 'SUCCESS',
          amount: { total: 700, refund: 700 },
        },
        originalType: 'refund',
        eventType: 'REFUND.SUCCESS',
        wrongKey: true,
      })
      t.equal(forged.body.status, 400)
      t.same((await logged(s)).slice(before.length), [
        'REJECTED UNKNOWN_REFUND',
        'REJECTED AMOUNT_MISMATCH',
        'REJECTED MCHID_MISMATCH',
        'REJECTED MALFORMED',
      ])
      t.equal(
        (await sql`select count(*)::int as n from notify_log where reason = 'BAD_SIGNATURE' and raw_body like ${'%REFUND.SUCCESS%'}`)[0]!.n,
        1,
        'the forged one is logged as a bad signature',
      )
      t.equal(await refundEvents(rs), 1)
    },
  )

  await t.test('pay stops cleanly on SIGTERM', async (t) => {
    await pay.stop()
    t.equal(pay.child.exitCode, 0, pay.output().slice(-2000))
  })
})
