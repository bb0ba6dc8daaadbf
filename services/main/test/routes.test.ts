import t from 'tap'
import { randomUUID } from 'node:crypto'
import { newOrderNo } from '../src/orders/order-no.ts'
import { signedHeaders, startMain, SERVICE_KEY } from './helpers.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app, sql } = main

async function register(email: string, password = 'password123') {
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email, password, name: email.split('@')[0] } })
  return { res, token: res.json().data?.token as string, userId: res.json().data?.user?.id as number }
}
/** A signed service call to `url`, as pay makes it (`headers` replaces the signature, for the refusals). */
function signedPost(url: string, body: unknown, headers?: Record<string, string>) {
  const text = JSON.stringify(body)
  return app.inject({ method: 'POST', url, payload: text, headers: headers ?? signedHeaders('POST', url, text) })
}
const auth = (token: string) => ({ authorization: `Bearer ${token}` })
async function counts() {
  const [r] = await sql`select (select count(*)::int from orders) as orders, (select count(*)::int from users) as users,
    (select count(*)::int from credit_ledger) as ledger, (select coalesce(sum(credit_balance),0)::int from users) as balance`
  return r
}
async function insertOrder(userId: number, amountFen = 2500, credits = 500, kind: 'credits' | 'goods' = 'credits') {
  const [p] = await sql`select id from products where package_code = 'CREDITS_500'`
  const [o] =
    await sql`insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, amount_fen, expire_at, customer_email)
    values (${newOrderNo()}, ${userId}, ${p!.id}, ${kind}, 'CREDITS_500', '标准套餐', ${credits}, ${amountFen}, now() + interval '30 minutes', 'x@example.com')
    returning id, order_no as "orderNo"`
  return o as { id: number; orderNo: string }
}

t.test('packages answer seed 000 exactly', async (t) => {
  const res = await app.inject('/api/credits/packages')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.code, 200)
  t.equal(body.message, '获取积分套餐成功')
  t.type(body.timestamp, 'number')
  t.same(
    body.data.map((p: { packageCode: string }) => p.packageCode),
    ['CREDITS_200', 'CREDITS_500', 'CREDITS_1000', 'CREDITS_CUSTOM'],
  )
  t.match(body.data[1], {
    id: 2,
    packageCode: 'CREDITS_500',
    packageName: '标准套餐',
    packageDescription: '最受欢迎的选择',
    credits: 500,
    originalPrice: 25,
    currentPrice: 25,
    discount: 0,
    packageType: 'STANDARD',
    isActive: true,
    displayOrder: 2,
    features: ['500积分', '适用于所有AI服务', '永不过期', '性价比最高'],
    costPerCredit: 0.05,
    recommendedFor: '中度使用用户',
    isPopular: true,
  })
  t.equal(body.data[2].costPerCredit, 0.049)
  t.match(body.data[3], { packageType: 'CUSTOM', minCredits: 100, maxCredits: 10000, costPerCredit: 0.05, currentPrice: 0 })
  const one = await app.inject('/api/credits/packages/CREDITS_1000')
  t.equal(one.json().data.currentPrice, 49)
  const missing = await app.inject('/api/credits/packages/NOPE')
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'PACKAGE_NOT_FOUND')
  t.equal((await app.inject('/api/credits/packages/%27%3B%20drop')).statusCode, 400)
})

t.test('register, login and tokens', async (t) => {
  const { res, token } = await register('alice@example.com')
  t.equal(res.statusCode, 200)
  t.ok(token)
  t.equal(res.json().data.user.email, 'alice@example.com')
  t.notOk(JSON.stringify(res.json()).includes('password'), 'no password hash in the answer')
  const dup = await register('ALICE@example.com')
  t.equal(dup.res.statusCode, 409)
  t.equal(dup.res.json().error, 'EMAIL_TAKEN')
  const bad = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email: 'alice@example.com', password: 'wrong-password' },
  })
  t.equal(bad.statusCode, 401)
  t.equal(bad.json().error, 'INVALID_CREDENTIALS')
  const good = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email: 'alice@example.com', password: 'password123' },
  })
  t.equal(good.statusCode, 200)
  const me = await app.inject({ url: '/api/users/me', headers: auth(good.json().data.token) })
  t.equal(me.json().data.creditBalance, 0)
  t.equal((await app.inject('/api/credits/balance')).statusCode, 401)
  t.equal((await app.inject({ url: '/api/credits/balance', headers: auth('garbage') })).json().error, 'UNAUTHORIZED')
  // alg:none token is refused
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1","email":"a","role":"admin"}').toString('base64url')}.`
  t.equal((await app.inject({ url: '/api/credits/balance', headers: auth(none) })).statusCode, 401)
  for (const payload of [{}, { email: 'not-an-email', password: 'password123' }, { email: 'a@b.co', password: 'short' }, 'nonsense']) {
    const r = await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: payload as object,
      headers: { 'content-type': 'application/json' },
    })
    t.equal(r.statusCode, 400, `register rejects ${JSON.stringify(payload)}`)
  }
})

