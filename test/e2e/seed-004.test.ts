/**
 * Document 004 (`/api/v1/payment`, `{data}` / `{error}`) served by main as a thin dialect, proved by the
 * document's own integration flow ("使用流程") on the real stack:
 *   1. 创建订单（使用订单API）  2. 创建支付订单（设置支付和配送信息）  3. 根据返回的支付URL进行支付
 *   4. 支付完成后平台接收回调，更新订单状态  5. 前端轮询支付状态或通过WebSocket接收状态更新
 * The client below is the document's (its paths, bodies and answers); only the base URL and the token are ours.
 * The first run talks to the web app's origin (3000 in production), which forwards to main. Step 3 is a browser: it opens `payment_url` and clicks 支付 on the sandbox's Alipay cashier.
 */
import t from 'tap'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { http, startStack, until } from './fixtures/stack.ts'

// With the web app: the five steps run from its origin (it forwards /api/v1/* to main), as a 004 frontend served there would.
const stack = await startStack({ web: true, startTimeoutMs: 600_000 })
t.teardown(() => stack.stop())
const { main, sandbox } = stack
const web = stack.web!.replace('//localhost:', '//127.0.0.1:')

/** Document 004's client: `${BASE_URL}/api/v1/payment…` with a bearer token. */
function client(baseUrl: string, token: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}/api/v1/payment${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: res.status, body: (await res.json()) as any } // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  return {
    create: (b: { order_id: string; payment_method: string; delivery_method?: string; delivery_address?: string }) =>
      call('POST', '/create', b),
    status: (orderId: string) => call('GET', `/${orderId}/status`),
    methods: () => call('GET', '/methods'),
    deliveryMethods: (productId: number) => call('GET', `/delivery_methods?product_id=${productId}`),
    deliveryFee: (b: { product_id: number; delivery_method: string; address: string }) => call('POST', '/calculate_delivery_fee', b),
    history: (limit = 10, offset = 0) => call('GET', `/history?limit=${limit}&offset=${offset}`),
    cancel: (orderId: string) => call('DELETE', `/${orderId}`),
  }
}

let seq = 0
async function newUser() {
  const email = `flix${++seq}-${Date.now()}@example.com`
  const res = await http(`${main}/api/auth/register`, { body: { email, password: 'password123', name: `flix${seq}` } })
  if (res.status !== 200) throw new Error(`register: ${res.text}`)
  return { email, token: res.json.data.token as string, id: res.json.data.user.id as number }
}
/** Step 1: the order API. */
async function orderApi(token: string, body: Record<string, unknown>) {
  const res = await http(`${main}/api/orders`, { token, body })
  if (res.status !== 200) throw new Error(`order API: ${res.text}`)
  return res.json.data as { id: number; orderNo: string; amount: number }
}
/** Step 3, as a browser: open payment_url (the sandbox gateway → its cashier) and click 支付. */
async function payInBrowser(paymentUrl: string) {
  const gw = await http(paymentUrl)
  if (gw.status !== 302) throw new Error(`gateway: ${gw.status} ${gw.text.slice(0, 200)}`)
  const cashierUrl = new URL(String(gw.headers.location), sandbox).toString()
  const cashier = await http(cashierUrl)
  const payForm = /<form[^>]*action=["']([^"']*\/pay)["']/i.exec(cashier.text)
  if (!payForm) throw new Error(`no 支付 form: ${cashier.text.slice(0, 200)}`)
  const paid = await http(new URL(payForm[1]!, cashierUrl).toString(), { method: 'POST', form: {} })
  if (paid.status !== 302) throw new Error(`cashier pay: ${paid.status}`)
}
const core = async (token: string, path: string) => (await http(`${main}${path}`, { token })).json.data
const goodsId = async () => ((await http(`${main}/api/products?kind=goods`)).json.data.content[0].id as number) ?? 0

