/**
 * Seed 004's dialect in-process (pay is down here): every answer under /api/v1/payment is `{data}` or `{error}`,
 * never the core envelope; the callback needs a service signature; pay being down is a clear 503, and the parts
 * that need no pay still work. The paid flows run end to end in test/e2e/seed-004.test.ts.
 */
import t from 'tap'
import { bearer, registerUser, signedHeaders, startMain, traces } from './helpers.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app } = main
const alice = await registerUser(app, 'alice-v1@example.com')
const bob = await registerUser(app, 'bob-v1@example.com')
const goods = (await app.inject({ method: 'GET', url: '/api/products?kind=goods' })).json().data.content[0].id as number
const made = await app.inject({
  method: 'POST',
  url: '/api/orders',
  headers: bearer(alice.token),
  payload: { productId: goods, deliveryMethod: 'express', deliveryAddress: '北京市海淀区中关村123号' },
})
const orderNo = made.json().data.orderNo as string

const v1 = (
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  o: { token?: string; payload?: object; headers?: Record<string, string> } = {},
) =>
  app.inject({
    method,
    url: `/api/v1/payment${path}`,
    headers: { ...(o.token ? bearer(o.token) : {}), ...o.headers },
    ...(o.payload ? { payload: o.payload } : {}),
  })

t.test('errors are {error} with the document’s status codes, never the envelope', async (t) => {
  const cases: [string, Awaited<ReturnType<typeof v1>>, number][] = [
    ['no token', await v1('GET', `/${orderNo}/status`), 401],
    ['bad token', await v1('GET', '/history', { token: 'x.y.z' }), 401],
    ["another user's order", await v1('GET', `/${orderNo}/status`, { token: bob.token }), 403],
    ['unknown order', await v1('GET', '/P20240101000000AAAAAAAAAAAAAAAA/status', { token: alice.token }), 404],
    ['not an order number', await v1('DELETE', '/abc', { token: alice.token }), 400],
    ['unknown route under the prefix', await v1('GET', '/nothing/here/at/all', { token: alice.token }), 404],
    ['a malformed URL (refused by the router)', await v1('DELETE', '/%ZZ', { token: alice.token }), 400],
    ['an over-long path parameter (refused by the router)', await v1('GET', `/${'x'.repeat(600)}/status`, { token: alice.token }), 414],
    ['wrong type', await v1('POST', '/create', { token: alice.token, payload: { order_id: 1, payment_method: 'alipay' } }), 400],
    [
      'a client amount',
      await v1('POST', '/create', { token: alice.token, payload: { order_id: orderNo, payment_method: 'alipay', amount: 0.01 } }),
      400,
    ],
    [
      'delivery changed',
      await v1('POST', '/create', {
        token: alice.token,
        payload: { order_id: orderNo, payment_method: 'wallet', delivery_method: 'pickup' },
      }),
      422,
    ],
    [
      'no credits for the wallet',
      await v1('POST', '/create', { token: alice.token, payload: { order_id: orderNo, payment_method: 'wallet' } }),
      409,
    ],
    ['pay down', await v1('POST', '/create', { token: alice.token, payload: { order_id: orderNo, payment_method: 'alipay' } }), 503],
    [
      'unsigned callback',
      await v1('POST', '/callback', { payload: { order_id: orderNo, payment_status: 'success', transaction_id: 'pay_1' } }),
      401,
    ],
  ]
  for (const [name, res, status] of cases) {
    t.equal(res.statusCode, status, `${name}: ${res.body}`)
    t.same(Object.keys(res.json()), ['error'], `${name}: {error}`)
    t.type(res.json().error, 'string')
  }
})

t.test('what needs no pay works with pay down; the signed callback asks pay and credits nothing on its word', async (t) => {
  const fee = await v1('POST', '/calculate_delivery_fee', { payload: { product_id: goods, delivery_method: 'same_day', address: '上海' } })
  t.same(fee.json(), { data: { delivery_fee: 15 } })
  const methods = await v1('GET', `/delivery_methods?product_id=${goods}`)
  t.same(
    methods.json().data.map((m: { id: string }) => m.id),
    ['express', 'pickup', 'same_day'],
  )
  const status = await v1('GET', `/${orderNo}/status`, { token: alice.token })
  t.match(status.json(), {
    data: { order_id: orderNo, status: 'payment_pending', payment_method: null, payment_time: null, total_amount: 105.5 },
  })
  t.same(status.json().data.live, {
    stream_ticket_url: `/api/orders/${orderNo}/stream-ticket`,
    events_url: `/api/orders/${orderNo}/events`,
    ws_url: `/api/orders/${orderNo}/ws`,
  })
  const history = await v1('GET', '/history?limit=5', { token: alice.token })
  t.same(history.json().data, {
    orders: [{ order_id: orderNo, price: 95.5, delivery_fee: 10, payment_method: null, payment_time: null, status: 'payment_pending' }],
    pagination: { total_count: 1, limit: 5, offset: 0 },
  })

  const before = await traces(main.sql)
  const body = JSON.stringify({ order_id: orderNo, payment_status: 'success', transaction_id: 'pay_12345678' })
  const cb = await app.inject({
    method: 'POST',
    url: '/api/v1/payment/callback',
    headers: signedHeaders('POST', '/api/v1/payment/callback', body),
    payload: body,
  })
  t.equal(cb.statusCode, 409, 'genuine, but nothing confirms the payment')
  t.same(Object.keys(cb.json()), ['error'])
  t.same(await traces(main.sql), before, 'nothing changed')
})
