/**
 * Alipay notifications (signed here the way Alipay signs them) and the outbox that pushes the
 * resulting events to main (a small HTTP server standing in for main, verifying the signature
 * with the shared verifyServiceRequest).
 */
import t from 'tap'
import { createServer } from 'node:http'
import { verifyServiceRequest, parseServiceKeys } from '@paysys/service-auth'
import { PaymentEvent } from '@paysys/contracts'
import { randomUUID } from 'node:crypto'
import { connect } from '@paysys/db'
import { freePort } from '@paysys/devkit'
import type { OutboxJobs } from '../src/outbox.ts'
import {
  alipayNotifyParams,
  acknowledged,
  deliveryDeps,
  eventsOf,
  paidFixture,
  postNotify,
  readBody,
  setupPay,
  signedNotifyBody,
  sleep,
  startDelivery,
  startStandInMain,
  waitFor,
  type PayHarness,
} from './helpers.ts'

const logRows = (pay: PayHarness, orderNo?: string) =>
  orderNo
    ? pay.sql`select verdict, reason, out_trade_no, raw_body from notify_log where out_trade_no = ${orderNo} order by id`
    : pay.sql`select verdict, reason, out_trade_no, raw_body from notify_log order by id`

t.test('a verified TRADE_SUCCESS notify marks the attempt PAID and queues one event', async (t) => {
  const pay = await setupPay(t)
  const { req, paymentId, params, body } = await paidFixture(pay)

  const res = await postNotify(pay.app, body)
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'success')
  t.match(res.headers['content-type'], /^text\/plain/)

  const [attempt] = await pay.sql`select status, trade_no, paid_at, paid_via from payment_attempts where id = ${paymentId}`
  t.match(attempt, { status: 'PAID', trade_no: params.trade_no, paid_via: 'NOTIFY' })
  t.equal((attempt!.paid_at as Date).toISOString(), '2024-05-01T04:00:04.000Z', 'gmt_payment read as China time')

  const events = await pay.sql`select event_id, payload, status, attempts from outbox`
  t.equal(events.length, 1)
  const event = events[0]!.payload as PaymentEvent
  t.same(event, {
    eventId: events[0]!.event_id,
    type: 'PAYMENT_SUCCEEDED',
    orderId: req.orderId,
    orderNo: req.orderNo,
    amount: 2500,
    provider: 'ALIPAY',
    channel: 'page',
    tradeNo: params.trade_no,
    paidAt: '2024-05-01T04:00:04.000Z',
  })
  t.match(events[0], { status: 'PENDING', attempts: 0 })

  const log = await logRows(pay, req.orderNo)
  t.match(log, [{ verdict: 'ACCEPTED', reason: null, raw_body: body }])

  // Alipay sends it again, and TRADE_FINISHED later: acknowledged, nothing new.
  t.equal((await postNotify(pay.app, body)).body, 'success')
  const finished = signedNotifyBody({ ...params, trade_status: 'TRADE_FINISHED' }, pay.keys.alipay.platformPrivateKey)
  t.equal((await postNotify(pay.app, finished)).body, 'success')
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 1)
  t.match(await logRows(pay, req.orderNo), [{ verdict: 'ACCEPTED' }, { verdict: 'DUPLICATE' }, { verdict: 'DUPLICATE' }])

  // The status route now answers PAID without asking the provider.
  const status = await pay.call('GET', `/api/pay/status/${req.orderNo}`)
  t.match(status.json().data, { status: 'PAID', tradeNo: params.trade_no, paidAt: '2024-05-01T04:00:04.000Z' })

  // Seed 003's notify path works the same.
  const second = await paidFixture(pay)
  const alias = await postNotify(pay.app, second.body, { path: '/api/pay/notify' })
  t.equal(alias.body, 'success')
  t.equal((await pay.sql`select status from payment_attempts where id = ${second.paymentId}`)[0]!.status, 'PAID')
})

