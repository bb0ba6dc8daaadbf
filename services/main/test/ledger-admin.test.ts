/**
 * Credits consume (user and service key), the admin API (catalogue, order search, refunds,
 * credit adjustments, shipping, stats) and the admin CLI, as route tests with pay down.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { newOrderNo } from '../src/orders/order-no.ts'
import { createAdmin } from '../src/cli/create-admin.ts'
import { bearer, giveCredits, registerAdmin, registerUser, SERVICE_KEY, signedHeaders, startMain, traces } from './helpers.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app, sql } = main

const [goods] = await sql<{ id: number }[]>`select id from products where sku = 'GOODS_GIFT_BOX'`
const GOODS = goods!.id
const admin = await registerAdmin(app, sql, 'boss@example.com')

const call = (
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  token?: string,
  payload?: unknown,
  headers: Record<string, string> = {},
) =>
  app.inject({
    method,
    url,
    headers: { ...(token ? bearer(token) : {}), ...headers },
    ...(payload === undefined ? {} : { payload: payload as object }),
  })

/** A paid credits order, as the callback would leave it (credits granted in the same transaction). */
async function paidCreditsOrder(userId: number, amountFen = 2500, credits = 500) {
  const [p] = await sql`select id from products where package_code = 'CREDITS_500'`
  return sql.begin(async (tx) => {
    const [o] = await tx`
      insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, amount_fen, expire_at, customer_email,
        status, paid_at, paid_amount_fen, trade_no, payment_method, payment_channel, credits_granted)
      values (${newOrderNo()}, ${userId}, ${p!.id}, 'credits', 'CREDITS_500', '标准套餐', ${credits}, ${amountFen}, now() + interval '30 minutes',
        'x@example.com', 'PAID', now(), ${amountFen}, 'T1', 'ALIPAY', 'qr', true)
      returning id, order_no as "orderNo"`
    const [u] = await tx`update users set credit_balance = credit_balance + ${credits} where id = ${userId} returning credit_balance`
    await tx`insert into credit_ledger (user_id, type, delta, balance_after, description, order_id)
      values (${userId}, 'PURCHASE', ${credits}, ${u!.credit_balance}, 'purchase', ${o!.id})`
    return o as { id: number; orderNo: string }
  })
}

t.test('consume: 100 concurrent consumes of 10 with distinct keys against 500 → exactly 50, balance 0, never negative', async (t) => {
  const { token, userId } = await registerUser(app, 'spender@example.com')
  await giveCredits(sql, userId, 500)
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      call('POST', '/api/credits/consume', token, { credits: 10, description: `call ${i}`, idempotencyKey: `k-${i}-${randomUUID()}` }),
    ),
  )
  t.equal(results.filter((r) => r.statusCode === 200).length, 50)
  const refused = results.filter((r) => r.statusCode !== 200)
  t.equal(refused.length, 50)
  t.ok(refused.every((r) => r.statusCode === 409 && r.json().error === 'INSUFFICIENT_CREDITS'))
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 0)
  const [l] =
    await sql`select count(*)::int as n, min(balance_after)::int as low, sum(delta)::int as s from credit_ledger where user_id = ${userId}`
  t.same(l, { n: 51, low: 0, s: 0 }, '50 CONSUME rows + the grant; never below zero; sums to the balance')
})

