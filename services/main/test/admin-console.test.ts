/**
 * The operator console's API (`/api/admin/console/health`, `/api/admin/orders/:id/trail`,
 * `…/refund-preview`, `/api/admin/users[/:id/ledger]`, orders by provider) against a real pay
 * process (its own database, signed calls over HTTP): figures counted from rows planted in pay's
 * tables, an order's story in time order without notify bodies, the claw-back preview against what
 * a refund then does, admins only, and pay down leaving main's part readable.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { connect } from '@paysys/db'
import { createTestDatabase, freePort, startService } from '@paysys/devkit'
import { bearer, giveCredits, registerAdmin, registerUser, SERVICE_KEY, signedHeaders, startMain } from './helpers.ts'

t.setTimeout(600_000) // a pay process and a main on a busy machine

t.test('console API: health tiles, order trail, refund preview, users; admins only; pay down', async (t) => {
  const payDb = await createTestDatabase('conpay')
  t.teardown(() => payDb.drop())
  const pay = await startService(
    'pay',
    {
      PORT: String(await freePort()),
      DATABASE_URL: payDb.url,
      SERVICE_KEYS: `${SERVICE_KEY.id}:${SERVICE_KEY.secret}`,
      MAIN_URL: `http://127.0.0.1:${await freePort()}`,
      LOG_LEVEL: 'warn',
      OUTBOX_PUSH_ENABLED: 'false',
      STALE_ATTEMPT_SWEEP_SECONDS: '0',
      RECONCILE_JOBS_ENABLED: 'false',
    },
    { timeoutMs: 600_000 },
  ) // a busy machine starts slowly
  let payUp = true
  t.teardown(() => payUp && pay.stop())
  const paySql = connect(payDb.url, { max: 2 })
  t.teardown(() => paySql.end({ timeout: 5 }))
  const main = await startMain({ PAY_URL: pay.url })
  t.teardown(() => main.close())
  const admin = await registerAdmin(main.app, main.sql, 'console-admin@example.com')
  const buyer = await registerUser(main.app, 'Console.Buyer_1@example.com')
  const other = await registerUser(main.app, 'someone-else@example.com')
  const get = (url: string, token = admin.token) => main.app.inject({ method: 'GET', url, headers: token ? bearer(token) : {} })

  // ---- admins only ----
  const routes = [
    '/api/admin/console/health',
    '/api/admin/orders/1/trail',
    '/api/admin/orders/1/refund-preview',
    '/api/admin/users',
    '/api/admin/users/1/ledger',
  ]
  for (const url of routes) {
    t.equal((await get(url, '')).statusCode, 401, `${url} needs a login`)
    const res = await get(url, buyer.token)
    t.equal(res.statusCode, 403, `${url} is for admins`)
    t.equal(res.json().error, 'FORBIDDEN')
  }

  // ---- health: figures from rows planted in pay's tables ----
  const ev = (orderNo: string) => paySql.json({ eventId: randomUUID(), type: 'PAYMENT_SUCCEEDED', orderNo })
  await paySql`insert into outbox (event_id, event_type, payload, status, attempts, created_at)
                values (${randomUUID()}, 'PAYMENT_SUCCEEDED', ${ev('P1')}, 'PENDING', 3, now() - interval '10 minutes'),
                       (${randomUUID()}, 'PAYMENT_SUCCEEDED', ${ev('P2')}, 'PENDING', 0, now() - interval '1 minute'),
                       (${randomUUID()}, 'PAYMENT_SUCCEEDED', ${ev('P3')}, 'DEAD', 9, now() - interval '25 hours'),
                       (${randomUUID()}, 'PAYMENT_SUCCEEDED', ${ev('P4')}, 'DELIVERED', 1, now())`
  await paySql`insert into notify_log (provider, out_trade_no, raw_body, verdict, reason, received_at)
                values ('ALIPAY', 'X1', 'sign=forged', 'REJECTED', 'BAD_SIGNATURE', now() - interval '5 minutes'),
                       ('WECHAT_PAY', 'X2', '{}', 'REJECTED', 'AMOUNT_MISMATCH', now() - interval '50 minutes'),
                       ('ALIPAY', 'X3', 'old', 'REJECTED', 'BAD_SIGNATURE', now() - interval '2 hours'),
                       ('ALIPAY', 'X4', 'fine', 'ACCEPTED', null, now())`
  const [older] = await paySql`insert into reconciliation_runs (provider, bill_day, status, trigger, differences)
                               values ('ALIPAY', '2026-11-30', 'SUCCEEDED', 'SCHEDULED', 1) returning id`
  const [latest] = await paySql`insert into reconciliation_runs (provider, bill_day, status, trigger, differences, repaired, finished_at)
                                values ('ALIPAY', '2026-12-01', 'SUCCEEDED', 'MANUAL', 3, 1, now()) returning id`
  for (const [i, status] of ['OPEN', 'OPEN', 'RESOLVED', 'REPAIRED'].entries()) {
    await paySql`insert into reconciliation_differences (provider, bill_day, class, out_trade_no, detail, status, first_run_id, last_run_id)
                 values ('ALIPAY', '2026-12-01', 'AMOUNT_MISMATCH', ${`T${i}`}, 'planted', ${status}, ${latest!.id}, ${latest!.id})`
  }
  const health = await get('/api/admin/console/health')
  t.equal(health.statusCode, 200, health.body)
  const h = health.json().data
  t.equal(h.outbox.pending, 2)
  t.equal(h.outbox.dead, 1)
  t.ok(
    h.outbox.oldestPendingAgeSeconds >= 600 && h.outbox.oldestPendingAgeSeconds < 900,
    `oldest pending ~10 min (${h.outbox.oldestPendingAgeSeconds} s)`,
  )
  t.equal(h.verificationFailuresLastHour, 2, 'REJECTED in the last hour only')
  t.same(h.verificationFailuresByProvider, { ALIPAY: 1, WECHAT_PAY: 1 })
  const alipay = h.reconciliations.find((r: { provider: string }) => r.provider === 'ALIPAY')
  t.match(alipay, { openDifferences: 2, lastRun: { id: Number(latest!.id), billDay: '2026-12-01', status: 'SUCCEEDED', differences: 3 } })
  t.not(alipay.lastRun.id, Number(older!.id), 'the latest run')
  t.equal(h.refundsPending, 0)
  t.equal(h.payError, null)

  // ---- an order paid through a provider (pay's event, signed, as pay sends it) ----
  const created = await main.app.inject({
    method: 'POST',
    url: '/api/orders',
    headers: bearer(buyer.token),
    payload: { packageCode: 'CREDITS_500' },
  })
  t.equal(created.statusCode, 200, created.body)
  const order = created.json().data as { id: number; orderNo: string }
  const attemptId = randomUUID()
  await paySql`insert into payment_attempts (id, order_id, order_no, out_trade_no, provider, channel, amount, subject, status, trade_no, paid_at, paid_via, created_at)
               values (${attemptId}, ${order.id}, ${order.orderNo}, ${order.orderNo}, 'ALIPAY', 'qr', 2500, '标准套餐', 'PAID', 'T2026', now(), 'NOTIFY', now() - interval '2 seconds')`
  await paySql`insert into notify_log (provider, out_trade_no, raw_body, verdict, reason, received_at)
               values ('ALIPAY', ${order.orderNo}, 'sign=SECRET-NOTIFY-BODY', 'ACCEPTED', null, now() - interval '1 second')`
  const eventId = randomUUID()
  const event = {
    eventId,
    type: 'PAYMENT_SUCCEEDED',
    orderId: order.id,
    orderNo: order.orderNo,
    amount: 2500,
    provider: 'ALIPAY',
    channel: 'qr',
    tradeNo: 'T2026',
    paidAt: new Date().toISOString(),
  }
  await paySql`insert into outbox (event_id, event_type, payment_attempt_id, payload, status, attempts, delivered_at)
               values (${eventId}, 'PAYMENT_SUCCEEDED', ${attemptId}, ${paySql.json(event)}, 'DELIVERED', 1, now())`
  const text = JSON.stringify(event)
  const cb = await main.app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    headers: signedHeaders('POST', '/api/orders/callback', text),
    payload: text,
  })
  t.equal(cb.statusCode, 200, cb.body)

  const trail = await get(`/api/admin/orders/${order.id}/trail`)
  t.equal(trail.statusCode, 200, trail.body)
  const tr = trail.json().data
  t.match(tr.order, { id: order.id, status: 'PAID', userId: buyer.userId })
  t.match(tr.user, { id: buyer.userId, creditBalance: 500 })
  t.match(tr.pay.attempts, [{ outTradeNo: order.orderNo, status: 'PAID', amount: 2500 }])
  t.match(tr.pay.notifies, [{ verdict: 'ACCEPTED', outTradeNo: order.orderNo }])
  t.match(tr.pay.events, [{ eventId, status: 'DELIVERED' }])
  t.match(tr.ledger, [{ type: 'PURCHASE', delta: 500, balanceAfter: 500 }])
  t.notOk(trail.body.includes('SECRET-NOTIFY-BODY'), 'notify bodies never leave pay')
  const sources = new Set(tr.timeline.map((e: { source: string }) => e.source))
  t.same([...sources].sort(), ['attempt', 'event', 'ledger', 'notify', 'order'])
  const times = tr.timeline.map((e: { at: string }) => e.at)
  t.same(times, [...times].sort(), 'the timeline is in time order')
  t.equal((await get('/api/admin/orders/999999/trail')).statusCode, 404)

  // ---- refund preview ----
  const preview = async (q = '') => (await get(`/api/admin/orders/${order.id}/refund-preview${q}`)).json()
  t.match((await preview('?amount=12.50')).data, {
    refundable: true,
    amount: 12.5,
    paid: 25,
    left: 25,
    clawBack: 250,
    balance: 500,
    creditsAlreadySpent: false,
  })
  t.match((await preview()).data, { amount: 25, clawBack: 500 }, 'default: all that is left')
  t.match((await preview('?amount=25.01')).data, { refundable: false, reason: /0\.01 与 25\.00/ })
  t.equal((await get(`/api/admin/orders/${order.id}/refund-preview?amount=abc`)).statusCode, 400)
  t.equal((await get(`/api/admin/orders/${order.id}/refund-preview?amount=0`)).statusCode, 400)
  await main.sql`update users set credit_balance = 100 where id = ${buyer.userId}` // (a preview reads the balance only)
  t.match((await preview('?amount=12.50')).data, { clawBack: 250, balance: 100, creditsAlreadySpent: true, forcedClawBack: 100 })
  await main.sql`update users set credit_balance = 500 where id = ${buyer.userId}`

  // The preview and a refund agree: a goods order paid with credits is refunded locally.
  const goods = (await get('/api/products?kind=goods')).json().data.content[0]
  await giveCredits(main.sql, other.userId, 5000)
  const g = await main.app.inject({
    method: 'POST',
    url: '/api/orders',
    headers: bearer(other.token),
    payload: { productId: goods.id, deliveryMethod: 'pickup' },
  })
  t.equal(g.statusCode, 200, g.body)
  const gid = g.json().data.id
  const paidWithCredits = await main.app.inject({
    method: 'POST',
    url: `/api/orders/${gid}/pay`,
    headers: bearer(other.token),
    payload: { method: 'CREDITS' },
  })
  t.equal(paidWithCredits.statusCode, 200, paidWithCredits.body)
  const gp = (await get(`/api/admin/orders/${gid}/refund-preview?amount=10`)).json().data
  // 10 yuan of what the order cost gives back that share of the credits it spent, rounded down (nothing refunded yet).
  const [spent] = await main.sql<{ credits: number; paid: number }[]>`
    select credits_spent as credits, paid_amount_fen as paid from orders where id = ${gid}`
  t.ok(spent!.credits > 0 && spent!.paid >= 1000, `the order spent ${spent!.credits} credits for ${spent!.paid} fen`)
  t.equal(gp.creditsReturned, Math.floor((spent!.credits * 1000) / spent!.paid), `credits to give back (${gp.creditsReturned})`)
  const refund = await main.app.inject({
    method: 'POST',
    url: `/api/admin/orders/${gid}/refund`,
    headers: { ...bearer(admin.token), 'idempotency-key': randomUUID() },
    payload: { amount: 10, reason: 'preview check' },
  })
  t.equal(refund.statusCode, 200, refund.body)
  t.equal(refund.json().data.refund.creditsReturned, gp.creditsReturned, 'the refund gave back what the preview said')

  // ---- users ----
  const found = (await get('/api/admin/users?q=console.BUYER')).json().data
  t.equal(found.totalElements, 1)
  t.equal(found.content[0].id, buyer.userId)
  t.equal((await get(`/api/admin/users?q=${buyer.userId}`)).json().data.content[0].email, 'console.buyer_1@example.com')
  t.equal((await get('/api/admin/users?q=%25')).json().data.totalElements, 0, 'LIKE wildcards are literal')
  t.equal((await get('/api/admin/users?q=_1@')).json().data.totalElements, 1, '_ is literal too')
  t.equal((await get('/api/admin/users')).json().data.totalElements, 3)
  const ledger = (await get(`/api/admin/users/${buyer.userId}/ledger`)).json().data
  t.match(ledger.content, [{ type: 'PURCHASE', delta: 500 }])
  t.equal((await get('/api/admin/users/999999/ledger')).statusCode, 404)

  // ---- orders by provider ----
  const byAlipay = (await get('/api/admin/orders?provider=ALIPAY')).json().data
  t.same(
    byAlipay.content.map((o: { id: number }) => o.id),
    [order.id],
  )
  t.same(
    (await get('/api/admin/orders?provider=CREDITS')).json().data.content.map((o: { id: number }) => o.id),
    [gid],
  )
  t.equal((await get('/api/admin/orders?provider=alipay;drop')).statusCode, 400)

  // ---- pay down: main's part still readable ----
  await pay.stop()
  payUp = false
  const down = (await get('/api/admin/console/health')).json().data
  t.match(down, { outbox: null, verificationFailuresLastHour: null, refundsPending: 0, payError: /支付服务不可用/ })
  const trailDown = (await get(`/api/admin/orders/${order.id}/trail`)).json().data
  t.match(trailDown, { pay: null, payError: /支付服务不可用/, order: { id: order.id } })
  t.ok(trailDown.timeline.some((e: { source: string }) => e.source === 'ledger'))
})