t.test('rejected notifies answer failure, change nothing, and are logged with the reason', async (t) => {
  const pay = await setupPay(t)
  const { req, paymentId, params } = await paidFixture(pay)
  const platform = pay.keys.alipay.platformPrivateKey

  const tampered = new URLSearchParams(signedNotifyBody(params, platform))
  tampered.set('total_amount', '0.01')
  const cases: Array<[string, string, string]> = [
    ['wrong signing key', signedNotifyBody(params, pay.keys.alipay.merchantPrivateKey), 'BAD_SIGNATURE'],
    ['total_amount tampered after signing', tampered.toString(), 'BAD_SIGNATURE'],
    ['validly signed, other amount', signedNotifyBody({ ...params, total_amount: '0.01' }, platform), 'AMOUNT_MISMATCH'],
    ['validly signed, other app_id', signedNotifyBody({ ...params, app_id: '2021000000009999' }, platform), 'APP_ID_MISMATCH'],
    [
      'validly signed, unknown out_trade_no',
      signedNotifyBody({ ...params, out_trade_no: 'P20240501120000UNKNOWN' }, platform),
      'UNKNOWN_ORDER',
    ],
    [
      'validly signed, unknown trade_status',
      signedNotifyBody({ ...params, trade_status: 'TRADE_SOMETHING' }, platform),
      'UNKNOWN_TRADE_STATUS',
    ],
    [
      'validly signed, no trade_no',
      signedNotifyBody(Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'trade_no')), platform),
      'MALFORMED',
    ],
  ]
  for (const [name, body, reason] of cases) {
    const res = await postNotify(pay.app, body)
    t.equal(res.statusCode, 200, name)
    t.equal(res.body, 'failure', name)
    const [last] = await pay.sql`select verdict, reason, raw_body from notify_log order by id desc limit 1`
    t.match(last, { verdict: 'REJECTED', reason, raw_body: body }, name)
  }
  const [attempt] = await pay.sql`select status, trade_no from payment_attempts where id = ${paymentId}`
  t.match(attempt, { status: 'PENDING', trade_no: null }, 'attempt unchanged')
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 0, 'no event')

  // Bad input of every kind: failure or 4xx, never a 500, and (when it reached us) logged.
  const before = (await logRows(pay)).length
  const odd = [
    await postNotify(pay.app, ''),
    await postNotify(pay.app, JSON.stringify(params), { contentType: 'application/json' }),
    await postNotify(pay.app, '{"broken', { contentType: 'application/json' }),
    await postNotify(pay.app, 'a=1&a=2'),
    await postNotify(pay.app, '%%%&&&==='),
    await postNotify(pay.app, 'x=\u0000y'),
    await postNotify(pay.app, '<xml/>', { contentType: 'text/xml' }),
    await pay.app.inject({ method: 'POST', url: '/api/pay/notify/alipay' }),
  ]
  for (const res of odd) {
    t.equal(res.statusCode, 200)
    t.equal(res.body, 'failure')
  }
  const huge = await postNotify(pay.app, `a=${'x'.repeat(2 * 1024 * 1024)}`)
  t.ok(huge.statusCode >= 400 && huge.statusCode < 500, `huge body → ${huge.statusCode}`)
  const logged = (await logRows(pay)).slice(before)
  t.equal(logged.length, odd.length, 'every notify that reached the handler is logged')
  const reasons = ['MALFORMED', 'MALFORMED', 'MALFORMED', 'MALFORMED', 'MALFORMED', 'BAD_SIGNATURE', 'MALFORMED', 'MALFORMED']
  t.same(
    logged.map((r) => `${r.verdict}:${r.reason}`),
    reasons.map((r) => `REJECTED:${r}`),
  )
  t.equal(logged[5]!.raw_body, 'x=\\u0000y', 'a NUL is stored escaped (text cannot hold it)')

  const gets = await pay.app.inject({ method: 'GET', url: '/api/pay/notify/alipay' })
  t.equal(gets.statusCode, 404)

  // notify_log is append-only.
  await t.rejects(pay.sql`update notify_log set verdict = 'ACCEPTED'`, /append-only/)
  await t.rejects(pay.sql`delete from notify_log`, /append-only/)
  t.equal((await pay.sql`select count(*)::int as n from payment_attempts where status <> 'PENDING'`)[0]!.n, 0)
  t.ok(req)
})