t.test('consume: the same key 10 times spends once; another amount with it is 409; bad input 400; 401', async (t) => {
  const { token, userId } = await registerUser(app, 'repeat@example.com')
  await giveCredits(sql, userId, 100)
  const body = { credits: 30, description: 'AI 绘图', idempotencyKey: 'job-42' }
  const all = await Promise.all(Array.from({ length: 10 }, () => call('POST', '/api/credits/consume', token, body)))
  t.ok(all.every((r) => r.statusCode === 200))
  t.equal(new Set(all.map((r) => r.json().data.ledgerId)).size, 1, 'one ledger row')
  t.equal(all.filter((r) => r.json().data.replayed === false).length, 1)
  t.match(all[0]!.json().data, { type: 'CONSUME', delta: -30, balanceAfter: 70, credits: 30, balance: 70, idempotencyKey: 'job-42' })
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 70)
  const reused = await call('POST', '/api/credits/consume', token, { ...body, credits: 31 })
  t.equal(reused.statusCode, 409)
  t.equal(reused.json().error, 'IDEMPOTENCY_KEY_REUSED')
  // The header works as the key too.
  const viaHeader = await call('POST', '/api/credits/consume', token, { credits: 5 }, { 'idempotency-key': 'hdr-1' })
  t.equal(viaHeader.json().data.balance, 65)
  t.equal((await call('POST', '/api/credits/consume', token, { credits: 5 }, { 'idempotency-key': 'hdr-1' })).json().data.balance, 65)

  const other = await registerUser(app, 'victim@example.com')
  const before = await traces(sql)
  for (const bad of [
    { credits: 10 },
    { credits: 0, idempotencyKey: 'a' },
    { credits: -5, idempotencyKey: 'a' },
    { credits: 1.5, idempotencyKey: 'a' },
    { credits: 'ten', idempotencyKey: 'a' },
    { credits: 10, idempotencyKey: '' },
    { credits: 10, idempotencyKey: 'ключ' },
  ]) {
    const r = await call('POST', '/api/credits/consume', token, bad)
    t.equal(r.statusCode, 400, JSON.stringify(bad))
    t.equal(r.json().error, 'INVALID_PARAMS')
  }
  const tooMuch = await call('POST', '/api/credits/consume', token, { credits: 66, idempotencyKey: 'big' })
  t.equal(tooMuch.statusCode, 409)
  t.equal(tooMuch.json().error, 'INSUFFICIENT_CREDITS')
  const forOther = await call('POST', '/api/credits/consume', token, { credits: 1, idempotencyKey: 'x', userId: other.userId })
  t.equal(forOther.statusCode, 403)
  t.equal((await call('POST', '/api/credits/consume', undefined, { credits: 1, idempotencyKey: 'x' })).statusCode, 401)
  t.same(await traces(sql), before, 'no trace')
})

t.test('consume by a backend holding a service key (signed), naming the user', async (t) => {
  const { userId, email, token } = await registerUser(app, 'backend-user@example.com')
  await giveCredits(sql, userId, 50)
  const send = (body: object, key = SERVICE_KEY) => {
    const text = JSON.stringify(body)
    return app.inject({
      method: 'POST',
      url: '/api/credits/consume',
      payload: text,
      headers: signedHeaders('POST', '/api/credits/consume', text, key),
    })
  }
  const byId = await send({ userId, credits: 20, description: '后端扣费', idempotencyKey: 'svc-1' })
  t.equal(byId.statusCode, 200, byId.body)
  t.match(byId.json().data, { balance: 30, type: 'CONSUME', delta: -20 })
  t.equal((await send({ email, credits: 20, description: '后端扣费', idempotencyKey: 'svc-1' })).json().data.replayed, true)
  t.equal((await send({ email, credits: 10, idempotencyKey: 'svc-2' })).json().data.balance, 20)
  t.equal((await send({ credits: 1, idempotencyKey: 'svc-3' })).statusCode, 400, 'which user?')
  const unknown = await send({ userId: 999999, credits: 1, idempotencyKey: 'svc-4' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'USER_NOT_FOUND')
  const forged = await send({ userId, credits: 1, idempotencyKey: 'svc-5' }, { id: SERVICE_KEY.id, secret: 'not-the-secret-0123456789' })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().error, 'SERVICE_AUTH_FAILED')
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 20)
})