/** A signed service call, as pay signs its events (packages/service-auth), written out from the protocol. */
function signed(path: string, body: string, secret?: string) {
  const [keyId, keySecret] = stack.env.main.SERVICE_KEYS!.split(',')[0]!.split(/:(.*)/) as [string, string]
  const ts = String(Math.floor(Date.now() / 1000))
  const nonce = randomBytes(16).toString('base64url')
  const hash = createHash('sha256').update(body).digest('hex')
  const sig = createHmac('sha256', secret ?? keySecret)
    .update(`POST\n${path}\n${ts}\n${nonce}\n${hash}`)
    .digest('base64url')
  return { 'x-svc-key-id': keyId, 'x-svc-timestamp': ts, 'x-svc-nonce': nonce, 'x-svc-signature': sig, 'content-type': 'application/json' }
}
const callback = (body: object, headers: Record<string, string> = {}) =>
  fetch(`${main}/api/v1/payment/callback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })

t.test("the document's five steps: a goods order with express delivery, paid with Alipay in the sandbox", async (t) => {
  const buyer = await newUser()
  const api = client(web, buyer.token)
  const productId = await goodsId()

  // Before ordering, the document's helpers: methods, delivery methods, the fee.
  const methods = await api.methods()
  t.equal(methods.status, 200)
  t.same(
    methods.body.data.map((m: { id: string }) => m.id),
    ['alipay', 'wechat', 'card', 'wallet'],
    'every method of the document is enabled in the stack (the sandbox serves each provider)',
  )
  const delivery = await api.deliveryMethods(productId)
  t.same(
    delivery.body.data.map((d: { id: string; base_fee: number }) => [d.id, d.base_fee]),
    [
      ['express', 10],
      ['pickup', 0],
      ['same_day', 15],
    ],
  )
  const fee = await api.deliveryFee({ product_id: productId, delivery_method: 'express', address: '北京市海淀区中关村123号' })
  t.same(fee, { status: 200, body: { data: { delivery_fee: 10 } } })

  // 1. The order API.
  const order = await orderApi(buyer.token, { productId, deliveryMethod: 'express', deliveryAddress: '北京市海淀区中关村123号' })
  t.equal(order.amount, 105.5, "the document's example: 95.5 + express 10")

  // 2. The payment order.
  const created = await api.create({
    order_id: order.orderNo,
    payment_method: 'alipay',
    delivery_method: 'express',
    delivery_address: '北京市海淀区中关村123号',
  })
  t.equal(created.status, 201, JSON.stringify(created.body))
  t.match(created.body.data, { order_id: order.orderNo, amount: 105.5, payment_method: 'alipay', status: 'payment_pending' })
  t.match(created.body.data.payment_url, new RegExp(`^http://localhost:${stack.ports.sandbox}/gateway\\.do\\?`), 'a URL a browser opens')
  const pending = await api.status(order.orderNo)
  t.match(pending.body.data, {
    order_id: order.orderNo,
    status: 'payment_pending',
    payment_method: 'alipay',
    payment_time: null,
    total_amount: 105.5,
  })

  // 3. Pay at the URL.  4. The platform gets the provider's callback (sandbox → pay → main).  5. The frontend polls.
  await payInBrowser(created.body.data.payment_url)
  const paid = await until('004 status paid', async () => {
    const s = await api.status(order.orderNo)
    return s.body.data.status === 'paid' && s.body.data
  })
  t.match(paid, { order_id: order.orderNo, payment_method: 'alipay', total_amount: 105.5 })
  t.ok(Number.isInteger(paid.payment_time) && Math.abs(paid.payment_time - Date.now() / 1000) < 600, 'payment_time in Unix seconds')
  t.same(Object.keys(paid.live).sort(), ['events_url', 'stream_ticket_url', 'ws_url'])

  // 5, the other way: the live stream the status answer points at says paid too.
  const ticket = await http(`${main}${paid.live.stream_ticket_url}`, { method: 'POST', token: buyer.token, body: {} })
  t.equal(ticket.status, 200, ticket.text)
  const ac = new AbortController()
  const sse = await fetch(`${main}${paid.live.events_url}?ticket=${ticket.json.data.ticket}`, { signal: ac.signal })
  const reader = sse.body!.getReader()
  let text = ''
  while (!/"type":"order".*\n\n/s.test(text)) text += new TextDecoder().decode((await reader.read()).value)
  ac.abort()
  t.match(text, /"status":"PAID"/, 'the stream says PAID')

  // In the history and in the core API.
  const history = await api.history()
  t.same(history.body.data.pagination, { total_count: 1, limit: 10, offset: 0 })
  t.same(history.body.data.orders, [
    { order_id: order.orderNo, price: 95.5, delivery_fee: 10, payment_method: 'alipay', payment_time: paid.payment_time, status: 'paid' },
  ])
  t.match(await core(buyer.token, `/api/orders/${order.orderNo}`), { status: 'PAID', payAmount: 105.5, paymentMethod: 'ALIPAY' })
  // Cancel after paying: refused, nothing changes.
  t.match(await api.cancel(order.orderNo), { status: 409, body: { error: String } })
  t.equal((await core(buyer.token, `/api/orders/${order.orderNo}`)).status, 'PAID')
})