t.test('WAIT_BUYER_PAY is acknowledged; TRADE_CLOSED closes a pending attempt; a payment after close still counts', async (t) => {
  const pay = await setupPay(t)
  const platform = pay.keys.alipay.platformPrivateKey
  const { req, paymentId, params } = await paidFixture(pay)

  const waiting = await postNotify(pay.app, signedNotifyBody({ ...params, trade_status: 'WAIT_BUYER_PAY' }, platform))
  t.equal(waiting.body, 'success')
  t.equal((await pay.sql`select status from payment_attempts where id = ${paymentId}`)[0]!.status, 'PENDING')

  const closed = await postNotify(pay.app, signedNotifyBody({ ...params, trade_status: 'TRADE_CLOSED' }, platform))
  t.equal(closed.body, 'success')
  t.equal((await pay.sql`select status from payment_attempts where id = ${paymentId}`)[0]!.status, 'CLOSED')
  t.match(await logRows(pay, req.orderNo), [
    { verdict: 'IGNORED', reason: 'WAIT_BUYER_PAY' },
    { verdict: 'ACCEPTED', reason: 'TRADE_CLOSED' },
  ])

  // The money was taken after all: recorded, one event, flagged in the log.
  const late = await postNotify(pay.app, signedNotifyBody(params, platform))
  t.equal(late.body, 'success')
  t.equal((await pay.sql`select status from payment_attempts where id = ${paymentId}`)[0]!.status, 'PAID')
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 1)
  t.match((await logRows(pay, req.orderNo)).at(-1), { verdict: 'ACCEPTED', reason: 'PAID_AFTER_CLOSE' })

  // A TRADE_CLOSED after payment (full refund at Alipay) does not un-pay it.
  t.equal((await postNotify(pay.app, signedNotifyBody({ ...params, trade_status: 'TRADE_CLOSED' }, platform))).body, 'success')
  t.equal((await pay.sql`select status from payment_attempts where id = ${paymentId}`)[0]!.status, 'PAID')
})

t.test('10 concurrent identical notifies (and 2 instances) record one payment and one event', async (t) => {
  const pay = await setupPay(t)
  // A second instance on the same database.
  const other = await setupPay(t, { keys: pay.keys, databaseUrl: pay.env.DATABASE_URL })
  for (let round = 0; round < 3; round++) {
    const { paymentId, body } = await paidFixture(pay)
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => postNotify(i % 2 ? other.app : pay.app, body)))
    t.same(
      results.map((r) => r.body),
      Array(10).fill('success'),
    )
    const events = await pay.sql`select count(*)::int as n from outbox where payment_attempt_id = ${paymentId}`
    t.equal(events[0]!.n, 1, `round ${round}: exactly one event`)
    const verdicts =
      await pay.sql`select verdict, count(*)::int as n from notify_log l join payment_attempts a on a.order_no = l.out_trade_no where a.id = ${paymentId} group by verdict`
    t.same(Object.fromEntries(verdicts.map((v) => [v.verdict, v.n])), { ACCEPTED: 1, DUPLICATE: 9 })
  }
})

