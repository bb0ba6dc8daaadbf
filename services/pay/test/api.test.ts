/**
 * The signed service API (create / status / close) and the browser return redirect, through
 * `inject` on a real database. Gateway calls (close, query) go to a small stand-in that signs its
 * answers like Alipay; the sandbox-backed flows are in sandbox.test.ts.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { signServiceRequest } from '@paysys/service-auth'
import { createRequest, FRONTEND_URL, newOrderNo, setupPay, startFakeGateway, UNREACHABLE_GATEWAY, type GatewayCall } from './helpers.ts'

t.test('service auth: every rejection is a 401 SERVICE_AUTH_FAILED and creates nothing', async (t) => {
  const pay = await setupPay(t)
  const body = createRequest()
  const count = async () => Number((await pay.sql`select count(*)::int as n from payment_attempts`)[0]!.n)

  const cases: Array<[string, ReturnType<typeof pay.call>, string]> = [
    ['missing headers', pay.call('POST', '/api/pay/create', body, { drop: ['x-svc-signature'] }), 'MISSING_HEADERS'],
    ['unknown key id', pay.call('POST', '/api/pay/create', body, { key: { id: 'other', secret: 'x'.repeat(32) } }), 'UNKNOWN_KEY'],
    [
      'bad signature (wrong secret)',
      pay.call('POST', '/api/pay/create', body, { key: { id: pay.serviceKey.id, secret: 'y'.repeat(32) } }),
      'BAD_SIGNATURE',
    ],
    [
      'body changed after signing',
      pay.call('POST', '/api/pay/create', body, { sendBody: JSON.stringify({ ...body, amount: 1 }) }),
      'BAD_SIGNATURE',
    ],
    ['expired timestamp', pay.call('POST', '/api/pay/create', body, { now: Date.now() - 400_000 }), 'EXPIRED'],
    ['timestamp from the future', pay.call('POST', '/api/pay/create', body, { now: Date.now() + 400_000 }), 'EXPIRED'],
  ]
  for (const [name, pending, reason] of cases) {
    const res = await pending
    t.equal(res.statusCode, 401, name)
    t.match(res.json(), { code: 401, error: 'SERVICE_AUTH_FAILED', data: null }, name)
    t.match(res.json().message, reason, `${name}: the reason is in the message`)
  }
  t.equal(await count(), 0, 'nothing created')

  // A request signed for another path (e.g. replayed against status) fails too.
  const headers = signServiceRequest({ key: pay.serviceKey, method: 'GET', path: '/api/pay/status/PXXXXXXX1' })
  const moved = await pay.app.inject({ method: 'GET', url: '/api/pay/status/PXXXXXXX2', headers })
  t.equal(moved.statusCode, 401)

  // Unauthenticated garbage is refused as unauthenticated, not parsed.
  const garbage = await pay.app.inject({
    method: 'POST',
    url: '/api/pay/create',
    headers: { 'content-type': 'application/json' },
    payload: '{not json',
  })
  t.equal(garbage.statusCode, 401)

  // A replayed request: the first is accepted, the identical second is refused.
  const nonce = randomBytes(16).toString('base64url')
  const first = await pay.call('POST', '/api/pay/create', body, { nonce })
  t.equal(first.statusCode, 200, first.body)
  const replay = await pay.call('POST', '/api/pay/create', body, { nonce })
  t.equal(replay.statusCode, 401)
  t.match(replay.json().message, 'REPLAYED_NONCE')
  t.equal(await count(), 1, 'only the first created an attempt')

  // Signed but not JSON: 400 after authentication.
  const bad = await pay.call('POST', '/api/pay/create', undefined, { raw: '{oops' })
  t.equal(bad.statusCode, 400, bad.body)
  t.equal(bad.json().error, 'INVALID_PARAMS')
  const amountInYuan = await pay.call('POST', '/api/pay/create', { ...createRequest(), amount: '25.00' })
  t.equal(amountInYuan.statusCode, 400, 'no type coercion of amounts')
  t.match(amountInYuan.json().message, /amount/)
  t.equal(await count(), 1)
})

t.test('create: page form named punchout_form, posting to the configured gateway', async (t) => {
  const pay = await setupPay(t, { env: { ALIPAY_GATEWAY: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do' } })
  const req = createRequest({ amount: 990, expireAt: new Date(Date.now() + 30 * 60_000).toISOString() })
  const res = await pay.call('POST', '/api/pay/create', req)
  t.equal(res.statusCode, 200, res.body)
  const data = res.json().data
  t.match(data, { orderNo: req.orderNo, method: 'ALIPAY', channel: 'page', payType: 'form', amount: 990 })
  t.match(data.paymentId, /^[0-9a-f-]{36}$/)
  t.match(data.formHtml, /<form [^>]*name="punchout_form"/)
  t.match(data.formHtml, /action="https:\/\/openapi-sandbox\.dl\.alipaydev\.com\/gateway\.do\?/)
  t.match(data.formHtml, /method=alipay\.trade\.page\.pay/)
  t.match(data.formHtml, /notify_url=http%3A%2F%2Flocalhost%3A8081%2Fapi%2Fpay%2Fnotify%2Falipay/)
  t.match(data.formHtml, /return_url=http%3A%2F%2Flocalhost%3A8081%2Fapi%2Fpay%2Freturn/)
  t.match(data.formHtml, /&quot;total_amount&quot;:&quot;9\.90&quot;/)
  t.match(data.formHtml, /&quot;product_code&quot;:&quot;FAST_INSTANT_TRADE_PAY&quot;/)
  t.match(data.formHtml, /&quot;time_expire&quot;:&quot;\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}&quot;/)
  t.match(data.paymentUrl, /^https:\/\/openapi-sandbox\.dl\.alipaydev\.com\/gateway\.do\?.*biz_content=/)
  t.equal(data.expireAt, new Date(req.expireAt as string).toISOString())

  const [row] = await pay.sql`select status, amount, channel, order_id from payment_attempts where id = ${data.paymentId}`
  t.match(row, { status: 'PENDING', amount: 990, channel: 'page', order_id: req.orderId })

  const wap = await pay.call('POST', '/api/pay/create', createRequest({ channel: 'wap' }))
  t.equal(wap.statusCode, 200)
  t.match(wap.json().data, { payType: 'form', channel: 'wap' })
  t.match(wap.json().data.formHtml, /QUICK_WAP_WAY/)
  t.match(wap.json().data.formHtml, /method=alipay\.trade\.wap\.pay/)
})

t.test('create is idempotent per (orderNo, channel); another amount is 409', async (t) => {
  const pay = await setupPay(t)
  const req = createRequest()
  const a = await pay.call('POST', '/api/pay/create', req)
  const b = await pay.call('POST', '/api/pay/create', req)
  t.equal(a.statusCode, 200)
  t.equal(b.statusCode, 200)
  t.equal(b.json().data.paymentId, a.json().data.paymentId, 'same attempt')
  t.match(b.json().data.formHtml, /punchout_form/, 'the form is rendered again')

  const concurrent = await Promise.all(Array.from({ length: 5 }, () => pay.call('POST', '/api/pay/create', req)))
  t.same(new Set(concurrent.map((r) => r.json().data.paymentId)), new Set([a.json().data.paymentId]))

  const other = await pay.call('POST', '/api/pay/create', { ...req, amount: req.amount + 1 })
  t.equal(other.statusCode, 409)
  t.match(other.json(), { error: 'AMOUNT_MISMATCH' })
  const otherOrder = await pay.call('POST', '/api/pay/create', { ...req, orderId: req.orderId + 1 })
  t.equal(otherOrder.statusCode, 409)
  const rows = await pay.sql`select count(*)::int as n from payment_attempts where order_no = ${req.orderNo}`
  t.equal(rows[0]!.n, 1)
})

t.test('create: bad input is 400, a disabled method 422', async (t) => {
  const pay = await setupPay(t)
  for (const [name, over] of [
    ['unknown channel', { channel: 'bogus' }],
    ['zero amount', { amount: 0 }],
    ['fractional amount', { amount: 12.5 }],
    ['amount as string', { amount: '25.00' }],
    ['bad orderNo', { orderNo: 'a b' }],
    ['lower-case method', { method: 'alipay' }],
    ['extra field', { notifyUrl: 'http://evil/' }],
    ['bad expireAt', { expireAt: 'tomorrow' }],
  ] as const) {
    const res = await pay.call('POST', '/api/pay/create', createRequest(over))
    t.equal(res.statusCode, 400, `${name}: ${res.body}`)
    t.equal(res.json().error, 'INVALID_PARAMS', name)
  }
  const expired = await pay.call('POST', '/api/pay/create', createRequest({ expireAt: new Date(Date.now() - 1000).toISOString() }))
  t.equal(expired.statusCode, 422)

  const unknownMethod = await pay.call('POST', '/api/pay/create', createRequest({ method: 'PAYPAL' }))
  t.equal(unknownMethod.statusCode, 422)
  t.equal(unknownMethod.json().error, 'PAYMENT_METHOD_DISABLED')

  const disabled = await setupPay(t, { alipay: false })
  const res = await disabled.call('POST', '/api/pay/create', createRequest())
  t.equal(res.statusCode, 422)
  t.equal(res.json().error, 'PAYMENT_METHOD_DISABLED')
})

t.test('status: 404 unknown, local state when the provider is unreachable, active query otherwise', async (t) => {
  const keysPay = await setupPay(t)
  const unknown = await keysPay.call('GET', `/api/pay/status/${newOrderNo()}`)
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'PAYMENT_NOT_FOUND')

  // Gateway unreachable: still answers, PENDING.
  const req = createRequest()
  await keysPay.call('POST', '/api/pay/create', req)
  const down = await keysPay.call('GET', `/api/pay/status/${req.orderNo}`)
  t.equal(down.statusCode, 200)
  t.match(down.json().data, {
    orderNo: req.orderNo,
    status: 'PENDING',
    paidAt: null,
    tradeNo: null,
    amount: 2500,
    method: 'ALIPAY',
    channel: 'page',
  })
  t.equal(keysPay.config.alipay?.gateway, UNREACHABLE_GATEWAY)

  // A gateway that answers: not found → pending; then paid → recorded exactly like a notify.
  let answer: (c: GatewayCall) => Record<string, unknown> = () => ({
    code: '40004',
    msg: 'Business Failed',
    sub_code: 'ACQ.TRADE_NOT_EXIST',
    sub_msg: '交易不存在',
  })
  let signWith: string | undefined
  const keys = keysPay.keys
  const gw = await startFakeGateway(keys.alipay.platformPrivateKey, (c) => ({ node: answer(c), signWith }))
  t.teardown(gw.close)
  const pay = await setupPay(t, { keys, env: { ALIPAY_GATEWAY: gw.url } })
  await pay.call('POST', '/api/pay/create', req)

  const notFound = await pay.call('GET', `/api/pay/status/${req.orderNo}`)
  t.equal(notFound.json().data.status, 'PENDING')
  t.equal(gw.calls.at(-1)?.method, 'alipay.trade.query')
  t.same(gw.calls.at(-1)?.bizContent, { out_trade_no: req.orderNo })
  t.equal(gw.calls.at(-1)?.params.app_id, keys.alipay.appId)

  const paidNode = (amount: string) => () => ({
    code: '10000',
    msg: 'Success',
    out_trade_no: req.orderNo,
    trade_no: '2024050122001400001',
    trade_status: 'TRADE_SUCCESS',
    total_amount: amount,
    buyer_pay_amount: amount,
    send_pay_date: '2024-05-01 12:00:04',
  })

  // Signed with the wrong key: not trusted, stays pending.
  answer = paidNode('25.00')
  signWith = keys.alipay.merchantPrivateKey
  t.equal((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data.status, 'PENDING', 'a forged answer is ignored')

  // Correctly signed but another amount: not recorded.
  signWith = undefined
  answer = paidNode('0.01')
  t.equal((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data.status, 'PENDING', 'amount mismatch is not a payment')

  answer = paidNode('25.00')
  const paid = await pay.call('GET', `/api/pay/status/${req.orderNo}`)
  t.match(paid.json().data, { status: 'PAID', tradeNo: '2024050122001400001', paidAt: '2024-05-01T04:00:04.000Z', amount: 2500 })
  const events = await pay.sql`select payload from outbox`
  t.equal(events.length, 1, 'one event queued for main')
  t.match(events[0]!.payload, {
    type: 'PAYMENT_SUCCEEDED',
    orderNo: req.orderNo,
    orderId: req.orderId,
    amount: 2500,
    provider: 'ALIPAY',
    channel: 'page',
    tradeNo: '2024050122001400001',
  })
  const [attempt] = await pay.sql`select paid_via from payment_attempts where order_no = ${req.orderNo}`
  t.equal(attempt!.paid_via, 'QUERY')

  // Once paid, no more provider queries.
  const before = gw.calls.length
  t.equal((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data.status, 'PAID')
  t.equal(gw.calls.length, before)

  // Paid: create for the same order is refused, close is a 409 that carries the paid status.
  const again = await pay.call('POST', '/api/pay/create', req)
  t.equal(again.statusCode, 409)
  const close = await pay.call('POST', `/api/pay/close/${req.orderNo}`, {})
  t.equal(close.statusCode, 409)
  t.match(close.json(), {
    code: 409,
    error: 'ORDER_NOT_PAYABLE',
    data: { orderNo: req.orderNo, status: 'PAID', tradeNo: '2024050122001400001' },
  })
})

t.test('close and channel switch go through the provider close', async (t) => {
  const pay0 = await setupPay(t)
  const keys = pay0.keys
  let closeAnswer: Record<string, unknown> = { code: '10000', msg: 'Success' }
  let queryAnswer: Record<string, unknown> = {}
  const gw = await startFakeGateway(keys.alipay.platformPrivateKey, (c) => ({
    node: c.method === 'alipay.trade.close' ? closeAnswer : queryAnswer,
  }))
  t.teardown(gw.close)
  const pay = await setupPay(t, { keys, env: { ALIPAY_GATEWAY: gw.url } })

  // Provider unreachable: 502, attempt untouched.
  const req0 = createRequest()
  await pay0.call('POST', '/api/pay/create', req0)
  const down = await pay0.call('POST', `/api/pay/close/${req0.orderNo}`, {})
  t.equal(down.statusCode, 502)
  t.equal(down.json().error, 'PROVIDER_ERROR')
  t.equal((await pay0.sql`select status from payment_attempts where order_no = ${req0.orderNo}`)[0]!.status, 'PENDING')

  // Channel switch page → wap: the page trade is closed at the provider first.
  const req = createRequest()
  const page = (await pay.call('POST', '/api/pay/create', req)).json().data
  closeAnswer = { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' }
  const wap = await pay.call('POST', '/api/pay/create', { ...req, channel: 'wap' })
  t.equal(wap.statusCode, 200, wap.body)
  t.not(wap.json().data.paymentId, page.paymentId, 'a new attempt')
  t.equal(page.outTradeNo, req.orderNo, 'the first attempt is sent as the orderNo')
  t.equal(wap.json().data.outTradeNo, `${req.orderNo}_2`, 'a later attempt gets its own provider trade number')
  t.equal(gw.calls.at(-1)?.method, 'alipay.trade.close')
  const rows = await pay.sql`select channel, status from payment_attempts where order_no = ${req.orderNo} order by created_at`
  t.same(
    rows.map((r) => `${r.channel}:${r.status}`),
    ['page:CLOSED', 'wap:PENDING'],
  )

  // Back to page: a closed trade number is never reused, so it is a third attempt (new trade).
  const back = (await pay.call('POST', '/api/pay/create', req)).json().data
  t.not(back.paymentId, page.paymentId)
  t.equal(back.outTradeNo, `${req.orderNo}_3`)
  const rows2 =
    await pay.sql`select channel, status, out_trade_no from payment_attempts where order_no = ${req.orderNo} order by created_at`
  t.same(
    rows2.map((r) => `${r.channel}:${r.status}:${r.out_trade_no.slice(req.orderNo.length)}`),
    ['page:CLOSED:', 'wap:CLOSED:_2', 'page:PENDING:_3'],
  )
  queryAnswer = { code: '10000', msg: 'Success', out_trade_no: back.outTradeNo, trade_status: 'WAIT_BUYER_PAY', total_amount: '25.00' }
  t.match(
    (await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data,
    { status: 'PENDING', channel: 'page', outTradeNo: back.outTradeNo },
    'the newest attempt speaks for the order',
  )
  t.match(gw.calls.at(-1)?.bizContent, { out_trade_no: back.outTradeNo }, 'the provider is asked about that trade')

  // close: pending attempts → CLOSED; closing again is harmless.
  closeAnswer = { code: '10000', msg: 'Success', out_trade_no: req.orderNo }
  const closed = await pay.call('POST', `/api/pay/close/${req.orderNo}`, {})
  t.equal(closed.statusCode, 200, closed.body)
  t.same(closed.json().data, { orderNo: req.orderNo, status: 'CLOSED' })
  const again = await pay.call('POST', `/api/pay/close/${req.orderNo}`)
  t.equal(again.statusCode, 200, 'a POST without a body is fine too')
  const unknown = await pay.call('POST', `/api/pay/close/${newOrderNo()}`, {})
  t.equal(unknown.statusCode, 404)

  // Close that comes too late: the provider says the buyer paid → recorded, 409 with the status.
  const late = createRequest()
  await pay.call('POST', '/api/pay/create', late)
  closeAnswer = { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR', sub_msg: '交易状态不合法' }
  queryAnswer = {
    code: '10000',
    msg: 'Success',
    out_trade_no: late.orderNo,
    trade_no: 'T-LATE',
    trade_status: 'TRADE_SUCCESS',
    total_amount: '25.00',
  }
  const tooLate = await pay.call('POST', `/api/pay/close/${late.orderNo}`, {})
  t.equal(tooLate.statusCode, 409)
  t.match(tooLate.json().data, { status: 'PAID', tradeNo: 'T-LATE' })
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 1)
})

t.test('return: 302 to the frontend order page, and only ever to the frontend', async (t) => {
  const pay = await setupPay(t)
  const req = createRequest()
  await pay.call('POST', '/api/pay/create', req)
  const get = (url: string) => pay.app.inject({ method: 'GET', url })

  const known = await get(`/api/pay/return?out_trade_no=${req.orderNo}&trade_no=2024&total_amount=25.00&sign=x`)
  t.equal(known.statusCode, 302)
  t.equal(known.headers.location, `${FRONTEND_URL}/order/${req.orderId}`)
  const epay = await get(`/api/pay/return/epay?out_trade_no=${req.orderNo}`)
  t.equal(epay.headers.location, `${FRONTEND_URL}/order/${req.orderId}`)

  const notFound = `${FRONTEND_URL}/order/unknown?error=ORDER_NOT_FOUND`
  for (const url of [
    `/api/pay/return?out_trade_no=${newOrderNo()}`,
    '/api/pay/return',
    '/api/pay/return?out_trade_no=',
    `/api/pay/return?out_trade_no=${req.orderNo}&out_trade_no=${req.orderNo}`,
    '/api/pay/return?out_trade_no=https://evil.example/x',
    '/api/pay/return?out_trade_no=//evil.example',
    `/api/pay/return?out_trade_no=${encodeURIComponent('../../evil')}`,
    '/api/pay/return?return_url=https://evil.example&redirect=https://evil.example&next=//evil.example',
    '/api/pay/return?out_trade_no=%00%0d%0aLocation:%20https://evil.example',
  ]) {
    const res = await get(url)
    t.equal(res.statusCode, 302, url)
    t.equal(res.headers.location, notFound, url)
  }
  const hostHeader = await pay.app.inject({
    method: 'GET',
    url: `/api/pay/return?out_trade_no=${req.orderNo}`,
    headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' },
  })
  t.equal(hostHeader.headers.location, `${FRONTEND_URL}/order/${req.orderId}`, 'host headers do not matter')
})