t.test('credits bought through 004: credited once (also with a signed 004 callback), in balance and ledger', async (t) => {
  const buyer = await newUser()
  const api = client(main, buyer.token)
  const order = await orderApi(buyer.token, { packageCode: 'CREDITS_CUSTOM', customCredits: 2000 })
  const created = await api.create({ order_id: order.orderNo, payment_method: 'alipay' })
  t.equal(created.status, 201, JSON.stringify(created.body))
  t.equal(created.body.data.amount, 100)

  // A forged or unsigned callback before the payment: 401, nothing credited.
  const body = { order_id: order.orderNo, payment_status: 'success', transaction_id: 'pay_12345678' }
  t.equal((await callback(body)).status, 401)
  t.equal((await callback(body, signed('/api/v1/payment/callback', JSON.stringify(body), 'not-the-secret'))).status, 401)
  // A genuine one before the buyer paid: the provider does not confirm it, nothing credited.
  const early = await callback(body, signed('/api/v1/payment/callback', JSON.stringify(body)))
  t.equal(early.status, 409)
  t.match(await early.json(), { error: String })
  t.equal((await core(buyer.token, '/api/credits/balance')).balance, 0)

  await payInBrowser(created.body.data.payment_url)
  await until('004 status paid', async () => (await api.status(order.orderNo)).body.data.status === 'paid')
  // The 004 callback, genuine, after the payment (however often): 支付成功, still credited once.
  for (let i = 0; i < 2; i++) {
    const res = await callback(body, signed('/api/v1/payment/callback', JSON.stringify(body)))
    t.equal(res.status, 200)
    t.same(await res.json(), { data: { message: '支付成功' } })
  }
  t.equal((await core(buyer.token, '/api/credits/balance')).balance, 2000)
  const ledger = await core(buyer.token, '/api/credits/ledger')
  t.equal(ledger.totalElements, 1, 'one ledger row')
  t.match(ledger.content[0], { type: 'PURCHASE', delta: 2000, balanceAfter: 2000 })
  t.match(await core(buyer.token, `/api/orders/${order.orderNo}`), { status: 'PAID', creditsGranted: true })
  t.match((await api.history()).body.data.orders, [{ order_id: order.orderNo, price: 100, delivery_fee: 0, status: 'paid' }])

  // Wallet: a goods order (pickup, ¥95.5 = 1910 credits) paid from that balance.
  const goods = await orderApi(buyer.token, { productId: await goodsId(), deliveryMethod: 'pickup' })
  const wallet = await api.create({ order_id: goods.orderNo, payment_method: 'wallet', delivery_method: 'pickup' })
  t.equal(wallet.status, 201, JSON.stringify(wallet.body))
  t.match(wallet.body.data, { order_id: goods.orderNo, amount: 95.5, payment_method: 'wallet', status: 'paid' })
  t.equal(wallet.body.data.payment_url, `${stack.web}/order/${goods.orderNo}`, "the web app's order page")
  t.match((await api.status(goods.orderNo)).body.data, { status: 'paid', payment_method: 'wallet' })
  t.equal((await core(buyer.token, '/api/credits/balance')).balance, 90)
  const again = await api.create({ order_id: goods.orderNo, payment_method: 'wallet' })
  t.equal(again.status, 409, 'paid once')
  t.equal((await core(buyer.token, '/api/credits/balance')).balance, 90)
  const rows = (await core(buyer.token, '/api/credits/ledger')).content
  t.equal(rows.length, 2)
  t.match(rows[0], { type: 'CONSUME', delta: -1910, balanceAfter: 90 })
  t.match((await api.history(1, 0)).body.data, {
    orders: [{ order_id: goods.orderNo, payment_method: 'wallet', status: 'paid' }],
    pagination: { total_count: 2, limit: 1, offset: 0 },
  })
})