t.test('an order paid through two channels: both recorded, the later one refunded by pay (no event, once)', async (t) => {
  const pay = await setupPay(t)
  const { req, params } = await paidFixture(pay)
  // A second attempt on another channel, paid first, inserted directly (switching channel needs the gateway).
  await pay.sql`
    insert into payment_attempts (id, order_id, order_no, out_trade_no, provider, channel, amount, subject, status, trade_no, paid_at)
    values (gen_random_uuid(), ${req.orderId}, ${req.orderNo}, ${req.orderNo + '_2'}, 'ALIPAY', 'qr', 2500, 's', 'PAID', 'T-OTHER',
            '2024-04-30T00:00:00Z')`
  const body = signedNotifyBody(params, pay.keys.alipay.platformPrivateKey)
  const res = await postNotify(pay.app, body)
  t.equal(res.body, 'success')
  t.equal((await pay.sql`select count(*)::int as n from payment_attempts where order_no = ${req.orderNo} and status = 'PAID'`)[0]!.n, 2)
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 0, 'no event for main: the duplicate payment goes back')
  t.match((await logRows(pay, req.orderNo)).at(-1), { verdict: 'ACCEPTED', reason: 'PAID_TWICE' })
  const refunds = await pay.sql`
    select r.kind, r.amount, r.refund_no, a.out_trade_no from refunds r join payment_attempts a on a.id = r.payment_attempt_id
     where r.order_no = ${req.orderNo}`
  t.match(refunds, [{ kind: 'DUPLICATE_PAYMENT', out_trade_no: req.orderNo, refund_no: /^DUP[0-9a-f]{32}$/ }])
  t.equal(Number(refunds[0]!.amount), 2500, 'in full')
  // The same notify again: a repeat, no second refund.
  t.equal((await postNotify(pay.app, body)).body, 'success')
  t.equal((await pay.sql`select count(*)::int as n from refunds where order_no = ${req.orderNo}`)[0]!.n, 1, 'one refund per attempt')
  // The status main pulls speaks for the payment kept, not the duplicate.
  const status = await pay.call('GET', `/api/pay/status/${req.orderNo}`)
  t.match(status.json().data, { status: 'PAID', tradeNo: 'T-OTHER' })
})

t.test('after a refund, the notifies Alipay keeps sending are acknowledged: they change nothing', async (t) => {
  const pay = await setupPay(t)
  const { req, paymentId, params, body } = await paidFixture(pay)
  t.equal((await postNotify(pay.app, body)).body, 'success')
  // Fully refunded since (main asked, the provider answered).
  await pay.sql`update payment_attempts set status = 'REFUNDED' where id = ${paymentId}`
  // The payment notify still being retried, a partial refund's TRADE_SUCCESS and a full refund's TRADE_CLOSED.
  const refundFields = { out_biz_no: 'RF1', refund_fee: (req.amount / 100).toFixed(2), gmt_refund: '2024-05-01 12:30:00.123' }
  for (const extra of [{}, { ...refundFields, refund_fee: '1.00' }, { ...refundFields, trade_status: 'TRADE_CLOSED' }]) {
    const res = await postNotify(pay.app, signedNotifyBody({ ...params, ...extra }, pay.keys.alipay.platformPrivateKey))
    t.equal(res.body, 'success', JSON.stringify(extra))
  }
  const rows = await logRows(pay, req.orderNo)
  t.same(
    rows.map((r) => r.verdict),
    ['ACCEPTED', 'DUPLICATE', 'DUPLICATE', 'IGNORED'],
  )
  t.match(await pay.sql`select status from payment_attempts where id = ${paymentId}`, [{ status: 'REFUNDED' }])
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 1, 'the one payment event only')
})