t.test('admin guard: 401 without a token, 403 for a user (even with a forged role claim), 200 for an admin', async (t) => {
  const { token } = await registerUser(app, 'nosy@example.com')
  for (const url of ['/api/admin/orders', '/api/admin/products', '/api/admin/stats/daily']) {
    t.equal((await call('GET', url)).statusCode, 401, url)
    const r = await call('GET', url, token)
    t.equal(r.statusCode, 403, url)
    t.equal(r.json().error, 'FORBIDDEN')
    t.equal((await call('GET', url, admin.token)).statusCode, 200, url)
  }
  // A demoted admin's token no longer works: the role is read from the database.
  const ex = await registerAdmin(app, sql, 'ex-admin@example.com')
  await sql`update users set role = 'user' where id = ${ex.userId}`
  t.equal((await call('GET', '/api/admin/orders', ex.token)).statusCode, 403)
  t.equal((await call('POST', '/api/admin/credits/adjust', token, { userId: 1, delta: 100, reason: 'gift' })).statusCode, 403)
})

t.test('admin catalogue: create, update, deactivate; bad input 400, duplicates 409, unknown 404; nothing written on refusal', async (t) => {
  const created = await call(
    'POST',
    '/api/admin/products',
    admin.token,
    { kind: 'goods', name: '保温杯', price: 59.9, description: '304 不锈钢', deliveryMethods: ['express', 'pickup'], sku: 'CUP-01' },
    { 'idempotency-key': 'create-cup' },
  )
  t.equal(created.statusCode, 200, created.body)
  const cup = created.json().data
  t.match(cup, { kind: 'goods', name: '保温杯', price: 59.9, originalPrice: 59.9, isActive: true, deliveryMethods: ['express', 'pickup'] })
  const replay = await call(
    'POST',
    '/api/admin/products',
    admin.token,
    { kind: 'goods', name: '保温杯', price: 59.9, description: '304 不锈钢', deliveryMethods: ['express', 'pickup'], sku: 'CUP-01' },
    { 'idempotency-key': 'create-cup' },
  )
  t.equal(replay.json().data.id, cup.id, 'replayed, not created twice')
  t.same(
    (await call('GET', `/api/delivery-methods?productId=${cup.id}`)).json().data.map((m: { code: string }) => m.code),
    ['express', 'pickup'],
  )
  const credits = await call('POST', '/api/admin/products', admin.token, {
    kind: 'credits',
    name: '2000积分',
    price: '89',
    credits: 2000,
    packageCode: 'CREDITS_2000',
  })
  t.match(credits.json().data, { packageCode: 'CREDITS_2000', credits: 2000, price: 89 })
  t.equal((await call('GET', '/api/credits/packages/CREDITS_2000')).json().data.currentPrice, 89, 'a package like the seeded ones')

  const before = await traces(sql)
  const bad: [object, number, string][] = [
    [{ kind: 'goods', name: 'x', price: 0 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: -1 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 1.999 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 'NaN' }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: true }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 1e12 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: '', price: 1 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'gift', name: 'x', price: 1 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'credits', name: 'x', price: 1 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 1, deliveryMethods: ['drone'] }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 1, packageCode: 'CREDITS_X1' }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 1, imageUrl: 'javascript:alert(1)' }, 400, 'INVALID_PARAMS'],
    [{ kind: 'goods', name: 'x', price: 1, amount: 1 }, 400, 'INVALID_PARAMS'],
    [{ kind: 'credits', name: 'x', price: 1, credits: 10, packageCode: 'CREDITS_2000' }, 409, 'DUPLICATE'],
    [{ kind: 'goods', name: 'x', price: 1, sku: 'CUP-01' }, 409, 'DUPLICATE'],
  ]
  for (const [payload, status, error] of bad) {
    const r = await call('POST', '/api/admin/products', admin.token, payload)
    t.equal(r.statusCode, status, JSON.stringify(payload))
    t.equal(r.json().error, error, JSON.stringify(payload))
  }
  for (const [url, payload, status] of [
    [`/api/admin/products/${cup.id}`, {}, 400],
    [`/api/admin/products/${cup.id}`, { price: 0 }, 400],
    [`/api/admin/products/${cup.id}`, { kind: 'credits' }, 400],
    [`/api/admin/products/${cup.id}`, { packageCode: 'CREDITS_CUP' }, 400],
    ['/api/admin/products/4', { price: 1 }, 400],
    [`/api/admin/products/${cup.id}`, { sku: 'GOODS_GIFT_BOX' }, 409],
    ['/api/admin/products/999999', { name: 'y' }, 404],
    ['/api/admin/products/abc', { name: 'y' }, 400],
  ] as const) {
    t.equal((await call('PATCH', url, admin.token, payload)).statusCode, status, `${url} ${JSON.stringify(payload)}`)
  }
  t.same(await traces(sql), before, 'no refused request changed anything')

  const updated = await call('PATCH', `/api/admin/products/${cup.id}`, admin.token, {
    price: '49.90',
    originalPrice: 59.9,
    name: '保温杯 Pro',
  })
  t.match(updated.json().data, { price: 49.9, originalPrice: 59.9, name: '保温杯 Pro' })
  const off = await call('POST', `/api/admin/products/${cup.id}/deactivate`, admin.token)
  t.equal(off.json().data.isActive, false)
  t.equal((await call('GET', `/api/products/${cup.id}`)).statusCode, 404, 'gone from the public catalogue')
  const { token } = await registerUser(app, 'late-buyer@example.com')
  t.equal((await call('POST', '/api/orders', token, { productId: cup.id, deliveryMethod: 'pickup' })).statusCode, 404, 'cannot be ordered')
  t.equal(
    (await call('GET', '/api/admin/products?active=false', admin.token)).json().data.content.some((p: { id: number }) => p.id === cup.id),
    true,
  )
  t.equal((await call('POST', `/api/admin/products/${cup.id}/activate`, admin.token)).json().data.isActive, true)
  t.equal((await call('DELETE', `/api/admin/products/${cup.id}`, admin.token)).json().data.isActive, false)
  t.equal((await call('POST', '/api/admin/products/999999/deactivate', admin.token)).statusCode, 404)
})

