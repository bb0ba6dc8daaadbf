/**
 * Pay's own re-query of stale pending attempts: which attempts a sweep claims (stale, pending, not
 * asked recently; each by one instance only), and, end to end with main, pay and the sandbox as
 * processes, an order paid at the provider whose notify never came ends credited in main without
 * main pulling: the sweep finds the payment and the outbox pushes it.
 */
import t from 'tap'
import { connect } from '@paysys/db'
import { createTestDatabase, freePort, generateDevKeys, stackEnv, startService } from '@paysys/devkit'
import { createStaleAttemptSweep } from '../src/requery.ts'
import { createRequest, setupPay, startFakeGateway, waitFor, type GatewayCall } from './helpers.ts'

t.test('the sweep asks the provider about stale pending attempts once each, and records what it proves', async (t) => {
  const keys = generateDevKeys()
  const paid = new Set<string>()
  const gw = await startFakeGateway(keys.alipay.platformPrivateKey, (c: GatewayCall) => {
    const outTradeNo = String(c.bizContent.out_trade_no)
    return {
      node: paid.has(outTradeNo)
        ? {
            code: '10000',
            msg: 'Success',
            out_trade_no: outTradeNo,
            trade_no: `2024050122001${outTradeNo.slice(-8)}`,
            trade_status: 'TRADE_SUCCESS',
            total_amount: '25.00',
            buyer_pay_amount: '25.00',
            send_pay_date: '2024-05-01 12:00:04',
          }
        : { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' },
    }
  })
  t.teardown(gw.close)
  const queued: string[] = []
  const pay = await setupPay(t, { keys, env: { ALIPAY_GATEWAY: gw.url }, deps: { onEventQueued: (id) => queued.push(id) } })
  const [paidReq, unpaidReq, freshReq] = [createRequest(), createRequest(), createRequest()]
  for (const req of [paidReq, unpaidReq, freshReq]) t.equal((await pay.call('POST', '/api/pay/create', req)).statusCode, 200)
  await pay.sql`update payment_attempts set created_at = now() - interval '10 minutes' where order_no in ${pay.sql([paidReq.orderNo, unpaidReq.orderNo])}`
  paid.add(paidReq.orderNo) // paid at the provider; the notify never came

  // Two instances sweep at once.
  const other = connect(pay.env.DATABASE_URL!)
  t.teardown(() => other.end({ timeout: 5 }))
  const sweeps = [pay.sql, other].map((sql) =>
    createStaleAttemptSweep({ sql, flows: pay.app.payments, log: pay.app.log, olderThanSeconds: 300 }),
  )
  const claimed = await Promise.all(sweeps.map((s) => s.runOnce()))
  t.equal(claimed[0]! + claimed[1]!, 2, 'the two stale attempts, each claimed by one sweep')
  t.same(
    gw.calls.map((c) => c.bizContent.out_trade_no).sort(),
    [paidReq.orderNo, unpaidReq.orderNo].sort(),
    'one query each; the fresh one is not asked',
  )

  const rows =
    await pay.sql`select order_no, status, paid_via, last_queried_at is not null as asked from payment_attempts order by order_no`
  const byOrder = Object.fromEntries(rows.map((r) => [r.order_no, r]))
  t.match(byOrder[paidReq.orderNo], { status: 'PAID', paid_via: 'QUERY', asked: true })
  t.match(byOrder[unpaidReq.orderNo], { status: 'PENDING', asked: true })
  t.match(byOrder[freshReq.orderNo], { status: 'PENDING', asked: false })
  const events = await pay.sql`select event_id, payload from outbox`
  t.equal(events.length, 1, 'one event for main, as a notify would queue')
  t.match(events[0]!.payload, { type: 'PAYMENT_SUCCEEDED', orderNo: paidReq.orderNo, amount: 2500 })
  t.same(queued, [events[0]!.event_id], 'and its delivery was queued')

  t.equal(await sweeps[0]!.runOnce(), 0, 'an attempt just asked is not asked again within the threshold')
  await pay.sql`update payment_attempts set last_queried_at = now() - interval '10 minutes' where order_no = ${unpaidReq.orderNo}`
  t.equal(await sweeps[1]!.runOnce(), 1, 'asked again once the threshold has passed')
  t.equal(gw.calls.length, 3)
})

t.test('an attempt closed while the provider did not know its trade is asked about until its provider expiry', async (t) => {
  const keys = generateDevKeys()
  const paid = new Set<string>()
  const gw = await startFakeGateway(keys.alipay.platformPrivateKey, (c: GatewayCall) => {
    const outTradeNo = String(c.bizContent.out_trade_no)
    if (c.method === 'alipay.trade.precreate')
      return { node: { code: '10000', msg: 'Success', out_trade_no: outTradeNo, qr_code: 'https://qr.example/x' } }
    return {
      node: paid.has(outTradeNo)
        ? {
            code: '10000',
            msg: 'Success',
            out_trade_no: outTradeNo,
            trade_no: `2024050122001${outTradeNo.slice(-8)}`,
            trade_status: 'TRADE_SUCCESS',
            total_amount: '25.00',
            buyer_pay_amount: '25.00',
            send_pay_date: '2024-05-01 12:00:04',
          }
        : { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' },
    }
  })
  t.teardown(gw.close)
  const pay = await setupPay(t, { keys, env: { ALIPAY_GATEWAY: gw.url } })
  const [live, dead] = [createRequest({ channel: 'qr' }), createRequest({ channel: 'qr' })]
  for (const req of [live, dead]) {
    t.equal((await pay.call('POST', '/api/pay/create', req)).statusCode, 200)
    t.equal((await pay.call('POST', `/api/pay/close/${req.orderNo}`, {})).statusCode, 200)
  }
  t.match(await pay.sql`select distinct status, close_unconfirmed from payment_attempts`, [{ status: 'CLOSED', close_unconfirmed: true }])
  await pay.sql`update payment_attempts set created_at = now() - interval '10 minutes'`
  // One QR code expired long ago: nothing can pay it any more.
  await pay.sql`update payment_attempts set provider_expire_at = now() - interval '1 hour' where order_no = ${dead.orderNo}`
  paid.add(live.orderNo) // the buyer scanned the old QR code and paid; the notify never came
  const calls = gw.calls.length
  const sweep = createStaleAttemptSweep({ sql: pay.sql, flows: pay.app.payments, log: pay.app.log, olderThanSeconds: 300 })
  t.equal(await sweep.runOnce(), 1, 'only the one still payable')
  t.same(
    gw.calls.slice(calls).map((c) => c.bizContent.out_trade_no),
    [live.orderNo],
  )
  t.match(await pay.sql`select status, paid_via from payment_attempts where order_no = ${live.orderNo}`, [
    { status: 'PAID', paid_via: 'QUERY' },
  ])
})

t.test('end to end: paid without a notify and main not pulling, the order is credited through the sweep and the outbox', async (t) => {
  const keys = generateDevKeys()
  const dbs = await Promise.all(['rqmain', 'rqpay', 'rqsbx'].map((n) => createTestDatabase(n)))
  t.teardown(() => Promise.all(dbs.map((d) => d.drop())))
  const ports = { main: await freePort(), pay: await freePort(), sandbox: await freePort() }
  const env = stackEnv({
    keys,
    ports,
    databases: { main: dbs[0]!.url, pay: dbs[1]!.url, sandbox: dbs[2]!.url },
    extra: {
      // main's own pull of stale orders is pushed out of reach: only pay's sweep can find the payment.
      main: { LOG_LEVEL: 'warn', RECONCILE_AFTER_SECONDS: '86400', RATE_LIMIT_AUTH_PER_MINUTE: '0', RATE_LIMIT_ORDERS_PER_MINUTE: '0' },
      pay: { LOG_LEVEL: 'warn', STALE_ATTEMPT_REQUERY_SECONDS: '1', STALE_ATTEMPT_SWEEP_SECONDS: '1', PROVIDER_TIMEOUT_MS: '5000' },
      sandbox: { LOG_LEVEL: 'warn', SANDBOX_TIME_FACTOR: '0.0005' },
    },
  })
  const services = await Promise.all((['sandbox', 'pay', 'main'] as const).map((n) => startService(n, env[n])))
  t.teardown(() => Promise.all(services.map((s) => s.stop())))
  const [sandbox, , main] = services
  const paySql = connect(dbs[1]!.url, { max: 2 })
  t.teardown(() => paySql.end({ timeout: 5 }))
  const call = async (url: string, body?: unknown, token?: string) => {
    const res = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: res.status, json: (await res.json()) as any } // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  const token = (await call(`${main!.url}/api/auth/register`, { email: 'sweep@example.com', password: 'password123' })).json.data.token
  const order = await call(
    `${main!.url}/api/credits/purchase`,
    { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
    token,
  )
  t.equal(order.status, 200, order.status === 200 ? 'order created' : JSON.stringify(order.json))
  const { id, orderNo } = order.json.data
  const paid = await call(`${sandbox!.url}/control/alipay/trades/${orderNo}/pay`, { notify: false })
  t.equal(paid.status, 200, paid.status === 200 ? 'paid at the sandbox, no notify' : JSON.stringify(paid.json))

  await waitFor(async () => (await call(`${main!.url}/api/orders/${id}`, undefined, token)).json.data.status === 'PAID', 30_000, 200)
  t.equal((await call(`${main!.url}/api/credits/balance`, undefined, token)).json.data.balance, 200, 'credited once')
  t.equal((await call(`${main!.url}/api/credits/ledger`, undefined, token)).json.data.totalElements, 1)
  const [attempt] = await paySql`select status, paid_via from payment_attempts where order_no = ${orderNo}`
  t.match(attempt, { status: 'PAID', paid_via: 'QUERY' })
  const [notifies] = await paySql`select count(*)::int as n from notify_log where out_trade_no = ${orderNo}`
  t.equal(notifies!.n, 0, 'no notify ever arrived')
  const [event] = await paySql`select status from outbox where payload->>'orderNo' = ${orderNo}`
  t.equal(event!.status, 'DELIVERED', 'pushed to main by the outbox')
})

t.test('the sweep forgets provider event ids older than 35 days, and only those', async (t) => {
  const pay = await setupPay(t)
  for (const [id, days] of [
    ['evt_old', 36],
    ['evt_edge', 34],
    ['evt_new', 0],
  ] as const)
    await pay.sql`insert into provider_events (provider, event_id, processed_at) values ('STRIPE', ${id}, now() - make_interval(days => ${days}))`
  const sweep = createStaleAttemptSweep({ sql: pay.sql, flows: pay.app.payments, log: pay.app.log, olderThanSeconds: 300 })
  await sweep.runOnce()
  const left = await pay.sql<{ event_id: string }[]>`select event_id from provider_events order by event_id`
  t.same(
    left.map((r) => r.event_id),
    ['evt_edge', 'evt_new'],
  )
})
