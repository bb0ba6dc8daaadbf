/**
 * Dead events on pay's signed service API, over real HTTP: list the outbox by status, resend a DEAD
 * event (PENDING again, delivered by the drain loop, with a fresh 24 h retry window), and the refusals
 * (unknown 404, not DEAD 409, bad input 400, unsigned 401).
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { Envelope } from '@paysys/contracts'
import { createServiceClient, parseServiceKeys } from '@paysys/service-auth'
import { createOutbox, type OutboxEvent, type OutboxJobs } from '../src/outbox.ts'
import {
  alipayNotifyParams,
  createRequest,
  deliveryDeps,
  postNotify,
  setupPay,
  signedNotifyBody,
  silentLog,
  startDelivery,
  startStandInMain,
  waitFor,
  type PayHarness,
} from './helpers.ts'

type Page = { content: OutboxEvent[]; totalElements: number; limit: number; offset: number }

async function paidEvent(pay: PayHarness) {
  const req = createRequest()
  const res = await pay.call('POST', '/api/pay/create', req)
  if (res.statusCode !== 200) throw new Error(res.body)
  const params = alipayNotifyParams({ out_trade_no: req.orderNo, app_id: pay.keys.alipay.appId, total_amount: '25.00' })
  const notified = await postNotify(pay.app, signedNotifyBody(params, pay.keys.alipay.platformPrivateKey))
  if (notified.body !== 'success') throw new Error(notified.body)
  const [row] =
    await pay.sql`select o.event_id from outbox o join payment_attempts a on a.id = o.payment_attempt_id where a.order_no = ${req.orderNo}`
  return { orderNo: req.orderNo, eventId: row!.event_id as string }
}

/** What 24 h of failed deliveries leave behind. */
const kill = (pay: PayHarness, eventId: string) =>
  pay.sql`update outbox set status = 'DEAD', attempts = 7, last_error = 'HTTP 503: main down', created_at = now() - interval '25 hours'
           where event_id = ${eventId}`