t.test('outbox: signed bulk delivery to main on a wake, retried when its backoff ends, stops after success', async (t) => {
  let delivery: OutboxJobs | undefined
  const pay = await setupPay(t, { deps: deliveryDeps(() => delivery) })
  const keys = parseServiceKeys(pay.keys.serviceKeys)
  const seen = new Set<string>()
  const received: Array<{ status: number; verified: boolean; url: string; events: PaymentEvent[] }> = []
  let failNext = 2
  const main = createServer(async (req, res) => {
    const body = await readBody(req)
    const auth = await verifyServiceRequest({
      headers: req.headers,
      method: req.method ?? '',
      path: req.url ?? '',
      body,
      keys,
      rememberNonce: async (k, n) => !seen.has(`${k}:${n}`) && !!seen.add(`${k}:${n}`),
    })
    const status = !auth.ok || req.url !== '/api/orders/callbacks' ? 401 : failNext-- > 0 ? 500 : 200
    const events = eventsOf(body)
    received.push({ status, verified: auth.ok, url: req.url ?? '', events })
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify(status === 200 ? acknowledged(events) : { code: status, message: 'x', data: null, timestamp: Date.now() }))
  })
  await new Promise<void>((r) => main.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => main.close(() => r())))
  const mainUrl = `http://127.0.0.1:${(main.address() as { port: number }).port}`
  // No rescue pass: only the wake and the retry timer deliver here.
  delivery = (
    await startDelivery(t, pay, { mainUrl, outbox: { baseDelayMs: 100 }, jobs: { rescueSeconds: 3600, rescueOverdueMs: 3600_000 } })
  ).jobs

  const { req, paymentId, body } = await paidFixture(pay)
  t.equal((await postNotify(pay.app, body)).body, 'success')

  await waitFor(async () => (await pay.sql`select status from outbox where status = 'DELIVERED'`).length === 1)
  t.same(
    received.map((r) => r.status),
    [500, 500, 200],
    '500, 500, then 200',
  )
  t.ok(
    received.every((r) => r.verified && r.url === '/api/orders/callbacks'),
    'every delivery a correctly signed bulk call',
  )
  t.same(new Set(received.flatMap((r) => r.events.map((e) => e.eventId))).size, 1, 'the same event each time')
  t.match(received[2]!.events, [{ type: 'PAYMENT_SUCCEEDED', orderNo: req.orderNo, orderId: req.orderId, amount: 2500 }])
  const [row] = await pay.sql`select attempts, last_error, delivered_at from outbox where payment_attempt_id = ${paymentId}`
  t.match(row, { attempts: 3, last_error: null })
  t.ok(row!.delivered_at)
  const [jobs] = await pay.sql`select count(*)::int as n from pgboss.job where name <> 'outbox-rescue'`
  t.equal(jobs!.n, 0, 'no job per event: the wake and the retry timer did it')

  await sleep(300)
  t.equal(received.length, 3, 'no more deliveries after the 200')

  // Failure bookkeeping: attempts, backoff and last_error while main keeps failing.
  failNext = 1000
  const second = await paidFixture(pay)
  await postNotify(pay.app, second.body)
  await waitFor(
    async () => (await pay.sql`select attempts from outbox where payment_attempt_id = ${second.paymentId} and attempts >= 2`).length === 1,
  )
  const [failing] = await pay.sql`
    select status, attempts, last_error, next_attempt_at > now() as later from outbox where payment_attempt_id = ${second.paymentId}`
  t.match(failing, { status: 'PENDING', later: true })
  t.match(failing!.last_error, /HTTP 500/)

  // Older than 24 h and still failing → DEAD (at its next try), and no longer retried.
  await pay.sql`update outbox set created_at = now() - interval '25 hours', next_attempt_at = now() where payment_attempt_id = ${second.paymentId}`
  delivery.wake()
  await waitFor(
    async () => (await pay.sql`select 1 from outbox where payment_attempt_id = ${second.paymentId} and status = 'DEAD'`).length === 1,
  )
  const deadCount = received.length
  await sleep(300)
  t.equal(received.length, deadCount, 'a dead event is not retried')
})