t.test('admin order search by status, user, email, orderNo and date', async (t) => {
  const a = await registerUser(app, 'search-a@example.com')
  const b = await registerUser(app, 'search-b@example.com')
  const paid = await paidCreditsOrder(a.userId)
  const pending = (await call('POST', '/api/orders', b.token, { productId: GOODS, deliveryMethod: 'pickup' })).json().data
  await sql`update orders set created_at = '2026-01-15T10:00:00+08:00' where id = ${pending.id}`
  const q = async (query: string) => (await call('GET', `/api/admin/orders?${query}`, admin.token)).json().data
  t.same(
    (await q(`userId=${a.userId}`)).content.map((o: { id: number }) => o.id),
    [paid.id],
  )
  t.match((await q(`email=${encodeURIComponent('SEARCH-B@example.com')}`)).content, [{ id: pending.id, userId: b.userId }])
  t.equal((await q(`orderNo=${paid.orderNo}`)).totalElements, 1)
  t.ok((await q('status=PAID')).content.every((o: { status: string }) => o.status === 'PAID'))
  t.same(
    (await q('from=2026-01-15&to=2026-01-15')).content.map((o: { id: number }) => o.id),
    [pending.id],
  )
  t.equal((await q('from=2026-01-16&to=2026-01-20')).totalElements, 0)
  t.equal((await q('from=2026-01-15T01:59:59Z&to=2026-01-15T02:00:01Z')).totalElements, 1)
  for (const bad of [
    'status=LOST',
    'from=2026-02-30',
    'from=yesterday',
    'orderNo=%27%20or%201=1',
    'email=nope',
    'from=2026-01-20&to=2026-01-10',
    'userId=x',
  ]) {
    t.equal((await call('GET', `/api/admin/orders?${bad}`, admin.token)).statusCode, 400, bad)
  }
  const detail = await call('GET', `/api/admin/orders/${paid.id}`, admin.token)
  t.match(detail.json().data, { id: paid.id, userId: a.userId, refunds: [] })
  t.equal((await call('GET', '/api/admin/orders/999999', admin.token)).statusCode, 404)
})