t.test('dead events: listed by status, resent over the signed API, then delivered', async (t) => {
  let delivery: OutboxJobs | undefined
  const pay = await setupPay(t, { deps: deliveryDeps(() => delivery) })
  const address = await pay.app.listen({ port: 0, host: '127.0.0.1' })
  const client = createServiceClient({ baseUrl: address, key: pay.serviceKey, timeoutMs: 5000 })
  t.teardown(() => client.close())
  const get = async (path: string) => client.get<Envelope<Page>>(path)
  const resend = async (eventId: string) => client.post<Envelope<OutboxEvent>>(`/api/pay/events/${eventId}/resend`, {})

  // Two events written while nothing delivered; one of them then failed for 24 h.
  const dead = await paidEvent(pay)
  const pending = await paidEvent(pay)
  await kill(pay, dead.eventId)

  const deadList = await get('/api/pay/events?status=DEAD')
  t.equal(deadList.status, 200, JSON.stringify(deadList.body))
  t.equal(deadList.body.data.totalElements, 1)
  t.match(deadList.body.data.content, [
    {
      eventId: dead.eventId,
      type: 'PAYMENT_SUCCEEDED',
      status: 'DEAD',
      orderNo: dead.orderNo,
      outTradeNo: dead.orderNo,
      refundNo: null,
      attempts: 7,
      lastError: 'HTTP 503: main down',
      deliveredAt: null,
      resentAt: null,
    },
  ])
  t.ok(Date.parse(deadList.body.data.content[0]!.createdAt) < Date.now() - 24 * 3600_000)
  const all = await get('/api/pay/events')
  t.same(
    all.body.data.content.map((e) => e.eventId),
    [pending.eventId, dead.eventId],
    'every status, newest first',
  )
  const paged = await get('/api/pay/events?limit=1&offset=1')
  t.match(paged.body.data, { totalElements: 2, limit: 1, offset: 1, content: [{ eventId: dead.eventId }] })
  t.same((await get('/api/pay/events?status=DELIVERED')).body.data.content, [])

  for (const bad of ['status=LOST', 'limit=0', 'limit=101', 'offset=-1', 'limit=abc', 'page=1']) {
    const res = await get(`/api/pay/events?${bad}`)
    t.equal(res.status, 400, bad)
  }
  const unsigned = await pay.app.inject({ method: 'GET', url: '/api/pay/events?status=DEAD' })
  t.equal(unsigned.statusCode, 401)
  t.equal(unsigned.json().error, 'SERVICE_AUTH_FAILED')
  const unsignedResend = await pay.app.inject({ method: 'POST', url: `/api/pay/events/${dead.eventId}/resend` })
  t.equal(unsignedResend.statusCode, 401)

  t.match((await resend(randomUUID())).body, { code: 404, error: 'NOT_FOUND' })
  t.equal((await resend('not-a-uuid')).status, 400)
  const notDead = await resend(pending.eventId)
  t.equal(notDead.status, 409)
  t.equal(notDead.body.error, 'CONFLICT')
  t.equal((await pay.sql`select status from outbox where event_id = ${dead.eventId}`)[0]!.status, 'DEAD', 'nothing changed yet')

  // main is back: delivery runs (the drain loop, no rescue pass), and the resend wakes it.
  const main = await startStandInMain(parseServiceKeys(pay.keys.serviceKeys))
  t.teardown(main.close)
  delivery = (
    await startDelivery(t, pay, { mainUrl: `http://127.0.0.1:${main.port}`, jobs: { rescueSeconds: 3600, rescueOverdueMs: 3600_000 } })
  ).jobs
  const resent = await resend(dead.eventId)
  t.equal(resent.status, 200, JSON.stringify(resent.body))
  t.match(resent.body.data, { eventId: dead.eventId, status: 'PENDING', attempts: 7, lastError: 'HTTP 503: main down' })
  t.ok(resent.body.data.resentAt)
  await waitFor(async () => (await pay.sql`select 1 from outbox where event_id = ${dead.eventId} and status = 'DELIVERED'`).length === 1)
  await waitFor(async () => (await pay.sql`select 1 from outbox where event_id = ${pending.eventId} and status = 'DELIVERED'`).length === 1)
  t.same(
    main.callbacks.map((c) => c.event.eventId).sort(),
    [dead.eventId, pending.eventId].sort(),
    'the resent event reached main once, and the PENDING one once (by the drain at start)',
  )
  t.ok(main.callbacks.every((c) => c.verified))
  t.match((await pay.sql`select attempts, last_error from outbox where event_id = ${dead.eventId}`)[0], { attempts: 8, last_error: null })
  t.equal((await resend(dead.eventId)).status, 409, 'a delivered event is not resent')
})

t.test('a resent event has another 24 h of retries: one more failure does not make it DEAD again', async (t) => {
  const pay = await setupPay(t)
  const { eventId } = await paidEvent(pay)
  await kill(pay, eventId)
  const res = await pay.call('POST', `/api/pay/events/${eventId}/resend`, {})
  t.equal(res.statusCode, 200, res.body)
  const outbox = createOutbox({ sql: pay.sql, mainUrl: 'http://127.0.0.1:9', key: pay.serviceKey, log: silentLog })
  t.teardown(() => outbox.close())
  const [d] = await outbox.runOnce()
  t.match(d, { eventId, outcome: 'RETRY' })
  t.match((await pay.sql`select status, attempts from outbox where event_id = ${eventId}`)[0], { status: 'PENDING', attempts: 8 })
  // Still failing 24 h after the resend: DEAD again.
  await pay.sql`update outbox set resent_at = now() - interval '25 hours', next_attempt_at = now() where event_id = ${eventId}`
  t.match(await outbox.runOnce(), [{ eventId, outcome: 'DEAD' }])
})