t.test('cancel, refusals in the document’s shape, and nothing trusted that the core API refuses', async (t) => {
  const buyer = await newUser()
  const other = await newUser()
  const api = client(main, buyer.token)
  const productId = await goodsId()
  const order = await orderApi(buyer.token, { productId, deliveryMethod: 'express', deliveryAddress: '上海市' })

  // Delivery is the order's: another method or address is refused, nothing started.
  t.match(await api.create({ order_id: order.orderNo, payment_method: 'alipay', delivery_method: 'same_day' }), { status: 422 })
  t.match(await api.create({ order_id: order.orderNo, payment_method: 'alipay', delivery_address: '广州市' }), { status: 422 })
  t.match(await client(main, other.token).create({ order_id: order.orderNo, payment_method: 'alipay' }), {
    status: 403,
    body: { error: String },
  })
  t.match(await client(main, other.token).status(order.orderNo), { status: 403 })
  t.match(await client(main, 'not-a-token').status(order.orderNo), { status: 401, body: { error: String } })
  t.match(await api.create({ order_id: order.orderNo, payment_method: 'bitcoin' }), { status: 400, body: { error: String } })
  t.match(await api.create({ order_id: 'P20240101000000AAAAAAAAAAAAAAAA', payment_method: 'alipay' }), { status: 404 })
  t.match(await api.create({ order_id: order.orderNo, payment_method: 'wallet' }), { status: 409 }, 'no credits: refused')
  t.equal((await core(buyer.token, `/api/orders/${order.orderNo}`)).paymentMethod, null, 'no payment was started')

  // A QR-only method gets a page a browser can open.
  const wechat = await api.create({ order_id: order.orderNo, payment_method: 'wechat' })
  t.equal(wechat.status, 201, JSON.stringify(wechat.body))
  const page = await http(wechat.body.data.payment_url)
  t.equal(page.status, 200)
  t.match(page.text, /<svg/)
  t.match(page.text, /¥105\.50/)
  const forged = new URL(wechat.body.data.payment_url)
  forged.searchParams.set('code', 'weixin://wxpay/bizpayurl?pr=evil')
  t.equal((await http(forged.toString())).status, 403, 'the QR page renders only the signed code')

  const cancelled = await api.cancel(order.orderNo)
  t.same(cancelled, { status: 200, body: { data: { message: '支付已取消' } } })
  t.match((await api.status(order.orderNo)).body.data, { status: 'cancelled' })
  t.equal((await core(buyer.token, `/api/orders/${order.orderNo}`)).status, 'CANCELLED')
  t.match(await api.cancel(order.orderNo), { status: 409, body: { error: String } })
  t.match(await client(main, other.token).cancel(order.orderNo), { status: 403 })
})