t.test('admin refunds: validation, credits clawback (409 when spent, unless forced), events settle pending refunds', async (t) => {
  const { token, userId } = await registerUser(app, 'refund-me@example.com')
  const order = await paidCreditsOrder(userId)
  const refund = (id: number, payload: object, headers: Record<string, string> = {}) =>
    call('POST', `/api/admin/orders/${id}/refund`, admin.token, payload, headers)

  const before = await traces(sql)
  const cases: [number, object, number, string][] = [
    [order.id, {}, 400, 'INVALID_PARAMS'],
    [order.id, { reason: '' }, 400, 'INVALID_PARAMS'],
    [order.id, { reason: 'x', amount: 0 }, 400, 'INVALID_PARAMS'],
    [order.id, { reason: 'x', amount: -10 }, 400, 'INVALID_PARAMS'],
    [order.id, { reason: 'x', amount: 10.001 }, 400, 'INVALID_PARAMS'],
    [order.id, { reason: 'x', amount: 'ten' }, 400, 'INVALID_PARAMS'],
    [order.id, { reason: 'x', amount: 25.01 }, 409, 'REFUND_AMOUNT_EXCEEDED'],
    [999999, { reason: 'x' }, 404, 'ORDER_NOT_FOUND'],
  ]
  for (const [id, payload, status, error] of cases) {
    const r = await refund(id, payload)
    t.equal(r.statusCode, status, JSON.stringify(payload))
    t.equal(r.json().error, error, JSON.stringify(payload))
  }
  const pendingOrder = (await call('POST', '/api/orders', token, { productId: GOODS, deliveryMethod: 'pickup' })).json().data
  const notPaid = await refund(pendingOrder.id, { reason: 'x' })
  t.equal(notPaid.statusCode, 409)
  t.equal(notPaid.json().error, 'ORDER_NOT_REFUNDABLE')
  t.equal((await call('POST', `/api/admin/orders/${order.id}/refund`, token, { reason: 'me' })).statusCode, 403)

  // The buyer spent 400 of the 500 credits: a 10.0 refund needs 200 back → refused, nothing changed.
  await call('POST', '/api/credits/consume', token, { credits: 400, idempotencyKey: 'spend-400' })
  const spentState = await traces(sql)
  const spent = await refund(order.id, { reason: '用户申请', amount: 10 })
  t.equal(spent.statusCode, 409)
  t.equal(spent.json().error, 'CREDITS_ALREADY_SPENT')
  t.same(await traces(sql), spentState, 'refused refund changed nothing')
  t.not(JSON.stringify(before), '', 'validation refusals checked above')

  // Forced: takes what is left (100), never below zero; pay is down so the refund stays PENDING.
  const forced = await refund(order.id, { reason: '强制退款', amount: 10, force: true }, { 'idempotency-key': 'refund-1' })
  t.equal(forced.statusCode, 200, forced.body)
  t.match(forced.json().data.refund, { status: 'PENDING', amount: 10, creditsClawedBack: 100, forced: true, via: 'PROVIDER' })
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 0)
  const refundNo = forced.json().data.refund.refundNo as string
  t.equal(
    (await refund(order.id, { reason: '强制退款', amount: 10, force: true }, { 'idempotency-key': 'refund-1' })).json().data.refund
      .refundNo,
    refundNo,
    'replayed',
  )
  // The pending one holds its amount.
  t.equal((await refund(order.id, { reason: 'x', amount: 15.01 })).json().error, 'REFUND_AMOUNT_EXCEEDED')

  // pay's REFUND_SUCCEEDED event settles it (signed, idempotent, checked against the refund).
  const event = (over: object = {}) => ({
    eventId: randomUUID(),
    type: 'REFUND_SUCCEEDED',
    orderId: order.id,
    orderNo: order.orderNo,
    refundNo,
    amount: 1000,
    totalRefunded: 1000,
    provider: 'ALIPAY',
    refundedAt: new Date().toISOString(),
    ...over,
  })
  const send = (e: object) => {
    const text = JSON.stringify(e)
    return app.inject({
      method: 'POST',
      url: '/api/orders/callback',
      payload: text,
      headers: signedHeaders('POST', '/api/orders/callback', text),
    })
  }
  const mismatch = await send(event({ amount: 999 }))
  t.equal(mismatch.statusCode, 409)
  const e1 = event()
  const applied = await send(e1)
  t.equal(applied.statusCode, 200, applied.body)
  t.equal(applied.json().data.outcome, 'REFUNDED')
  t.equal((await send(e1)).json().data.outcome, 'DUPLICATE')
  t.equal((await send(event())).json().data.outcome, 'ALREADY_APPLIED')
  const detail = (await call('GET', `/api/admin/orders/${order.id}`, admin.token)).json().data
  t.match(detail, {
    status: 'PARTIALLY_REFUNDED',
    refundedAmount: 10,
    refunds: [{ refundNo, status: 'SUCCEEDED', creditsClawedBack: 100 }],
  })
  const ledger = (await call('GET', '/api/credits/ledger', token)).json().data.content
  t.match(ledger[0], { type: 'REFUND', delta: -100, balanceAfter: 0, orderId: order.id })
  const [sum] = await sql`select sum(delta)::int as s from credit_ledger where user_id = ${userId}`
  t.equal(sum!.s, 0, 'ledger sums to the balance')
})