t.test('outbox: one call carries many events; only those main acknowledged are DELIVERED, only the failed back off', async (t) => {
  const pay = await setupPay(t)
  const calls: PaymentEvent[][] = []
  let refuse = new Set<string>()
  const main = createServer(async (req, res) => {
    const events = eventsOf(await readBody(req))
    calls.push(events)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(acknowledged(events, (e) => refuse.has(e.orderNo))))
  })
  await new Promise<void>((r) => main.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => main.close(() => r())))
  const mainUrl = `http://127.0.0.1:${(main.address() as { port: number }).port}`

  const orders: string[] = []
  for (let i = 0; i < 7; i++) {
    const f = await paidFixture(pay)
    orders.push(f.req.orderNo)
    await postNotify(pay.app, f.body)
  }
  refuse = new Set([orders[2]!, orders[5]!])
  const { outbox } = await startDelivery(t, pay, {
    mainUrl,
    outbox: { batchSize: 5 },
    jobs: { rescueSeconds: 3600, rescueOverdueMs: 3600_000 },
  })
  await waitFor(async () => (await pay.sql`select count(*)::int as n from outbox where status = 'DELIVERED'`)[0]!.n === 5)
  t.same(
    calls.map((c) => c.length),
    [5, 2],
    'the start-up drain: two calls of at most batchSize events',
  )
  const rows = await pay.sql<{ orderNo: string; status: string; attempts: number; lastError: string | null; later: boolean }[]>`
    select payload->>'orderNo' as "orderNo", status, attempts, last_error as "lastError", next_attempt_at > now() as later
      from outbox order by id`
  for (const r of rows) {
    if (refuse.has(r.orderNo))
      t.match(r, { status: 'PENDING', attempts: 1, later: true, lastError: /HTTP 409 AMOUNT_MISMATCH/ }, 'refused: backs off')
    else t.match(r, { status: 'DELIVERED', attempts: 1, lastError: null }, 'acknowledged: delivered')
  }
  // Main now takes them: the retry delivers just those two, in one call.
  refuse = new Set()
  await pay.sql`update outbox set next_attempt_at = now() where status = 'PENDING'`
  t.same(
    (await outbox.runOnce()).map((d) => d.outcome),
    ['DELIVERED', 'DELIVERED'],
  )
  t.same(
    calls.at(-1)!.map((e) => e.orderNo),
    [orders[2], orders[5]],
  )
  // An answer that names no event (or is not main's) acknowledges nothing.
  const stray = randomUUID()
  await pay.sql`insert into outbox (event_id, event_type, payload)
    values (${stray}, 'PAYMENT_SUCCEEDED', ${pay.sql.json({ eventId: stray, type: 'PAYMENT_SUCCEEDED', orderNo: 'PSTRAY00001' })})`
  refuse = new Set(['PSTRAY00001'])
  t.match(await outbox.runOnce(), [{ eventId: stray, outcome: 'RETRY' }])
})

t.test('outbox: a delivery that fails while main is down is retried when its backoff ends until main is back', async (t) => {
  let delivery: OutboxJobs | undefined
  const pay = await setupPay(t, { deps: deliveryDeps(() => delivery) })
  const port = await freePort()
  const mainUrl = `http://127.0.0.1:${port}`
  delivery = (
    await startDelivery(t, pay, { mainUrl, outbox: { baseDelayMs: 200 }, jobs: { rescueSeconds: 3600, rescueOverdueMs: 3600_000 } })
  ).jobs

  const { paymentId, body } = await paidFixture(pay)
  await postNotify(pay.app, body)
  const [down] = await waitFor(async () => {
    const rows = await pay.sql`select status, attempts, last_error from outbox where payment_attempt_id = ${paymentId} and attempts >= 2`
    return rows.length ? rows : undefined
  }, 15_000)
  t.match(down, { status: 'PENDING' })
  t.match(down!.last_error, /ECONNREFUSED|connect/i, 'main unreachable')

  // main comes back on its address: the next try delivers.
  const back = await startStandInMain(parseServiceKeys(pay.keys.serviceKeys), port)
  t.teardown(back.close)
  await waitFor(
    async () => (await pay.sql`select 1 from outbox where payment_attempt_id = ${paymentId} and status = 'DELIVERED'`).length === 1,
    30_000,
  )
  t.equal(back.callbacks.length, 1, 'delivered once')
  t.ok(back.callbacks[0]!.verified)
})

