/**
 * Catalogue, delivery, orders (create, list, history, cancel, expiry, pay with credits) and the
 * Idempotency-Key, as route tests with pay down (nothing listens on PAY_URL).
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { newOrderNo } from '../src/orders/order-no.ts'
import { bearer, giveCredits, registerAdmin, registerUser, signedHeaders, startMain, traces } from './helpers.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app, sql } = main

const [goods] = await sql<{ id: number }[]>`select id from products where sku = 'GOODS_GIFT_BOX'`
const GOODS = goods!.id
const [c500] = await sql<{ id: number }[]>`select id from products where package_code = 'CREDITS_500'`
const CREDITS_500 = c500!.id

const post = (url: string, token: string | undefined, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload: payload as object, headers: { ...(token ? bearer(token) : {}), ...headers } })
const get = (url: string, token?: string) => app.inject({ url, headers: token ? bearer(token) : {} })

t.test('products: seed 001 list with skip/limit and kind, detail, 404 and 400', async (t) => {
  const all = await get('/api/products')
  t.equal(all.statusCode, 200)
  const list = all.json().data
  t.match(list, { totalElements: 7, page: 0, size: 20 })
  t.same(
    list.content.map((p: { name: string }) => p.name),
    ['基础套餐', '标准套餐', '高级套餐', '自定义积分', '100积分套餐', '500积分套餐', '定制周边礼盒'],
  )
  t.match(list.content[4], { name: '100积分套餐', description: '购买100积分', credits: 100, price: 9.9, isActive: true, kind: 'credits' })
  t.match(list.content[4].imageUrl, /credits-100\.png$/)
  const page = (await get('/api/products?skip=2&limit=2')).json().data
  t.same(
    page.content.map((p: { name: string }) => p.name),
    ['高级套餐', '自定义积分'],
  )
  t.match(page, { page: 1, size: 2, totalElements: 7, totalPages: 4 })
  t.equal((await get('/api/products/?limit=1')).json().data.content.length, 1, 'seed 001 trailing slash')
  const onlyGoods = (await get('/api/products?kind=goods')).json().data
  t.equal(onlyGoods.totalElements, 1)
  t.match(onlyGoods.content[0], { id: GOODS, kind: 'goods', price: 95.5, deliveryMethods: null })
  const one = await get(`/api/products/${CREDITS_500}`)
  t.match(one.json().data, { id: CREDITS_500, packageCode: 'CREDITS_500', credits: 500, price: 25, sortOrder: 2 })
  t.match((await get('/api/products/4')).json().data, { packageType: 'CUSTOM', minCredits: 100, maxCredits: 10000, unitPrice: 0.05 })

  const missing = await get('/api/products/99999')
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'PRODUCT_NOT_FOUND')
  for (const url of [
    '/api/products/abc',
    '/api/products/0',
    '/api/products?limit=1000',
    '/api/products?kind=shoes',
    '/api/products?skip=-1',
  ]) {
    const r = await get(url)
    t.equal(r.statusCode, 400, url)
    t.equal(r.json().error, 'INVALID_PARAMS')
  }
  // An inactive product is gone from the public catalogue.
  await sql`update products set is_active = false where sku = 'SEED001_CREDITS_100'`
  t.equal((await get('/api/products')).json().data.totalElements, 6)
  const [hidden] = await sql`select id from products where sku = 'SEED001_CREDITS_100'`
  t.equal((await get(`/api/products/${hidden!.id}`)).statusCode, 404)
  await sql`update products set is_active = true where sku = 'SEED001_CREDITS_100'`
})

t.test('delivery methods and fees (seed 004)', async (t) => {
  const all = (await get('/api/delivery-methods')).json().data
  t.same(all, [
    { id: 'express', code: 'express', name: '快递配送', icon: '/images/express.png', baseFee: 10, requiresAddress: true },
    { id: 'pickup', code: 'pickup', name: '自提', icon: '/images/pickup.png', baseFee: 0, requiresAddress: false },
    { id: 'same_day', code: 'same_day', name: '当日达', icon: '/images/same_day.png', baseFee: 15, requiresAddress: true },
  ])
  t.equal((await get(`/api/delivery-methods?productId=${GOODS}`)).json().data.length, 3)
  t.same((await get(`/api/delivery-methods?productId=${CREDITS_500}`)).json().data, [], 'credits need no delivery')
  t.equal((await get('/api/delivery-methods?productId=99999')).json().error, 'PRODUCT_NOT_FOUND')
  t.equal((await get('/api/delivery-methods?productId=x')).statusCode, 400)

  const fee = await post('/api/delivery-fee', undefined, {
    productId: GOODS,
    deliveryMethod: 'express',
    address: '北京市海淀区中关村123号',
  })
  t.equal(fee.statusCode, 200)
  t.same(fee.json().data, {
    productId: GOODS,
    deliveryMethod: 'express',
    deliveryFee: 10,
    quantity: 1,
    price: 95.5,
    itemsAmount: 95.5,
    totalAmount: 105.5,
  })
  const pickup = await post('/api/delivery-fee', undefined, { productId: GOODS, deliveryMethod: 'pickup', quantity: 3 })
  t.match(pickup.json().data, { deliveryFee: 0, itemsAmount: 286.5, totalAmount: 286.5 })
  const cases: [object, number, string][] = [
    [{ productId: GOODS, deliveryMethod: 'express' }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'express', address: '   ' }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'Express!' }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'pickup', quantity: 0 }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'drone' }, 422, 'DELIVERY_METHOD_UNAVAILABLE'],
    [{ productId: CREDITS_500, deliveryMethod: 'express', address: 'x' }, 422, 'DELIVERY_METHOD_UNAVAILABLE'],
    [{ productId: 99999, deliveryMethod: 'express', address: 'x' }, 404, 'PRODUCT_NOT_FOUND'],
  ]
  for (const [payload, status, error] of cases) {
    const r = await post('/api/delivery-fee', undefined, payload)
    t.equal(r.statusCode, status, JSON.stringify(payload))
    t.equal(r.json().error, error)
  }
  // A product limited to some methods offers only those.
  await sql`update products set delivery_methods = '["pickup"]' where id = ${GOODS}`
  t.same(
    (await get(`/api/delivery-methods?productId=${GOODS}`)).json().data.map((m: { code: string }) => m.code),
    ['pickup'],
  )
  t.equal((await post('/api/delivery-fee', undefined, { productId: GOODS, deliveryMethod: 'express', address: 'x' })).statusCode, 422)
  await sql`update products set delivery_methods = null where id = ${GOODS}`
})

t.test('create orders: credits by productId / packageCode / CUSTOM, goods with delivery; the server computes the amount', async (t) => {
  const { token } = await registerUser(app, 'creator@example.com')
  const byId = await post('/api/orders', token, { productId: CREDITS_500, amount: 0.01 })
  t.equal(byId.statusCode, 400, 'a client amount is not accepted at all')
  const a = await post('/api/orders', token, { productId: CREDITS_500 })
  t.equal(a.statusCode, 200, a.body)
  t.match(a.json().data, {
    orderId: a.json().data.id,
    status: 'PENDING_PAYMENT',
    kind: 'credits',
    packageCode: 'CREDITS_500',
    credits: 500,
    amount: 25,
    quantity: 1,
    creditsGranted: false,
  })
  t.match(a.json().data.orderNo, /^P\d{14}[A-Z2-7]{12,}$/)
  t.notOk('delivery' in a.json().data)
  const b = await post('/api/orders/create', token, { packageCode: 'CREDITS_CUSTOM', customCredits: 300 })
  t.match(b.json().data, { credits: 300, amount: 15, productName: '自定义积分 300积分' })
  const c = await post('/api/orders', token, { packageCode: 'CREDITS_200', customCredits: null })
  t.match(c.json().data, { credits: 200, amount: 10 }, 'seed 000 sends customCredits: null')

  const express = await post('/api/orders', token, {
    productId: GOODS,
    quantity: 2,
    deliveryMethod: 'express',
    deliveryAddress: '北京市海淀区中关村123号',
    contactName: '张三',
    contactPhone: '13800000000',
  })
  t.equal(express.statusCode, 200, express.body)
  t.match(express.json().data, {
    kind: 'goods',
    quantity: 2,
    amount: 201, // 95.5 × 2 + 10.0
    deliveryFee: 10,
    deliveryMethod: 'express',
    deliveryAddress: '北京市海淀区中关村123号',
    deliveryStatus: 'PENDING',
    delivery: {
      method: 'express',
      address: '北京市海淀区中关村123号',
      contactName: '张三',
      contactPhone: '13800000000',
      fee: 10,
      status: 'PENDING',
    },
    items: [{ productId: GOODS, quantity: 2, price: 95.5, subtotal: 191 }],
  })
  const pickup = await post('/api/orders', token, { productId: GOODS, deliveryMethod: 'pickup', address: 'ignored for pickup' })
  t.match(pickup.json().data, { amount: 95.5, deliveryFee: 0, deliveryMethod: 'pickup', deliveryAddress: null })
  const [row] =
    await sql`select amount_fen, delivery_fee_fen, unit_price_fen, delivery_status from orders where id = ${express.json().data.id}`
  t.same(row, { amount_fen: 20100, delivery_fee_fen: 1000, unit_price_fen: 9550, delivery_status: 'PENDING' })
})

t.test('create orders: every refusal is a clean 4xx and leaves no trace', async (t) => {
  const { token } = await registerUser(app, 'refused@example.com')
  const before = await traces(sql)
  const cases: [object, number, string][] = [
    [{}, 400, 'INVALID_PARAMS'],
    [{ productId: CREDITS_500, packageCode: 'CREDITS_500' }, 400, 'INVALID_PARAMS'],
    [{ productId: 'one' }, 400, 'INVALID_PARAMS'],
    [{ productId: -1 }, 400, 'INVALID_PARAMS'],
    [{ productId: CREDITS_500, quantity: 2 }, 400, 'INVALID_PARAMS'],
    [{ productId: CREDITS_500, deliveryMethod: 'express' }, 400, 'INVALID_PARAMS'],
    [{ packageCode: 'CREDITS_CUSTOM' }, 400, 'INVALID_PARAMS'],
    [{ packageCode: 'CREDITS_CUSTOM', customCredits: 12.5 }, 400, 'INVALID_PARAMS'],
    [{ packageCode: "x'; drop table orders" }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'express' }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'pickup', quantity: 100 }, 400, 'INVALID_PARAMS'],
    [{ productId: GOODS, deliveryMethod: 'pickup', contactPhone: '<script>' }, 400, 'INVALID_PARAMS'],
    [{ productId: 99999 }, 404, 'PRODUCT_NOT_FOUND'],
    [{ packageCode: 'CREDITS_404' }, 404, 'PACKAGE_NOT_FOUND'],
    [{ packageCode: 'CREDITS_CUSTOM', customCredits: 99 }, 422, 'CUSTOM_CREDITS_OUT_OF_RANGE'],
    [{ packageCode: 'CREDITS_CUSTOM', customCredits: 10001 }, 422, 'CUSTOM_CREDITS_OUT_OF_RANGE'],
    [{ productId: GOODS, deliveryMethod: 'teleport', address: 'x' }, 422, 'DELIVERY_METHOD_UNAVAILABLE'],
  ]
  for (const [payload, status, error] of cases) {
    const r = await post('/api/orders', token, payload)
    t.equal(r.statusCode, status, JSON.stringify(payload))
    t.equal(r.json().error, error, JSON.stringify(payload))
  }
  t.equal((await post('/api/orders', undefined, { productId: CREDITS_500 })).statusCode, 401)
  t.equal((await post('/api/orders', 'not.a.token', { productId: CREDITS_500 })).json().error, 'UNAUTHORIZED')
  const broken = await app.inject({
    method: 'POST',
    url: '/api/orders',
    payload: '{"productId":',
    headers: { ...bearer(token), 'content-type': 'application/json' },
  })
  t.equal(broken.statusCode, 400)
  t.same(await traces(sql), before, 'nothing written')
})

t.test('Idempotency-Key: same key + body replays the first answer; another body is 409; refusals free the key', async (t) => {
  const { token } = await registerUser(app, 'idem@example.com')
  const other = await registerUser(app, 'idem2@example.com')
  const key = randomUUID()
  const body = { productId: GOODS, deliveryMethod: 'pickup', quantity: 1 }
  const first = await post('/api/orders', token, body, { 'idempotency-key': key })
  t.equal(first.statusCode, 200)
  const again = await post('/api/orders', token, { quantity: 1, deliveryMethod: 'pickup', productId: GOODS }, { 'idempotency-key': key })
  t.equal(again.statusCode, 200)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.same(again.json(), first.json(), 'byte-for-byte the first answer (key order does not matter)')
  const [n] = await sql`select count(*)::int as n from orders where customer_email = 'idem@example.com'`
  t.equal(n!.n, 1, 'one order')
  // Ten at once with the same key: still one order, ten identical answers.
  const key2 = randomUUID()
  const burst = await Promise.all(
    Array.from({ length: 10 }, () => post('/api/orders', token, { productId: CREDITS_500 }, { 'idempotency-key': key2 })),
  )
  t.ok(burst.every((r) => r.statusCode === 200))
  t.equal(new Set(burst.map((r) => r.json().data.id)).size, 1)
  const conflict = await post('/api/orders', token, { ...body, quantity: 2 }, { 'idempotency-key': key })
  t.equal(conflict.statusCode, 409)
  t.equal(conflict.json().error, 'IDEMPOTENCY_KEY_REUSED')
  // Keys are per user: the other user's same key is a different request.
  const theirs = await post('/api/orders', other.token, body, { 'idempotency-key': key })
  t.equal(theirs.statusCode, 200)
  t.not(theirs.json().data.id, first.json().data.id)
  // A refused request does not keep the key; the corrected one can use it.
  const before = await traces(sql)
  const key3 = randomUUID()
  const refused = await post('/api/orders', token, { productId: 99999 }, { 'idempotency-key': key3 })
  t.equal(refused.statusCode, 404)
  t.same(await traces(sql), before, 'no key kept, no order')
  t.equal((await post('/api/orders', token, { productId: CREDITS_500 }, { 'idempotency-key': key3 })).statusCode, 200)
  for (const bad of ['', 'x'.repeat(129), 'ключ']) {
    const r = await post('/api/orders', token, body, { 'idempotency-key': bad })
    t.equal(r.statusCode, 400, `key ${JSON.stringify(bad.slice(0, 10))}`)
  }
  // Purchase and pay take it too (pay is down: the 503 is not remembered).
  const k4 = randomUUID()
  const p1 = await post('/api/credits/purchase', token, { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY' }, { 'idempotency-key': k4 })
  t.equal(p1.statusCode, 503)
  const [kept] = await sql`select count(*)::int as n from idempotency_keys where key = ${k4}`
  t.equal(kept!.n, 0)
})

t.test('history: 25 orders page 10 / 10 / 5 newest first; status filter; user A never sees user B', async (t) => {
  const a = await registerUser(app, 'history-a@example.com')
  const b = await registerUser(app, 'history-b@example.com')
  const ids: number[] = []
  for (let i = 0; i < 25; i++) {
    const r = await post('/api/orders', a.token, { productId: CREDITS_500 })
    ids.push(r.json().data.id)
  }
  await post('/api/orders', b.token, { productId: CREDITS_500 })
  // Spread creation times so "newest first" is unambiguous, and settle some statuses.
  for (const [i, id] of ids.entries()) await sql`update orders set created_at = now() - make_interval(mins => ${25 - i}) where id = ${id}`
  await sql`update orders set status = 'CANCELLED' where id = any(${ids.slice(0, 5)})`
  const pages = await Promise.all([0, 1, 2].map((p) => get(`/api/orders?page=${p}&size=10`, a.token)))
  t.same(
    pages.map((p) => p.json().data.content.length),
    [10, 10, 5],
  )
  t.match(pages[0]!.json().data, { totalElements: 25, totalPages: 3, page: 0, size: 10 })
  const seen = pages.flatMap((p) => p.json().data.content.map((o: { id: number }) => o.id))
  t.same(seen, [...ids].reverse(), 'newest first, nothing twice, nothing missing')
  const cancelled = (await get('/api/orders?status=CANCELLED', a.token)).json().data
  t.equal(cancelled.totalElements, 5)
  t.ok(cancelled.content.every((o: { status: string }) => o.status === 'CANCELLED'))
  t.equal((await get('/api/orders?status=PENDING_PAYMENT&skip=0&limit=100', a.token)).json().data.totalElements, 20)
  t.equal((await get('/api/orders?status=BOGUS', a.token)).statusCode, 400)
  t.equal((await get('/api/orders?size=0', a.token)).statusCode, 400)
  t.equal((await get('/api/orders')).statusCode, 401)

  // Seed 000 history by email: the same orders, seed shape.
  const hist = await get(`/api/payment-orders/user/${encodeURIComponent(a.email)}?page=1&size=10`, a.token)
  t.equal(hist.statusCode, 200)
  t.match(hist.json().data, { totalElements: 25, totalPages: 3, page: 1, size: 10 })
  const row = hist.json().data.content[0]
  t.match(row, { id: ids[14], packageName: '标准套餐', credits: 500, amount: 25, status: 'PENDING_PAYMENT', paidAt: null })
  t.equal(row.orderId, row.orderNo, 'seed 000: orderId is the orderNo')
  t.equal((await get(`/api/payment-orders/user/${a.email}?status=CANCELLED`, a.token)).json().data.totalElements, 5)

  // B sees none of A's orders by any route.
  const bList = (await get('/api/orders?size=100', b.token)).json().data
  t.equal(bList.totalElements, 1)
  t.notOk(bList.content.some((o: { id: number }) => ids.includes(o.id)))
  const aOrder = ids[0]!
  const aOrderNo = (await get(`/api/orders/${aOrder}`, a.token)).json().data.orderNo
  for (const [method, url] of [
    ['GET', `/api/orders/${aOrder}`],
    ['GET', `/api/orders/${aOrderNo}`],
    ['GET', `/api/orders/${aOrder}/payment-status`],
    ['GET', `/api/payment-orders/${aOrder}/status`],
    ['GET', `/api/payment-orders/user/${a.email}`],
    ['POST', `/api/orders/${ids[10]}/cancel`],
    ['POST', `/api/orders/${ids[10]}/pay`],
  ] as const) {
    const r = await app.inject({ method, url, headers: bearer(b.token), ...(method === 'POST' ? { payload: { method: 'CREDITS' } } : {}) })
    t.equal(r.statusCode, 403, `${method} ${url}`)
    t.equal(r.json().error, 'FORBIDDEN')
    t.notOk(r.body.includes(aOrderNo) && !url.includes(aOrderNo), 'nothing of the order leaks')
  }
  t.equal((await get(`/api/payment-orders/user/${a.email}`)).statusCode, 401)
  t.equal((await get('/api/payment-orders/user/not-an-email', a.token)).statusCode, 400)
  // An admin may read anyone's history; an unknown email is simply empty for them.
  const admin = await registerAdmin(app, sql, 'history-admin@example.com')
  t.equal((await get(`/api/payment-orders/user/${a.email}`, admin.token)).json().data.totalElements, 25)
  t.equal((await get('/api/payment-orders/user/nobody@example.com', admin.token)).json().data.totalElements, 0)
})

t.test('cancel: an order never sent to pay is cancelled locally; pay down with a payment started is 503; not twice', async (t) => {
  const { token } = await registerUser(app, 'cancel@example.com')
  const o = (await post('/api/orders', token, { productId: CREDITS_500 })).json().data
  const c = await post(`/api/orders/${o.id}/cancel`, token, {})
  t.equal(c.statusCode, 200, c.body)
  t.match(c.json().data, { id: o.id, status: 'CANCELLED' })
  const again = await post(`/api/orders/${o.id}/cancel`, token, {})
  t.equal(again.statusCode, 409)
  t.equal(again.json().error, 'ORDER_NOT_CANCELLABLE')
  t.equal((await post('/api/orders/999999/cancel', token, {})).json().error, 'ORDER_NOT_FOUND')
  t.equal((await post('/api/orders/abc/cancel', token, {})).statusCode, 400)
  t.equal((await post(`/api/orders/${o.id}/cancel`, undefined, {})).statusCode, 401)

  // Purchase while pay was down: the order exists, no payment was recorded as started. Cancel works
  // now, and the sweep is left to close whatever pay may hold.
  const before = await traces(sql)
  const credits = await post('/api/credits/purchase', token, { packageCode: 'CREDITS_500', paymentMethod: 'CREDITS' })
  t.equal(credits.statusCode, 422, 'credits are not bought with credits')
  t.equal(credits.json().error, 'PAYMENT_METHOD_DISABLED')
  t.same(await traces(sql), before)
  const bought = (await post('/api/orders', token, { packageCode: 'CREDITS_200' })).json().data
  // As a purchase leaves it when pay.create's answer was lost: method chosen, no payment id.
  await sql`update orders set payment_method = 'ALIPAY' where id = ${bought.id}`
  const orphan = { id: bought.id as number }
  const c3 = await post(`/api/orders/${orphan.id}/cancel`, token, {})
  t.equal(c3.statusCode, 200, c3.body)
  const [flag] = await sql`select status, trade_close_pending from orders where id = ${orphan.id}`
  t.same(flag, { status: 'CANCELLED', trade_close_pending: true })

  // A payment was started (pay knows the trade) but pay is down: it cannot be closed, so not cancelled.
  const p = (await post('/api/orders', token, { productId: CREDITS_500 })).json().data
  await sql`update orders set payment_id = 'attempt-1', payment_method = 'ALIPAY', payment_channel = 'qr' where id = ${p.id}`
  const down = await post(`/api/orders/${p.id}/cancel`, token, {})
  t.equal(down.statusCode, 503)
  t.equal(down.json().error, 'PAY_SERVICE_UNAVAILABLE')
  t.equal((await get(`/api/orders/${p.id}`, token)).json().data.status, 'PENDING_PAYMENT')
  // A paid order cannot be cancelled.
  await sql`update orders set status = 'PAID', paid_at = now(), paid_amount_fen = amount_fen where id = ${p.id}`
  t.equal((await post(`/api/orders/${p.id}/cancel`, token, {})).json().error, 'ORDER_ALREADY_PAID')
})

t.test('expiry sweep: overdue pending orders become EXPIRED once; trades still to close are remembered while pay is down', async (t) => {
  const { token } = await registerUser(app, 'expiry@example.com')
  const fresh = (await post('/api/orders', token, { productId: CREDITS_500 })).json().data
  const overdue = (await post('/api/orders', token, { productId: CREDITS_500 })).json().data
  const started = (await post('/api/orders', token, { productId: CREDITS_500 })).json().data
  await sql`update orders set expire_at = now() - interval '1 second' where id in (${overdue.id}, ${started.id})`
  await sql`update orders set payment_id = 'attempt-2', payment_method = 'ALIPAY' where id = ${started.id}`
  // Counted from the database, not assumed: earlier tests may have left overdue orders of their own.
  const [due] = await sql<{ n: number }[]>`select count(*)::int as n from orders where status = 'PENDING_PAYMENT' and expire_at <= now()`
  t.ok(due!.n >= 2, `${due!.n} overdue orders, ours among them`)
  const r = await app.deps.sweeper.runOnce()
  t.equal(r.expired, due!.n, 'every overdue order expired by one run')
  const status = async (id: number) => (await get(`/api/orders/${id}`, token)).json().data.status
  t.equal(await status(fresh.id), 'PENDING_PAYMENT')
  t.equal(await status(overdue.id), 'EXPIRED')
  t.equal(await status(started.id), 'EXPIRED')
  const [flags] = await sql`select
    (select trade_close_pending from orders where id = ${overdue.id}) as never_started,
    (select trade_close_pending from orders where id = ${started.id}) as started`
  t.same(flags, { never_started: false, started: true }, 'the started one still needs its trade closed (pay is down)')
  const second = await app.deps.sweeper.runOnce()
  t.equal(second.expired, 0, 'expires once')
  // Concurrent sweeps (several instances) never expire an order twice or fail.
  const more = await Promise.all(Array.from({ length: 5 }, () => post('/api/orders', token, { productId: CREDITS_500 })))
  await sql`update orders set expire_at = now() - interval '1 second' where id = any(${more.map((m) => m.json().data.id)})`
  const results = await Promise.all(Array.from({ length: 4 }, () => app.deps.sweeper.runOnce()))
  t.equal(
    results.reduce((a, x) => a + x.expired, 0),
    5,
  )
  // An expired order cannot be paid, with anything.
  t.equal((await post(`/api/orders/${overdue.id}/pay`, token, { method: 'ALIPAY' })).statusCode, 503, 'pay down answers first')
  const [cfg] = [main.config]
  t.equal(cfg!.orderExpireMinutes, 30, '30 minutes by default')
})

t.test('pay a goods order with CREDITS: balance spent in the same transaction that marks it PAID', async (t) => {
  const { token, userId } = await registerUser(app, 'credits-pay@example.com')
  const order = (await post('/api/orders', token, { productId: GOODS, deliveryMethod: 'express', address: '上海市浦东新区1号' })).json()
    .data
  t.equal(order.amount, 105.5)
  const need = 10550 / 5 // 2110 credits at 0.05 yuan each
  const before = await traces(sql)
  const poor = await post(`/api/orders/${order.id}/pay`, token, { method: 'CREDITS' })
  t.equal(poor.statusCode, 409)
  t.equal(poor.json().error, 'INSUFFICIENT_CREDITS')
  t.same(await traces(sql), before, 'nothing spent, nothing changed')
  t.equal((await post(`/api/orders/${order.id}/pay`, token, { method: 'CREDITS', channel: 'page' })).statusCode, 400)

  await giveCredits(sql, userId, 2500)
  const paid = await post(`/api/orders/${order.id}/pay`, token, { method: 'credits' })
  t.equal(paid.statusCode, 200, paid.body)
  t.match(paid.json().data, {
    orderId: order.id,
    paymentInfo: { paymentMethod: 'CREDITS', payType: 'credits', amount: 105.5, paid: true, creditsSpent: need, balance: 2500 - need },
    order: { status: 'PAID', paymentMethod: 'CREDITS', creditsSpent: need, payAmount: 105.5, deliveryStatus: 'PENDING' },
  })
  const ledger = (await get('/api/credits/ledger', token)).json().data
  t.match(ledger.content[0], { type: 'CONSUME', delta: -need, balanceAfter: 2500 - need, orderId: order.id })
  const again = await post(`/api/orders/${order.id}/pay`, token, { method: 'CREDITS' })
  t.equal(again.statusCode, 409)
  t.equal(again.json().error, 'ORDER_NOT_PAYABLE')
  t.equal((await get('/api/credits/balance', token)).json().data.balance, 2500 - need, 'spent once')

  // Credits orders are not paid with credits.
  const creditsOrder = (await post('/api/orders', token, { productId: CREDITS_500 })).json().data
  const refused = await post(`/api/orders/${creditsOrder.id}/pay`, token, { method: 'CREDITS' })
  t.equal(refused.statusCode, 422)
  t.equal(refused.json().error, 'PAYMENT_METHOD_DISABLED')
  // Pay is down in this suite: a method that is not main's own cannot be checked without pay's list.
  t.equal((await post(`/api/orders/${creditsOrder.id}/pay`, token, { method: 'DOGECOIN' })).statusCode, 503)
  t.equal((await post(`/api/orders/${creditsOrder.id}/pay`, token, {})).statusCode, 400)
  t.equal((await post('/api/orders/999999/pay', token, { method: 'CREDITS' })).statusCode, 404)

  // Racing: two orders, balance for one; concurrent pays spend it once and never go negative.
  const { token: t2, userId: u2 } = await registerUser(app, 'credits-race@example.com')
  const o1 = (await post('/api/orders', t2, { productId: GOODS, deliveryMethod: 'pickup' })).json().data
  const o2 = (await post('/api/orders', t2, { productId: GOODS, deliveryMethod: 'pickup' })).json().data
  await giveCredits(sql, u2, 1910 + 100) // 95.5 yuan = 1910 credits: enough for one
  const race = await Promise.all([o1, o2, o1, o2].map((o) => post(`/api/orders/${o.id}/pay`, t2, { method: 'CREDITS' })))
  t.equal(race.filter((r) => r.statusCode === 200).length, 1)
  t.equal((await get('/api/credits/balance', t2)).json().data.balance, 100)
  const [sum] = await sql`select sum(delta)::int as s from credit_ledger where user_id = ${u2}`
  t.equal(sum!.s, 100, 'the ledger sums to the balance')
})

t.test('PATCH /api/users/me binds (and unbinds) a WeChat openid; bad input 400; 401', async (t) => {
  const { token } = await registerUser(app, 'openid@example.com')
  const patch = (payload: unknown, tok: string | undefined = token) =>
    app.inject({ method: 'PATCH', url: '/api/users/me', payload: payload as object, headers: tok ? bearer(tok) : {} })
  const bound = await patch({ wechatOpenid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' })
  t.equal(bound.statusCode, 200)
  t.equal(bound.json().data.wechatOpenid, 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o')
  t.equal((await get('/api/users/me', token)).json().data.wechatOpenid, 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o')
  const before = await traces(sql)
  for (const bad of [{}, { wechatOpenid: 'a b' }, { wechatOpenid: 'x' }, { role: 'admin' }, { creditBalance: 1000000 }]) {
    const r = await patch(bad)
    t.equal(r.statusCode, 400, JSON.stringify(bad))
    t.equal(r.json().error, 'INVALID_PARAMS')
  }
  t.equal((await patch({ wechatOpenid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' }, '')).statusCode, 401)
  t.same(await traces(sql), before)
  t.equal((await patch({ wechatOpenid: null })).json().data.wechatOpenid, null, 'unbound')
  t.equal((await post('/api/orders/1/pay', undefined, { method: 'CREDITS' })).statusCode, 401)
})

t.test('callback: refund events are signed, matched to a refund, and unknown ones are 404', async (t) => {
  const e = {
    eventId: randomUUID(),
    type: 'REFUND_SUCCEEDED',
    orderId: 1,
    orderNo: newOrderNo(),
    refundNo: 'R20260101000000ABCDEFGHIJKL',
    amount: 100,
    totalRefunded: 100,
    provider: 'ALIPAY',
    refundedAt: new Date().toISOString(),
  }
  const text = JSON.stringify(e)
  const unsigned = await app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    payload: text,
    headers: { 'content-type': 'application/json' },
  })
  t.equal(unsigned.statusCode, 401)
  const r = await app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    payload: text,
    headers: signedHeaders('POST', '/api/orders/callback', text),
  })
  t.equal(r.statusCode, 404)
  t.equal(r.json().error, 'REFUND_NOT_FOUND')
  const bad = JSON.stringify({ ...e, type: 'REFUND_EXPLODED' })
  const r2 = await app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    payload: bad,
    headers: signedHeaders('POST', '/api/orders/callback', bad),
  })
  t.equal(r2.statusCode, 400)
})