t.test('admin refund of a goods order paid with credits: credits go back at once, in proportion', async (t) => {
  const { token, userId } = await registerUser(app, 'goods-refund@example.com')
  await giveCredits(sql, userId, 2000)
  const order = (await call('POST', '/api/orders', token, { productId: GOODS, deliveryMethod: 'pickup' })).json().data
  t.equal((await call('POST', `/api/orders/${order.id}/pay`, token, { method: 'CREDITS' })).statusCode, 200)
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 90) // 2000 − 1910
  const part = await call('POST', `/api/admin/orders/${order.id}/refund`, admin.token, { reason: '少发一件配件', amount: 19.1 })
  t.equal(part.statusCode, 200, part.body)
  t.match(part.json().data, {
    refund: { status: 'SUCCEEDED', via: 'CREDITS', creditsReturned: 382 },
    order: { status: 'PARTIALLY_REFUNDED', refundedAmount: 19.1 },
  })
  const rest = await call('POST', `/api/admin/orders/${order.id}/refund`, admin.token, { reason: '整单退款' })
  t.match(rest.json().data, {
    refund: { status: 'SUCCEEDED', amount: 76.4, creditsReturned: 1528 },
    order: { status: 'REFUNDED', refundedAmount: 95.5 },
  })
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 2000, 'every credit back')
  const third = await call('POST', `/api/admin/orders/${order.id}/refund`, admin.token, { reason: 'again' })
  t.equal(third.statusCode, 409)
  t.equal(third.json().error, 'ORDER_NOT_REFUNDABLE')
})