t.test('outbox: an event whose wake was lost is delivered by the rescue task', async (t) => {
  const pay = await setupPay(t) // no onEventQueued: nothing is ever woken by the writes
  const main = await startStandInMain(parseServiceKeys(pay.keys.serviceKeys))
  t.teardown(main.close)
  const { req, paymentId, body } = await paidFixture(pay)
  await postNotify(pay.app, body)
  const { jobs } = await startDelivery(t, pay, {
    mainUrl: `http://127.0.0.1:${main.port}`,
    jobs: { rescueSeconds: 0.5, rescueOverdueMs: 0 },
  })
  await waitFor(async () => (await pay.sql`select count(*)::int as n from outbox where status = 'DELIVERED'`)[0]!.n === 1)
  // One written by hand after the start-up drain, as a crash between the commit and the wake would leave it.
  await jobs.stop() // the local loop stopped: only the rescue task can deliver it now
  const eventId = randomUUID()
  await pay.sql`
    insert into outbox (event_id, event_type, payload)
    values (${eventId}, 'PAYMENT_SUCCEEDED', ${pay.sql.json({ eventId, type: 'PAYMENT_SUCCEEDED', orderNo: 'PLOST000001' })})`
  await waitFor(async () => (await pay.sql`select count(*)::int as n from outbox where status = 'DELIVERED'`)[0]!.n === 2)
  t.same(
    main.callbacks.map((c) => c.event.eventId).sort(),
    [eventId, (await pay.sql`select event_id from outbox where payment_attempt_id = ${paymentId}`)[0]!.event_id].sort(),
  )
  t.match(main.callbacks.find((c) => c.event.eventId !== eventId)!.event, { orderNo: req.orderNo })
})

t.test('outbox: events queued while pay was down are delivered once each by several instances racing', async (t) => {
  const pay = await setupPay(t)
  const deliveries: string[] = []
  const main = createServer(async (req, res) => {
    const events = eventsOf(await readBody(req))
    deliveries.push(...events.map((e) => e.eventId))
    await sleep(20)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(acknowledged(events)))
  })
  await new Promise<void>((r) => main.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => main.close(() => r())))
  const mainUrl = `http://127.0.0.1:${(main.address() as { port: number }).port}`

  // Events queued while no instance delivered (pay was down), then three instances start at once.
  for (let i = 0; i < 12; i++) await postNotify(pay.app, (await paidFixture(pay)).body)
  const events = (await pay.sql`select event_id from outbox`).map((r) => r.event_id as string)
  const sqls = [pay.sql, connect(pay.env.DATABASE_URL!), connect(pay.env.DATABASE_URL!)]
  t.teardown(() => Promise.all(sqls.slice(1).map((s) => s.end({ timeout: 5 }))))
  const instances = await Promise.all(
    sqls.map((sql) => startDelivery(t, pay, { mainUrl, sql, outbox: { batchSize: 3 }, jobs: { rescueSeconds: 0.5, rescueOverdueMs: 0 } })),
  )
  // Every instance is woken for every event (duplicates) while each also runs delivery passes.
  for (const i of instances) for (let k = 0; k < events.length; k++) i.jobs.wake()
  await Promise.all(instances.flatMap((i) => [i.outbox.runOnce(), i.outbox.runOnce()]))
  await waitFor(async () => (await pay.sql`select count(*)::int as n from outbox where status = 'DELIVERED'`)[0]!.n === 12)
  await sleep(300)
  t.equal(deliveries.length, 12, 'each event delivered exactly once')
  t.same(new Set(deliveries), new Set(events))
})

t.test('a notify for a provider this instance has not configured: 503 (the provider retries), logged', async (t) => {
  const pay = await setupPay(t)
  const res = await postNotify(pay.app, JSON.stringify({ id: 'x' }), { path: '/api/pay/notify/wechat', contentType: 'application/json' })
  t.equal(res.statusCode, 503, 'not a 2xx: WeChat would stop retrying on one')
  t.match((await logRows(pay)).at(-1), { verdict: 'REJECTED', reason: 'PROVIDER_DISABLED' })
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 0)
})