t.test('purchase validates everything before writing anything', async (t) => {
  const { token } = await register('bob@example.com')
  const before = await counts()
  const cases: [object, number, string][] = [
    [{ packageCode: 'CREDITS_CUSTOM', paymentMethod: 'ALIPAY', customCredits: 99 }, 422, 'CUSTOM_CREDITS_OUT_OF_RANGE'],
    [{ packageCode: 'CREDITS_CUSTOM', paymentMethod: 'ALIPAY', customCredits: 10001 }, 422, 'CUSTOM_CREDITS_OUT_OF_RANGE'],
    [{ packageCode: 'CREDITS_CUSTOM', paymentMethod: 'ALIPAY', customCredits: 150.5 }, 400, 'INVALID_PARAMS'],
    [{ packageCode: 'CREDITS_CUSTOM', paymentMethod: 'ALIPAY' }, 400, 'INVALID_PARAMS'],
    [{ packageCode: 'CREDITS_404', paymentMethod: 'ALIPAY' }, 404, 'PACKAGE_NOT_FOUND'],
    // Methods and channels are pay's (main keeps no provider list): with pay down they cannot be checked,
    // and nothing is written. Checked against pay's list in pay-methods.test.ts and the e2e suite.
    [{ packageCode: 'CREDITS_500', paymentMethod: 'DOGECOIN' }, 503, 'PAY_SERVICE_UNAVAILABLE'],
    [{ packageCode: 'CREDITS_500', paymentMethod: 'WECHAT_PAY', channel: 'page' }, 503, 'PAY_SERVICE_UNAVAILABLE'],
    [{ packageCode: 'CREDITS_500', paymentMethod: 'WECHAT_PAY' }, 503, 'PAY_SERVICE_UNAVAILABLE'],
    [{ packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', channel: 'telepathy' }, 503, 'PAY_SERVICE_UNAVAILABLE'],
    [{ packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', device: 'toaster' }, 400, 'INVALID_PARAMS'],
    [{ packageCode: 'CREDITS_500' }, 400, 'INVALID_PARAMS'],
  ]
  for (const [payload, status, error] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/credits/purchase', payload, headers: auth(token) })
    t.equal(res.statusCode, status, JSON.stringify(payload))
    t.equal(res.json().error, error)
  }
  const guestNoEmail = await app.inject({
    method: 'POST',
    url: '/api/credits/purchase',
    payload: { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY' },
  })
  t.equal(guestNoEmail.statusCode, 400)
  const badToken = await app.inject({
    method: 'POST',
    url: '/api/credits/purchase',
    headers: auth('x.y.z'),
    payload: { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY' },
  })
  t.equal(badToken.statusCode, 401)
  t.same(await counts(), before, 'no bad input left a trace')
})

t.test('pay down: purchase is a 503, payment-status answers the local state', async (t) => {
  const { token } = await register('carol@example.com')
  const res = await app.inject({
    method: 'POST',
    url: '/api/credits/purchase',
    headers: auth(token),
    payload: { packageCode: 'CREDITS_200', paymentMethod: 'alipay' },
  })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'PAY_SERVICE_UNAVAILABLE')
  const [none] = await sql`select count(*)::int as n from orders where customer_email = 'carol@example.com'`
  t.equal(none!.n, 0, 'pay down before anything was written: no order left behind')
  const me = (await app.inject({ url: '/api/users/me', headers: auth(token) })).json().data
  const order = await insertOrder(me.id, 1000, 200)
  await sql`update orders set payment_id = 'p1' where id = ${order.id}`
  const st = await app.inject({ url: `/api/orders/${order!.id}/payment-status`, headers: auth(token) })
  t.equal(st.statusCode, 200)
  t.match(st.json().data, { status: 'PENDING', paid: false })
})

t.test('callback from pay: signed, idempotent, grants once', async (t) => {
  const { token, userId } = await register('dave@example.com')
  const order = await insertOrder(userId)
  const event = (eventId = randomUUID()) => ({
    eventId,
    type: 'PAYMENT_SUCCEEDED',
    orderId: order.id,
    orderNo: order.orderNo,
    amount: 2500,
    provider: 'ALIPAY',
    channel: 'page',
    tradeNo: '2026112222001',
    paidAt: new Date().toISOString(),
  })
  const send = (body: object, headers?: Record<string, string>) => signedPost('/api/orders/callback', body, headers)
  // rejections
  const e1 = event()
  const text = JSON.stringify(e1)
  t.equal((await send(e1, { 'content-type': 'application/json' })).statusCode, 401, 'unsigned')
  t.equal(
    (await send(e1, signedHeaders('POST', '/api/orders/callback', text, { id: SERVICE_KEY.id, secret: 'another-secret-0123456789' })))
      .statusCode,
    401,
    'wrong key',
  )
  t.equal(
    (await send(e1, signedHeaders('POST', '/api/orders/callback', text, SERVICE_KEY, Date.now() - 301_000))).statusCode,
    401,
    'expired',
  )
  const tampered = signedHeaders('POST', '/api/orders/callback', text)
  t.equal((await send({ ...e1, amount: 1 }, tampered)).statusCode, 401, 'body changed after signing')
  t.equal((await app.inject({ url: '/api/credits/balance', headers: auth(token) })).json().data.balance, 0)
  const mismatch = await send(event(), undefined)
  t.equal(mismatch.statusCode, 200)
  // wrong amount for another order
  const other = await insertOrder(userId)
  const wrongAmount = await send({ ...event(), orderId: other.id, orderNo: other.orderNo, amount: 1 })
  t.equal(wrongAmount.statusCode, 409)
  t.equal(wrongAmount.json().error, 'AMOUNT_MISMATCH')
  // replay of a valid request (same nonce) is refused
  const ev = event()
  const evText = JSON.stringify(ev)
  const h = signedHeaders('POST', '/api/orders/callback', evText)
  t.equal((await send(ev, h)).statusCode, 200)
  t.equal((await send(ev, h)).statusCode, 401, 'replayed nonce')
  // 10 concurrent distinct events for the same order: one grant
  const results = await Promise.all(Array.from({ length: 10 }, () => send(event())))
  t.ok(results.every((r) => r.statusCode === 200))
  const balance = (await app.inject({ url: '/api/credits/balance', headers: auth(token) })).json().data.balance
  t.equal(balance, 500)
  const ledger = (await app.inject({ url: '/api/credits/ledger', headers: auth(token) })).json().data
  t.equal(ledger.totalElements, 1)
  t.match(ledger.content[0], { type: 'PURCHASE', delta: 500, balanceAfter: 500, orderId: order.id })
  const detail = (await app.inject({ url: `/api/orders/${order.id}`, headers: auth(token) })).json().data
  t.match(detail, { status: 'PAID', creditsGranted: true, latePayment: false, payAmount: 25 })
  // another user cannot read it
  const eve = await register('eve@example.com')
  const stolen = await app.inject({ url: `/api/orders/${order.id}`, headers: auth(eve.token) })
  t.equal(stolen.statusCode, 403)
  t.equal((await app.inject({ url: `/api/orders/${order.orderNo}/payment-status`, headers: auth(eve.token) })).statusCode, 403)
  t.equal((await app.inject({ url: `/api/payment-orders/${order.id}/status`, headers: auth(eve.token) })).statusCode, 403)
  t.equal((await app.inject({ url: `/api/payment-orders/${order.id}/status` })).statusCode, 401)
  const pub = await app.inject({ url: `/api/payment-orders/${order.orderNo}/status` })
  t.match(pub.json().data, { orderId: order.orderNo, status: 'PAID', amount: 25, creditsGranted: true, creditsAmount: 500 })
})

t.test('bulk callback from pay: signed, each event once by event id, a failing event does not hold back the rest', async (t) => {
  const { token, userId } = await register('bulk@example.com')
  const orders = await Promise.all([insertOrder(userId), insertOrder(userId), insertOrder(userId), insertOrder(userId)])
  const event = (o: { id: number; orderNo: string }, over: object = {}) => ({
    eventId: randomUUID(),
    type: 'PAYMENT_SUCCEEDED',
    orderId: o.id,
    orderNo: o.orderNo,
    amount: 2500,
    provider: 'ALIPAY',
    channel: 'page',
    tradeNo: `T${o.id}`,
    paidAt: new Date().toISOString(),
    ...over,
  })
  const send = (body: unknown, headers?: Record<string, string>) => signedPost('/api/orders/callbacks', body, headers)
  const balance = async () => (await app.inject({ url: '/api/credits/balance', headers: auth(token) })).json().data.balance as number
  const [a, b, c, d] = orders as [(typeof orders)[0], (typeof orders)[0], (typeof orders)[0], (typeof orders)[0]]
  const ea = event(a)
  // The signature is required, as for the single callback.
  const unsigned = await send({ events: [ea] }, { 'content-type': 'application/json' })
  t.equal(unsigned.statusCode, 401)
  t.equal(unsigned.json().error, 'SERVICE_AUTH_FAILED')
  const text = JSON.stringify({ events: [ea] })
  t.equal(
    (await send({ events: [event(b)] }, signedHeaders('POST', '/api/orders/callbacks', text))).statusCode,
    401,
    'body changed after signing',
  )
  t.equal(await balance(), 0, 'nothing applied')
  // Bad bulk input: a clear 400 with a stable code, nothing applied.
  for (const bad of [{}, { events: [] }, { events: 'x' }, { events: [{ type: 'PAYMENT_SUCCEEDED' }] }, { events: [ea], more: 1 }, [ea]]) {
    const r = await send(bad)
    t.equal(r.statusCode, 400, JSON.stringify(bad).slice(0, 60))
    t.equal(r.json().error, 'INVALID_PARAMS')
  }
  t.equal((await send({ events: Array.from({ length: 201 }, () => event(a)) })).statusCode, 400, 'more than the batch maximum')
  t.equal(await balance(), 0)

  // One call: a good event, the same event again, a malformed one, one for an unknown order, one with the wrong amount, another good one.
  const eb = event(b)
  const malformed = { ...event(c), amount: 'lots' }
  const unknown = event({ id: 999_999, orderNo: 'NO-SUCH-ORDER' })
  const wrong = event(c, { amount: 1 })
  const r = await send({ events: [ea, ea, malformed, unknown, wrong, eb] })
  t.equal(r.statusCode, 200)
  const results = r.json().data.results as Array<{ eventId: string; outcome?: string; status?: number; error?: string }>
  t.same(
    results.map((x) => x.eventId),
    [ea, ea, malformed, unknown, wrong, eb].map((e) => e.eventId),
    'one answer per event, in order',
  )
  t.same(results.map((x) => x.outcome ?? null).filter((o) => o === 'PAID').length, 2, 'a and b applied')
  t.same(
    results
      .filter((x) => x.eventId === ea.eventId)
      .map((x) => x.outcome)
      .sort(),
    ['DUPLICATE', 'PAID'],
    'the same event id twice in one call: applied once',
  )
  t.match(results[2], { status: 400, error: 'INVALID_PARAMS' })
  t.match(results[3], { status: 404, error: 'ORDER_NOT_FOUND' })
  t.match(results[4], { status: 409, error: 'AMOUNT_MISMATCH' })
  t.match(results[5], { eventId: eb.eventId, outcome: 'PAID' })
  t.equal(await balance(), 1000, 'two orders credited, once each')

  // Redelivered (pay retries what failed, and a lost answer makes it resend everything): applied events are DUPLICATE.
  const again = await send({ events: [ea, eb, event(c), event(d)] })
  t.same(
    (again.json().data.results as Array<{ outcome?: string }>).map((x) => x.outcome),
    ['DUPLICATE', 'DUPLICATE', 'PAID', 'PAID'],
  )
  // Many calls racing with the same events: each order credited once.
  const race = [event(a), event(b), event(c), event(d)]
  const all = await Promise.all(Array.from({ length: 6 }, () => send({ events: race })))
  t.ok(all.every((x) => x.statusCode === 200))
  t.equal(await balance(), 2000)
  const [rows] = await sql`select count(*)::int as n from credit_ledger where user_id = ${userId} and type = 'PURCHASE'`
  t.equal(rows!.n, 4, 'one PURCHASE row per order')
  const [processed] = await sql`select count(*)::int as n from processed_events where event_id = ${ea.eventId}`
  t.equal(processed!.n, 1)

  // A buyer's payments in one call are applied in one transaction (its row locked once), each credited once.
  const [e, f] = await Promise.all([insertOrder(userId), insertOrder(userId)])
  const together = await send({ events: [event(e!), event(f!)] })
  t.same(
    (together.json().data.results as Array<{ outcome?: string }>).map((x) => x.outcome),
    ['PAID', 'PAID'],
  )
  t.equal(await balance(), 3000)
  const [tx] =
    await sql`select count(distinct xmin::text)::int as n, count(*)::int as rows from credit_ledger where order_id in (${e!.id}, ${f!.id})`
  t.same(tx, { n: 1, rows: 2 }, 'two PURCHASE rows written by one transaction')

  // Set-wise, as in turn: each PURCHASE row carries the balance after it, in the order of the call; payments of
  // the group that cannot apply (another amount, no such order) are answered alone and the others still apply.
  const [g, h, i, j] = await Promise.all([
    insertOrder(userId, 2500, 300),
    insertOrder(userId, 2500, 100),
    insertOrder(userId, 2500, 200),
    insertOrder(userId, 2500, 700),
  ])
  const nowhere = event({ id: 999_998, orderNo: 'NO-SUCH-ORDER-2' })
  const mixed = await send({ events: [event(g!), event(h!), event(j!, { amount: 99 }), nowhere, event(i!)] })
  t.same(
    (mixed.json().data.results as Array<{ outcome?: string; error?: string }>).map((x) => x.outcome ?? x.error),
    ['PAID', 'PAID', 'AMOUNT_MISMATCH', 'ORDER_NOT_FOUND', 'PAID'],
  )
  t.equal(await balance(), 3600)
  const ledger = await sql<{ orderId: number; delta: number; after: number }[]>`
    select order_id as "orderId", delta::int, balance_after::int as after from credit_ledger
     where order_id in (${g!.id}, ${h!.id}, ${i!.id}, ${j!.id}) order by id`
  t.same(
    ledger.map((l) => [l.orderId, l.delta, l.after]),
    [
      [g!.id, 300, 3300],
      [h!.id, 100, 3400],
      [i!.id, 200, 3600],
    ],
    'running balances in the order of the events',
  )
  t.equal((await sql`select status from orders where id = ${j!.id}`)[0]!.status, 'PENDING_PAYMENT', 'the other amount changed nothing')
  // Other events (new ids: another trade) for orders paid already: acknowledged as such, nothing changed. Goods
  // orders, whose payment grants no credits (no ledger row whose uniqueness would stop a second payment).
  const [k, l] = await Promise.all([insertOrder(userId, 2500, 0, 'goods'), insertOrder(userId, 2500, 0, 'goods')])
  t.same(
    ((await send({ events: [event(k!), event(l!)] })).json().data.results as Array<{ outcome?: string }>).map((x) => x.outcome),
    ['PAID', 'PAID'],
  )
  const later = await send({ events: [event(k!, { tradeNo: 'T-other-1' }), event(l!, { tradeNo: 'T-other-2' })] })
  t.same(
    (later.json().data.results as Array<{ outcome?: string }>).map((x) => x.outcome),
    ['ALREADY_PAID', 'ALREADY_PAID'],
  )
  t.equal(await balance(), 3600, 'goods grant no credits')
  t.equal((await sql`select trade_no from orders where id = ${k!.id}`)[0]!.trade_no, `T${k!.id}`, 'the recorded trade is kept')

  // Several buyers' payments in one delivery: one transaction, each buyer credited with theirs.
  const other = await register('bulk-other@example.com')
  const [m, n] = await Promise.all([insertOrder(userId, 2500, 50), insertOrder(other.userId, 2500, 70)])
  t.same(
    ((await send({ events: [event(m!), event(n!)] })).json().data.results as Array<{ outcome?: string }>).map((x) => x.outcome),
    ['PAID', 'PAID'],
  )
  t.equal(await balance(), 3650)
  const [both] = await sql`
    select count(distinct xmin::text)::int as n, array_agg(balance_after::int order by balance_after) as after
      from credit_ledger where order_id in (${m!.id}, ${n!.id})`
  t.same(both, { n: 1, after: [70, 3650] }, "one transaction, each buyer's balance")
})

t.test('a payment for a cancelled order is not lost', async (t) => {
  const { token, userId } = await register('frank@example.com')
  const order = await insertOrder(userId, 1000, 200)
  await sql`update orders set status = 'CANCELLED' where id = ${order.id}`
  const e = {
    eventId: randomUUID(),
    type: 'PAYMENT_SUCCEEDED',
    orderId: order.id,
    orderNo: order.orderNo,
    amount: 1000,
    provider: 'ALIPAY',
    channel: 'qr',
    tradeNo: 'T1',
    paidAt: new Date().toISOString(),
  }
  const text = JSON.stringify(e)
  const res = await app.inject({
    method: 'POST',
    url: '/api/orders/callback',
    payload: text,
    headers: signedHeaders('POST', '/api/orders/callback', text),
  })
  t.equal(res.statusCode, 200)
  const detail = (await app.inject({ url: `/api/orders/${order.id}`, headers: auth(token) })).json().data
  t.match(detail, { status: 'PAID', latePayment: true, creditsGranted: true })
  t.equal((await app.inject({ url: '/api/credits/balance', headers: auth(token) })).json().data.balance, 200)
})

t.test('bad ids and unknown routes are clean 4xx', async (t) => {
  const { token } = await register('gina@example.com')
  t.equal((await app.inject({ url: '/api/orders/abc', headers: auth(token) })).statusCode, 400)
  t.equal((await app.inject({ url: '/api/orders/999999', headers: auth(token) })).statusCode, 404)
  t.equal((await app.inject({ url: '/api/orders/99999999999999999999', headers: auth(token) })).statusCode, 400)
  t.equal((await app.inject({ url: '/api/nothing' })).statusCode, 404)
  const huge = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: JSON.stringify({ email: 'a'.repeat(200_000) }),
    headers: { 'content-type': 'application/json' },
  })
  t.equal(huge.statusCode, 413)
  const broken = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: '{"email":',
    headers: { 'content-type': 'application/json' },
  })
  t.equal(broken.statusCode, 400)
  t.notOk(broken.body.includes('at '), 'no stack trace')
})

t.test("an admin reads another user's order only while the database still says admin", async (t) => {
  const owner = await register('idor-owner@example.com')
  const admin = await register('idor-admin@example.com')
  const order = await insertOrder(owner.userId)
  await sql`update users set role = 'admin' where id = ${admin.userId}`
  // The token was issued while the account was a user: the claim says user, the database says admin.
  t.equal((await app.inject({ url: `/api/orders/${order.id}`, headers: auth(admin.token) })).statusCode, 200)
  const adminToken = app.signToken({ id: admin.userId, email: 'idor-admin@example.com', role: 'admin' })
  t.equal((await app.inject({ url: `/api/orders/${order.id}`, headers: auth(adminToken) })).statusCode, 200)
  await sql`update users set role = 'user' where id = ${admin.userId}`
  const demoted = await app.inject({ url: `/api/orders/${order.id}`, headers: auth(adminToken) })
  t.equal(demoted.statusCode, 403, 'a demoted admin with an unexpired admin token is refused')
  t.equal(demoted.json().error, 'FORBIDDEN')
  t.equal((await app.inject({ url: `/api/orders/${order.id}`, headers: auth(owner.token) })).statusCode, 200, 'the owner still reads it')
})