t.test('admin credit adjustments with a reason; never below zero', async (t) => {
  const { token, userId, email } = await registerUser(app, 'adjust@example.com')
  const plus = await call(
    'POST',
    '/api/admin/credits/adjust',
    admin.token,
    { userId, delta: 300, reason: '补偿' },
    { 'idempotency-key': 'adj-1' },
  )
  t.equal(plus.statusCode, 200, plus.body)
  t.match(plus.json().data, { balance: 300, entry: { type: 'ADJUST', delta: 300, balanceAfter: 300, description: '管理员调整：补偿' } })
  t.equal(
    (
      await call('POST', '/api/admin/credits/adjust', admin.token, { userId, delta: 300, reason: '补偿' }, { 'idempotency-key': 'adj-1' })
    ).json().data.balance,
    300,
    'replayed once',
  )
  const minus = await call('POST', '/api/admin/credits/adjust', admin.token, { email, delta: -100, reason: '误发' })
  t.equal(minus.json().data.balance, 200)
  const before = await traces(sql)
  for (const [payload, status, error] of [
    [{ userId, delta: -201, reason: '太多' }, 409, 'INSUFFICIENT_CREDITS'],
    [{ userId, delta: 0, reason: 'x' }, 400, 'INVALID_PARAMS'],
    [{ userId, delta: 10 }, 400, 'INVALID_PARAMS'],
    [{ userId, delta: 10, reason: '   ' }, 400, 'INVALID_PARAMS'],
    [{ delta: 10, reason: 'x' }, 400, 'INVALID_PARAMS'],
    [{ userId, delta: 1.5, reason: 'x' }, 400, 'INVALID_PARAMS'],
    [{ userId: 999999, delta: 10, reason: 'x' }, 404, 'USER_NOT_FOUND'],
    [{ email: 'ghost@example.com', delta: 10, reason: 'x' }, 404, 'USER_NOT_FOUND'],
  ] as const) {
    const r = await call('POST', '/api/admin/credits/adjust', admin.token, payload)
    t.equal(r.statusCode, status, JSON.stringify(payload))
    t.equal(r.json().error, error)
  }
  t.same(await traces(sql), before)
  t.equal((await call('GET', '/api/credits/balance', token)).json().data.balance, 200)
  t.match((await call('GET', `/api/admin/users/${userId}`, admin.token)).json().data, { email, creditBalance: 200 })
})

t.test('shipping: PENDING → SHIPPED → DELIVERED only forward, for paid goods orders', async (t) => {
  const { token, userId } = await registerUser(app, 'ship@example.com')
  await giveCredits(sql, userId, 5000)
  const order = (
    await call('POST', '/api/orders', token, { productId: GOODS, deliveryMethod: 'express', address: '杭州市西湖区1号' })
  ).json().data
  const ship = (status: string, extra: object = {}, id = order.id) =>
    call('POST', `/api/admin/orders/${id}/shipping`, admin.token, { deliveryStatus: status, ...extra })
  const unpaid = await ship('SHIPPED')
  t.equal(unpaid.statusCode, 409)
  t.equal(unpaid.json().error, 'INVALID_DELIVERY_TRANSITION')
  await call('POST', `/api/orders/${order.id}/pay`, token, { method: 'CREDITS' })
  t.equal((await ship('PENDING')).statusCode, 409, 'not a move')
  const shipped = await ship('SHIPPED', { trackingNo: 'SF1234567890' })
  t.equal(shipped.statusCode, 200, shipped.body)
  t.match(shipped.json().data, { deliveryStatus: 'SHIPPED', delivery: { status: 'SHIPPED', trackingNo: 'SF1234567890' } })
  t.ok(shipped.json().data.delivery.shippedAt)
  const back = await ship('PENDING')
  t.equal(back.statusCode, 409)
  t.equal(back.json().error, 'INVALID_DELIVERY_TRANSITION')
  t.equal((await ship('SHIPPED')).statusCode, 409, 'not twice')
  const delivered = await call('PATCH', `/api/admin/orders/${order.id}/shipping`, admin.token, { deliveryStatus: 'DELIVERED' })
  t.match(delivered.json().data, { deliveryStatus: 'DELIVERED', delivery: { trackingNo: 'SF1234567890' } })
  t.equal((await ship('SHIPPED')).statusCode, 409, 'never backward')
  // The owner sees it.
  t.equal((await call('GET', `/api/orders/${order.id}`, token)).json().data.deliveryStatus, 'DELIVERED')
  // Credits orders have no shipping; bad input is 400; unknown 404; users 403.
  const creditsOrder = await paidCreditsOrder(userId)
  const notGoods = await ship('SHIPPED', {}, creditsOrder.id)
  t.equal(notGoods.statusCode, 422)
  t.equal(notGoods.json().error, 'NOT_GOODS_ORDER')
  t.equal((await ship('LOST')).statusCode, 400)
  t.equal((await ship('SHIPPED', { trackingNo: '<x>' })).statusCode, 400)
  t.equal((await ship('SHIPPED', {}, 999999)).statusCode, 404)
  t.equal((await call('POST', `/api/admin/orders/${order.id}/shipping`, token, { deliveryStatus: 'DELIVERED' })).statusCode, 403)
  // Concurrent moves: exactly one wins.
  const o2 = (await call('POST', '/api/orders', token, { productId: GOODS, deliveryMethod: 'pickup' })).json().data
  await call('POST', `/api/orders/${o2.id}/pay`, token, { method: 'CREDITS' })
  const race = await Promise.all(Array.from({ length: 5 }, () => ship('SHIPPED', {}, o2.id)))
  t.equal(race.filter((r) => r.statusCode === 200).length, 1)
})

