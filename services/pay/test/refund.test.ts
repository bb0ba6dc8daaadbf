/**
 * Refunds: POST /api/pay/refund and GET /api/pay/refund/{refundNo} against a stand-in Alipay
 * gateway answering with recorded-shape replies; the transformers without a network.
 */
import t from 'tap'
import { refundBizContent, refundOutcome, refundQuerySucceeded } from '../src/providers/alipay/transformers.ts'
import {
  alipayNotifyParams,
  createRequest,
  postNotify,
  setupPay,
  signedNotifyBody,
  startFakeGateway,
  type GatewayCall,
  type PayHarness,
} from './helpers.ts'

t.test('refund transformers: biz_content in yuan, outcomes from codes, unknown never success', async (t) => {
  t.same(refundBizContent({ outTradeNo: 'P1', refundNo: 'R1', amount: 1000, reason: '用户申请' }), {
    out_trade_no: 'P1',
    refund_amount: '10.00',
    out_request_no: 'R1',
    refund_reason: '用户申请',
  })
  t.notOk('refund_reason' in refundBizContent({ outTradeNo: 'P1', refundNo: 'R1', amount: 1 }))
  t.same(refundOutcome({ code: '10000', fundChange: 'Y' }), { kind: 'SUCCEEDED' })
  t.same(refundOutcome({ code: '10000', fundChange: 'N' }), { kind: 'CONFIRM' })
  t.same(refundOutcome({ code: '10000' }), { kind: 'CONFIRM' }, 'no fund_change is not a success by itself')
  t.equal(refundOutcome({ code: '20000', msg: 'Service Currently Unavailable' }).kind, 'RETRY')
  t.equal(refundOutcome({ code: '40004', subCode: 'ACQ.SYSTEM_ERROR' }).kind, 'RETRY')
  t.match(refundOutcome({ code: '40004', subCode: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', subMsg: '退款金额超限' }), {
    kind: 'FAILED',
    reason: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL 退款金额超限',
  })
  t.equal(refundOutcome({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST' }).kind, 'FAILED')
  t.ok(refundQuerySucceeded({ code: '10000', refundAmount: '10.00', refundStatus: 'REFUND_SUCCESS' }, 1000))
  t.ok(refundQuerySucceeded({ code: '10000', refundAmount: '10.00' }, 1000), 'real Alipay omits refund_status unless asked')
  t.notOk(refundQuerySucceeded({ code: '10000' }, 1000), 'unknown out_request_no: Success without refund fields')
  t.notOk(refundQuerySucceeded({ code: '10000', refundAmount: '9.99' }, 1000))
  t.notOk(refundQuerySucceeded({ code: '10000', refundAmount: '10.00', refundStatus: 'REFUND_PROCESSING' }, 1000))
})

/** A stand-in gateway that keeps per-trade refunds like Alipay: idempotent per out_request_no, never above the total. */
function alipayRefunds() {
  const refunded = new Map<string, Map<string, number>>()
  let mode: 'normal' | 'system-error' | 'unreachable' = 'normal'
  const reply = (c: GatewayCall): Record<string, unknown> => {
    const b = c.bizContent as Record<string, string>
    const out = b.out_trade_no!
    const trade = refunded.get(out) ?? new Map<string, number>()
    refunded.set(out, trade)
    const total = [...trade.values()].reduce((a, n) => a + n, 0)
    if (c.method === 'alipay.trade.refund') {
      if (mode === 'system-error') return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SYSTEM_ERROR', sub_msg: '系统错误' }
      const fen = Math.round(Number(b.refund_amount) * 100)
      const prior = trade.get(b.out_request_no!)
      if (prior !== undefined) {
        if (prior !== fen)
          return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.DISCORDANT_REPEAT_REQUEST', sub_msg: '不一致的请求' }
        return { code: '10000', msg: 'Success', out_trade_no: out, fund_change: 'N', refund_fee: (total / 100).toFixed(2) }
      }
      if (total + fen > 2500)
        return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', sub_msg: '退款金额超限' }
      trade.set(b.out_request_no!, fen)
      return { code: '10000', msg: 'Success', out_trade_no: out, fund_change: 'Y', refund_fee: ((total + fen) / 100).toFixed(2) }
    }
    if (c.method === 'alipay.trade.fastpay.refund.query') {
      const r = trade.get(b.out_request_no!)
      const node: Record<string, unknown> = { code: '10000', msg: 'Success', out_trade_no: out, out_request_no: b.out_request_no }
      if (r !== undefined) Object.assign(node, { refund_amount: (r / 100).toFixed(2), total_amount: '25.00' })
      return node
    }
    return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.INVALID_PARAMETER' }
  }
  return {
    refunded,
    setMode: (m: typeof mode) => (mode = m),
    handler: (c: GatewayCall) => (mode === 'unreachable' ? { status: 502, text: 'bad gateway' } : { node: reply(c) }),
  }
}

async function paidOrder(pay: PayHarness) {
  const req = createRequest({ amount: 2500 })
  const created = await pay.call('POST', '/api/pay/create', req)
  if (created.statusCode !== 200) throw new Error(created.body)
  const params = alipayNotifyParams({ out_trade_no: req.orderNo, app_id: pay.keys.alipay.appId, total_amount: '25.00' })
  const res = await postNotify(pay.app, signedNotifyBody(params, pay.keys.alipay.platformPrivateKey))
  if (res.body !== 'success') throw new Error(`notify: ${res.body}`)
  return req
}

t.test('partial, then full refund; replays by refundNo; never above paid − refunded; events for main', async (t) => {
  const first = await setupPay(t)
  const gwState = alipayRefunds()
  const gw = await startFakeGateway(first.keys.alipay.platformPrivateKey, gwState.handler)
  t.teardown(gw.close)
  const pay = await setupPay(t, { keys: first.keys, env: { ALIPAY_GATEWAY: gw.url } })
  const order = await paidOrder(pay)
  const refund = (refundNo: string, amount: number, reason?: string) =>
    pay.call('POST', '/api/pay/refund', { orderNo: order.orderNo, refundNo, amount, ...(reason ? { reason } : {}) })

  const r1 = await refund('R0000000001', 1000, '部分退款')
  t.equal(r1.statusCode, 200, r1.body)
  t.match(r1.json().data, {
    refundNo: 'R0000000001',
    orderNo: order.orderNo,
    amount: 1000,
    status: 'SUCCEEDED',
    totalRefunded: 1000,
    provider: 'ALIPAY',
  })
  const call = gw.calls.find((c) => c.method === 'alipay.trade.refund')!
  t.same(call.bizContent, { out_trade_no: order.orderNo, refund_amount: '10.00', out_request_no: 'R0000000001', refund_reason: '部分退款' })

  // The same refundNo again: the first result, no second refund anywhere.
  const calls = gw.calls.length
  const replay = await refund('R0000000001', 1000)
  t.match(replay.json().data, { status: 'SUCCEEDED', totalRefunded: 1000 })
  t.equal(gw.calls.length, calls, 'a settled refund is not sent again')
  const conflict = await refund('R0000000001', 999)
  t.equal(conflict.statusCode, 409)
  t.equal(conflict.json().error, 'REFUND_CONFLICT')

  // Above what is left: refused before the provider is asked.
  const over = await refund('R0000000002', 1501)
  t.equal(over.statusCode, 409)
  t.equal(over.json().error, 'REFUND_AMOUNT_EXCEEDED')
  t.equal(gw.calls.length, calls)

  const r2 = await refund('R0000000002', 1500)
  t.match(r2.json().data, { status: 'SUCCEEDED', totalRefunded: 2500 })
  const [attempt] = await pay.sql`select status from payment_attempts where order_no = ${order.orderNo}`
  t.equal(attempt!.status, 'REFUNDED', 'fully refunded')
  const third = await refund('R0000000003', 1)
  t.equal(third.statusCode, 409)
  t.equal(third.json().error, 'REFUND_AMOUNT_EXCEEDED')

  const events = await pay.sql`select event_type, refund_id, payload from outbox where event_type = 'REFUND_SUCCEEDED' order by id`
  t.equal(events.length, 2, 'one event per refund')
  t.match(events[0]!.payload, {
    type: 'REFUND_SUCCEEDED',
    orderId: order.orderId,
    orderNo: order.orderNo,
    refundNo: 'R0000000001',
    amount: 1000,
    totalRefunded: 1000,
    provider: 'ALIPAY',
  })
  t.match(events[1]!.payload, { refundNo: 'R0000000002', amount: 1500, totalRefunded: 2500 })

  const got = await pay.call('GET', '/api/pay/refund/R0000000002')
  t.match(got.json().data, { refundNo: 'R0000000002', status: 'SUCCEEDED', amount: 1500, totalRefunded: 2500 })
  const missing = await pay.call('GET', '/api/pay/refund/R9999999999')
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'REFUND_NOT_FOUND')
})

t.test('a provider that cannot be reached leaves the refund PENDING; asking again settles it once', async (t) => {
  const first = await setupPay(t)
  const gwState = alipayRefunds()
  const gw = await startFakeGateway(first.keys.alipay.platformPrivateKey, gwState.handler)
  t.teardown(gw.close)
  const pay = await setupPay(t, { keys: first.keys, env: { ALIPAY_GATEWAY: gw.url } })
  const order = await paidOrder(pay)

  gwState.setMode('unreachable')
  const pending = await pay.call('POST', '/api/pay/refund', { orderNo: order.orderNo, refundNo: 'RP00000001', amount: 2500 })
  t.equal(pending.statusCode, 200)
  t.match(pending.json().data, { status: 'PENDING', totalRefunded: 0 })
  // The pending one holds its amount: nothing more can be refunded meanwhile.
  const more = await pay.call('POST', '/api/pay/refund', { orderNo: order.orderNo, refundNo: 'RP00000002', amount: 1 })
  t.equal(more.json().error, 'REFUND_AMOUNT_EXCEEDED')

  gwState.setMode('system-error')
  t.match((await pay.call('GET', '/api/pay/refund/RP00000001')).json().data, { status: 'PENDING' }, 'a retryable answer stays pending')

  gwState.setMode('normal')
  const settled = await pay.call('GET', '/api/pay/refund/RP00000001')
  t.match(settled.json().data, { status: 'SUCCEEDED', totalRefunded: 2500 })
  // Already refunded at the provider (a lost answer): the repeat answers fund_change N, confirmed by a query.
  const order2 = await paidOrder(pay)
  gwState.refunded.set(order2.orderNo, new Map([['RP00000003', 500]]))
  const confirmed = await pay.call('POST', '/api/pay/refund', { orderNo: order2.orderNo, refundNo: 'RP00000003', amount: 500 })
  t.match(confirmed.json().data, { status: 'SUCCEEDED', totalRefunded: 500 })
  t.ok(gw.calls.some((c) => c.method === 'alipay.trade.fastpay.refund.query' && c.bizContent.out_request_no === 'RP00000003'))
  const [n] = await pay.sql`select count(*)::int as n from outbox where event_type = 'REFUND_SUCCEEDED'`
  t.equal(n!.n, 2)
})

t.test('refused by the provider: FAILED with the reason, the amount is free again', async (t) => {
  const first = await setupPay(t)
  const gwState = alipayRefunds()
  const gw = await startFakeGateway(first.keys.alipay.platformPrivateKey, gwState.handler)
  t.teardown(gw.close)
  const pay = await setupPay(t, { keys: first.keys, env: { ALIPAY_GATEWAY: gw.url } })
  const order = await paidOrder(pay)
  // The provider already refunded 2000 of it outside our books: 1000 more exceeds the total there.
  gwState.refunded.set(order.orderNo, new Map([['elsewhere', 2000]]))
  const r = await pay.call('POST', '/api/pay/refund', { orderNo: order.orderNo, refundNo: 'RF00000001', amount: 1000 })
  t.equal(r.statusCode, 200)
  t.match(r.json().data, { status: 'FAILED', failureReason: /REFUND_AMT_NOT_EQUAL_TOTAL/ })
  const ok = await pay.call('POST', '/api/pay/refund', { orderNo: order.orderNo, refundNo: 'RF00000002', amount: 500 })
  t.match(ok.json().data, { status: 'SUCCEEDED', totalRefunded: 500 })
})

t.test('refund input: unsigned 401, bad body 400, unknown order 404, unpaid 409; nothing stored', async (t) => {
  const pay = await setupPay(t)
  const body = { orderNo: 'P20240101000000ABCDEFGHIJKL', refundNo: 'R0000000001', amount: 100 }
  const unsigned = await pay.app.inject({ method: 'POST', url: '/api/pay/refund', payload: body })
  t.equal(unsigned.statusCode, 401)
  t.equal(unsigned.json().error, 'SERVICE_AUTH_FAILED')
  for (const bad of [
    { ...body, amount: 0 },
    { ...body, amount: -1 },
    { ...body, amount: '1.00' },
    { ...body, amount: 1.5 },
    { ...body, refundNo: 'x' },
    { ...body, refundNo: "R'; drop table refunds" },
    { ...body, extra: 1 },
    { orderNo: body.orderNo, amount: 1 },
  ]) {
    const r = await pay.call('POST', '/api/pay/refund', bad)
    t.equal(r.statusCode, 400, JSON.stringify(bad))
    t.equal(r.json().error, 'INVALID_PARAMS')
  }
  const unknown = await pay.call('POST', '/api/pay/refund', body)
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'PAYMENT_NOT_FOUND')
  const req = createRequest()
  await pay.call('POST', '/api/pay/create', req)
  const unpaid = await pay.call('POST', '/api/pay/refund', { ...body, orderNo: req.orderNo })
  t.equal(unpaid.statusCode, 409)
  t.equal(unpaid.json().error, 'ORDER_NOT_REFUNDABLE')
  const bad = await pay.call('GET', '/api/pay/refund/%27%20or%201%3D1')
  t.equal(bad.statusCode, 404)
  const [n] = await pay.sql`select count(*)::int as n from refunds`
  t.equal(n!.n, 0, 'no refund row for bad input')
})

t.test('an adapter that throws a final (non-retryable) refusal fails the refund; a retryable one keeps it pending', async (t) => {
  const { ProviderError } = await import('../src/providers/types.ts')
  let next: 'final' | 'retry' = 'final'
  const stub = {
    name: 'ALIPAY' as const,
    channels: ['page'],
    createPayment: async () => ({ payType: 'jump' as const, paymentUrl: 'https://pay.example/x' }),
    query: async () => ({ found: false as const }),
    close: async () => ({ outcome: 'CLOSED' as const }),
    refund: async () => {
      throw new ProviderError(next === 'final' ? 'refused: NOT_ENOUGH' : 'timeout', 'ALIPAY', undefined, next === 'retry')
    },
    verifyNotification: () => ({ ok: false as const, reason: 'MALFORMED' as const, outTradeNo: null }),
    acknowledge: {
      success: { status: 200, contentType: 'text/plain', body: 'success' },
      failure: { status: 200, contentType: 'text/plain', body: 'failure' },
    },
  }
  const pay = await setupPay(t, { deps: { providers: { ALIPAY: stub } } })
  const req = createRequest()
  t.equal((await pay.call('POST', '/api/pay/create', req)).statusCode, 200)
  await pay.sql`update payment_attempts set status = 'PAID', trade_no = 'T1', paid_at = now() where order_no = ${req.orderNo}`
  const failed = await pay.call('POST', '/api/pay/refund', { orderNo: req.orderNo, refundNo: 'RX00000001', amount: 100 })
  t.match(failed.json().data, { status: 'FAILED', failureReason: /NOT_ENOUGH/ })
  next = 'retry'
  const pending = await pay.call('POST', '/api/pay/refund', { orderNo: req.orderNo, refundNo: 'RX00000002', amount: 100 })
  t.match(pending.json().data, { status: 'PENDING' })
})