t.test('daily stats: orders, revenue, refunds, credits sold (China days)', async (t) => {
  const { userId } = await registerUser(app, 'stats@example.com')
  const o = await paidCreditsOrder(userId, 4900, 1000)
  await sql`update orders set paid_at = '2026-03-10T23:30:00+08:00', created_at = '2026-03-10T23:00:00+08:00' where id = ${o.id}`
  const r = await call('GET', '/api/admin/stats/daily?from=2026-03-09&to=2026-03-11', admin.token)
  t.equal(r.statusCode, 200, r.body)
  const d = r.json().data
  t.match(d, { from: '2026-03-09', to: '2026-03-11', timezone: 'Asia/Shanghai' })
  t.same(
    d.days.map((x: { date: string }) => x.date),
    ['2026-03-09', '2026-03-10', '2026-03-11'],
  )
  t.match(d.days[1], { ordersCreated: 1, ordersPaid: 1, revenue: 49, refunded: 0, netRevenue: 49, creditsSold: 1000 })
  t.match(d.days[0], { ordersCreated: 0, ordersPaid: 0, revenue: 0, creditsSold: 0 })
  t.match(d.totals, { ordersPaid: 1, revenue: 49, creditsSold: 1000 })
  const today = (await call('GET', '/api/admin/stats/daily', admin.token)).json().data
  t.equal(today.days.length, 7, 'last 7 days by default')
  // Every order this file created in the last 7 China days, counted in the database.
  const [recent] = await sql<{ n: number }[]>`
    select count(*)::int as n from orders
    where created_at >= (((now() at time zone 'Asia/Shanghai')::date - 6)::timestamp at time zone 'Asia/Shanghai')`
  t.ok(recent!.n > 0, 'orders were created this week')
  t.equal(today.totals.ordersCreated, recent!.n, `the week's orders created (${recent!.n})`)
  for (const bad of ['from=2026-03-12&to=2026-03-11', 'from=2026-13-01', 'from=2024-01-01&to=2026-01-01', 'to=tomorrow']) {
    t.equal((await call('GET', `/api/admin/stats/daily?${bad}`, admin.token)).statusCode, 400, bad)
  }
})

t.test('the admin CLI creates or promotes the first admin', async (t) => {
  const url = main.config.databaseUrl
  const created = await createAdmin(url, 'Root@Example.com', 'cli-password-1')
  t.equal(created.created, true)
  const login = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email: 'root@example.com', password: 'cli-password-1' },
  })
  t.equal(login.json().data.user.role, 'admin')
  t.equal((await call('GET', '/api/admin/orders', login.json().data.token)).statusCode, 200)
  const { email } = await registerUser(app, 'promote-me@example.com')
  const promoted = await createAdmin(url, email, 'ignored-password')
  t.equal(promoted.created, false)
  const [u] = await sql`select role from users where email = ${email}`
  t.equal(u!.role, 'admin')
  await t.rejects(createAdmin(url, 'not-an-email', 'password123'))
  await t.rejects(createAdmin(url, 'x@example.com', 'short'))
})
