/**
 * Seed 001 (a WeChat mini program): the document's own integration example (§6, `createOrder` and
 * `payOrder` with `wx.request` / `wx.requestPayment`) runs unchanged against the real stack under
 * main's `/mp`, apart from the base URL (the `wx` shim below resolves `https://your-api-domain.com` to
 * `<main>/mp`, as a mini program's configured domain would) and the token (from `wx.login` through
 * `POST /mp/api/auth/wechat-login`). The shim's `wx.login` mints a code at the sandbox, `wx.request` is
 * fetch, `wx.requestPayment` is the sandbox's control call that verifies paySign and pays the JSAPI prepay.
 * Credited once; visible in 001's order and status answers and in the core API.
 */
import t from 'tap'
import { parseServiceKey, signService, type ServiceKey } from '../fuzz/fixtures/kit.ts'
import { http, startStack, until } from './fixtures/stack.ts'

const stack = await startStack()
t.teardown(() => stack.stop())
const { main, sandbox } = stack
const MINIAPP_APPID = stack.env.main.WECHAT_MINIAPP_APPID!

interface WxResponse {
  statusCode: number
  data: any // eslint-disable-line @typescript-eslint/no-explicit-any -- what the API answered, as wx.request gives it
  header: Record<string, unknown>
}

/** A small `wx` over fetch and the sandbox: one per mini program user (its own storage and WeChat identity). */
function createWx(openid?: string) {
  const storage = new Map<string, unknown>()
  const payments: Promise<unknown>[] = []
  const sent: Record<string, unknown>[] = []
  const wx = {
    openid,
    payments,
    /** What each wx.requestPayment sent to the sandbox. */
    sent,
    getStorageSync: (key: string) => storage.get(key) ?? '',
    setStorageSync: (key: string, value: unknown) => void storage.set(key, value),
    /** wx.login: a fresh code of this WeChat user for the mini program. */
    async login(): Promise<{ code: string; errMsg: string }> {
      const res = await http(`${sandbox}/control/wechat/login-code`, { body: wx.openid ? { openid: wx.openid } : {} })
      if (res.status !== 200) throw new Error(`login-code: ${res.text}`)
      wx.openid = res.json.openid
      return { code: res.json.code, errMsg: 'login:ok' }
    },
    async request(o: { url: string; method?: string; data?: unknown; header?: Record<string, string> }): Promise<WxResponse> {
      const url = o.url.replace(/^https:\/\/your-api-domain\.com/, `${main}/mp`)
      const method = o.method ?? 'GET'
      const res = await http(url, {
        method,
        headers: { ...o.header },
        // wx.request sends `data` as JSON for POST (and as the query for GET).
        ...(method === 'GET' ? {} : { body: o.data ?? {} }),
      })
      return { statusCode: res.status, data: res.json ?? res.text, header: res.headers }
    },
    /** wx.requestPayment: the mini program's own appid, this user as the payer. */
    requestPayment(o: {
      timeStamp: string
      nonceStr: string
      package: string
      signType: string
      paySign: string
      success?: (res: unknown) => void
      fail?: (err: unknown) => void
    }) {
      const body = {
        appId: MINIAPP_APPID,
        timeStamp: o.timeStamp,
        nonceStr: o.nonceStr,
        package: o.package,
        signType: o.signType,
        paySign: o.paySign,
        openid: wx.openid,
      }
      sent.push(body)
      const done = http(`${sandbox}/control/wechat/request-payment`, { body }).then((res) => {
        if (res.status === 200) o.success?.(res.json)
        else o.fail?.(res.json)
        return res
      })
      payments.push(done)
    },
  }
  return wx
}
type Wx = ReturnType<typeof createWx>

/** The token, as a mini program gets it: wx.login → the backend's login → wx.setStorageSync('token'). */
async function logIn(wx: Wx) {
  const { code } = await wx.login()
  const res = await wx.request({ url: 'https://your-api-domain.com/api/auth/wechat-login', method: 'POST', data: { code } })
  if (res.statusCode !== 200) throw new Error(`login: ${JSON.stringify(res.data)}`)
  wx.setStorageSync('token', res.data.access_token)
  return res.data as { access_token: string; user_id: number; is_new_user: boolean; credits: number }
}

/** Seed 001 §6, verbatim (only `wx` is the shim's). */
function seedExample(wx: Wx) {
  // 创建订单
  async function createOrder(productId: number) {
    const response = await wx.request({
      url: 'https://your-api-domain.com/api/orders/create',
      method: 'POST',
      data: { product_id: productId },
      header: { Authorization: 'Bearer ' + wx.getStorageSync('token') },
    })

    if (response.statusCode === 200) {
      return response.data
    } else {
      throw new Error(response.data.detail || '创建订单失败')
    }
  }

  // 发起支付
  async function payOrder(orderId: number) {
    const response = await wx.request({
      url: `https://your-api-domain.com/api/orders/pay/${orderId}`,
      method: 'POST',
      header: { Authorization: 'Bearer ' + wx.getStorageSync('token') },
    })

    if (response.statusCode === 200) {
      const paymentData = response.data.payment_data

      // 调用微信支付
      wx.requestPayment({
        timeStamp: paymentData.timeStamp,
        nonceStr: paymentData.nonceStr,
        package: paymentData.packageValue,
        signType: paymentData.signType,
        paySign: paymentData.paySign,
        success(res) {
          console.log('支付成功', res)
          // 支付成功后刷新用户积分
        },
        fail(err) {
          console.error('支付失败', err)
        },
      })

      return true
    } else {
      throw new Error(response.data.detail || '发起支付失败')
    }
  }
  return { createOrder, payOrder }
}

const get = (wx: Wx, path: string) =>
  wx.request({ url: `https://your-api-domain.com${path}`, header: { Authorization: 'Bearer ' + wx.getStorageSync('token') } })
const core = (wx: Wx, path: string) => http(`${main}${path}`, { token: String(wx.getStorageSync('token')) })
const PRODUCT_KEYS = ['id', 'name', 'description', 'credits', 'price', 'image_url', 'is_active', 'sort_order', 'created_at', 'updated_at']

t.test("seed 001's flow: login, products, createOrder, payOrder, wx.requestPayment → credited once", async (t) => {
  const wx = createWx()
  const login = await logIn(wx)
  t.match(login, { is_new_user: true, credits: 0 })

  const list = await wx.request({ url: 'https://your-api-domain.com/api/products/?skip=0&limit=20' })
  t.equal(list.statusCode, 200)
  t.ok(Array.isArray(list.data), 'a bare array')
  const product = list.data.find((p: { name: string }) => p.name === '100积分套餐')
  t.ok(product, "the seed's 100积分套餐 is on the shelf")
  t.same(Object.keys(product).sort(), [...PRODUCT_KEYS].sort(), "exactly the document's fields")
  t.match(product, { credits: 100, price: 9.9, is_active: true, image_url: 'https://example.com/images/credits-100.png' })
  t.notOk(
    list.data.some((p: { credits: number }) => p.credits === 0),
    'no goods (they need delivery) and no custom package on the shelf',
  )
  const one = await wx.request({ url: `https://your-api-domain.com/api/products/${product.id}` })
  t.same(one.data, product)
  const paged = await wx.request({ url: 'https://your-api-domain.com/api/products/?skip=1&limit=1' })
  t.same(paged.data, [list.data[1]], 'skip and limit')

  const { createOrder, payOrder } = seedExample(wx)
  const order = await createOrder(product.id)
  t.match(order, { order_id: Number, order_no: /^P\d{14}/, amount: 9.9, credits: 100, message: '订单创建成功' })
  t.same(Object.keys(order).sort(), ['amount', 'credits', 'message', 'order_id', 'order_no'])

  const pending = await get(wx, `/api/orders/payment-status/${order.order_id}`)
  t.same(pending.data, { order_id: order.order_id, status: 'pending', paid: false, message: '等待支付' })

  t.equal(await payOrder(order.order_id), true)
  t.equal(wx.payments.length, 1, 'wx.requestPayment was called')
  const paid = (await wx.payments[0]) as { status: number; json: Record<string, unknown> }
  t.equal(paid.status, 200, 'the sandbox verified paySign with the merchant certificate and paid')
  t.match(paid.json, { errMsg: 'requestPayment:ok', outcome: 'paid', outTradeNo: order.order_no, payerOpenid: wx.openid })

  // The payer of the JSAPI prepay is the openid this user logged in with.
  const trade = await http(`${sandbox}/control/wechat/trades/${order.order_no}`)
  t.match(trade.json, { tradeType: 'JSAPI', payerOpenid: wx.openid, amountTotal: 990 })

  const status = await until('payment-status paid', async () => {
    const s = await get(wx, `/api/orders/payment-status/${order.order_id}`)
    return s.data.paid && s
  })
  t.same(status.data, { order_id: order.order_id, status: 'completed', paid: true, message: '支付成功' })

  const orders = await get(wx, '/api/orders/?skip=0&limit=20')
  t.equal(orders.statusCode, 200)
  t.equal(orders.data.length, 1)
  t.match(orders.data[0], {
    id: order.order_id,
    order_no: order.order_no,
    user_id: login.user_id,
    product_id: product.id,
    amount: 9.9,
    credits: 100,
    status: 'completed',
    payment_id: paid.json.transactionId,
    payment_time: String,
    refund_time: null,
    remark: null,
  })
  const detail = await get(wx, `/api/orders/${order.order_id}`)
  t.match(detail.data, {
    id: order.order_id,
    status: 'completed',
    payment_id: paid.json.transactionId,
    product_name: '100积分套餐',
    product_description: '购买100积分',
    product_image_url: 'https://example.com/images/credits-100.png',
  })
  t.notOk('user_id' in detail.data, "§2.4's fields")

  // The core API, with the same token: paid, credited once.
  const coreOrder = await core(wx, `/api/orders/${order.order_id}`)
  t.match(coreOrder.json.data, { status: 'PAID', creditsGranted: true, paymentMethod: 'WECHAT_PAY', paymentChannel: 'jsapi' })
  t.equal((await core(wx, '/api/credits/balance')).json.data.balance, 100)
  const ledger = (await core(wx, '/api/credits/ledger')).json.data
  t.equal(ledger.totalElements, 1)
  t.match(ledger.content[0], { type: 'PURCHASE', delta: 100, orderId: order.order_id })

  // Paying again: refused as the seed's 400; the buyer's sheet replayed pays nothing more.
  const again = await wx.request({
    url: `https://your-api-domain.com/api/orders/pay/${order.order_id}`,
    method: 'POST',
    header: { Authorization: 'Bearer ' + wx.getStorageSync('token') },
  })
  t.equal(again.statusCode, 400)
  t.match(again.data, { detail: /不能支付|PAID/ })
  await t.rejects(payOrder(order.order_id), /不能支付|PAID/, "the seed's code throws response.data.detail")
  const replay = await http(`${sandbox}/control/wechat/request-payment`, { body: wx.sent[0] })
  t.match(replay.json, { outcome: 'already-paid' })
  t.equal((await core(wx, '/api/credits/balance')).json.data.balance, 100, 'still credited once')

  // Logging in again as the same WeChat user: the same account.
  const second = await logIn(wx)
  t.match(second, { user_id: login.user_id, is_new_user: false, credits: 100 })
})

t.test('login: a code works once; unknown codes and bad input are 4xx {detail}', async (t) => {
  const wx = createWx()
  const { code } = await wx.login()
  const url = 'https://your-api-domain.com/api/auth/wechat-login'
  t.equal((await wx.request({ url, method: 'POST', data: { code } })).statusCode, 200)
  const used = await wx.request({ url, method: 'POST', data: { code } })
  t.equal(used.statusCode, 401)
  t.match(used.data, { detail: /code/ })
  const expired = await http(`${sandbox}/control/wechat/login-code`, { body: { ageSeconds: 301 } })
  t.equal((await wx.request({ url, method: 'POST', data: { code: expired.json.code } })).statusCode, 401, 'expired')
  t.equal((await wx.request({ url, method: 'POST', data: { code: 'nosuchcode' } })).statusCode, 401)
  const bad = await wx.request({ url, method: 'POST', data: { code: 42 } })
  t.equal(bad.statusCode, 400)
  t.same(Object.keys(bad.data), ['detail'])
  const users = await stack.mainSql`select count(*)::int as n from miniapp_identities where openid = ${expired.json.openid}`
  t.equal(users[0]!.n, 0, 'a refused code creates no user')
})

t.test("errors are FastAPI's {detail}; other users' orders are not theirs", async (t) => {
  const alice = createWx()
  const bob = createWx()
  await logIn(alice)
  await logIn(bob)
  const products = (await alice.request({ url: 'https://your-api-domain.com/api/products/' })).data
  const order = await seedExample(alice).createOrder(products[0].id)

  const noToken = await alice.request({
    url: 'https://your-api-domain.com/api/orders/create',
    method: 'POST',
    data: { product_id: products[0].id },
  })
  t.equal(noToken.statusCode, 401)
  t.same(Object.keys(noToken.data), ['detail'])
  await t.rejects(seedExample(alice).createOrder(999999), /商品不存在/)
  const missing = await alice.request({ url: 'https://your-api-domain.com/api/products/999999' })
  t.same([missing.statusCode, missing.data], [404, { detail: '商品不存在' }])
  for (const path of [`/api/orders/${order.order_id}`, `/api/orders/payment-status/${order.order_id}`]) {
    const r = await get(bob, path)
    t.equal(r.statusCode, 403, `${path} of another user`)
    t.same(Object.keys(r.data), ['detail'])
  }
  await t.rejects(seedExample(bob).payOrder(order.order_id), /无权/)
  t.equal((await get(bob, '/api/orders/')).data.length, 0, "bob's list does not show alice's order")
  const trade = await http(`${sandbox}/control/wechat/trades/${order.order_no}`)
  t.equal(trade.status, 404, "bob's attempt to pay started no trade")
  const wrongType = await get(alice, '/api/orders/abc')
  t.equal(wrongType.statusCode, 400)
})

t.test('the callback: only a service-signed body pays, once; unsigned or forged → 401, nothing credited', async (t) => {
  const wx = createWx()
  await logIn(wx)
  const products = (await wx.request({ url: 'https://your-api-domain.com/api/products/' })).data
  const p100 = products.find((p: { credits: number }) => p.credits === 100)
  const order = await seedExample(wx).createOrder(p100.id)
  // The prepay exists (pay started it), the buyer never opens the payment sheet.
  const started = await wx.request({
    url: `https://your-api-domain.com/api/orders/pay/${order.order_id}`,
    method: 'POST',
    header: { Authorization: 'Bearer ' + wx.getStorageSync('token') },
  })
  t.equal(started.statusCode, 200)
  t.equal(wx.payments.length, 0)
  const body = JSON.stringify({ order_no: order.order_no, payment_id: '4200000000202301010000000001', status: 'SUCCESS', amount: 9.9 })
  const path = '/mp/api/orders/callback'
  const rawPost = async (headers: Record<string, string>, text: string) => {
    const res = await fetch(`${main}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  }
  const key = parseServiceKey(stack.env.main.SERVICE_KEYS!)
  const sign = (text: string, k: ServiceKey = key) => signService(k, 'POST', path, text)

  const unsigned = await rawPost({}, body)
  t.equal(unsigned.status, 401)
  t.same(Object.keys(unsigned.json), ['detail'])
  const forged = await rawPost(sign(body, { id: key.id, secret: 'a-wrong-secret-of-32-characters!!' }), body)
  t.equal(forged.status, 401)
  const swapped = await rawPost(sign(body), body.replace('9.9', '0.01'))
  t.equal(swapped.status, 401, 'body changed after signing')
  const wrongAmount = JSON.stringify({ ...JSON.parse(body), amount: 0.01 })
  t.equal((await rawPost(sign(wrongAmount), wrongAmount)).status, 400, 'signed, but not the amount of the order')
  t.equal((await get(wx, `/api/orders/${order.order_id}`)).data.status, 'pending', 'nothing paid')
  t.equal((await core(wx, '/api/credits/balance')).json.data.balance, 0)

  const ok = await rawPost(sign(body), body)
  t.same([ok.status, ok.json], [200, { message: '处理支付回调成功' }])
  const twice = await rawPost(sign(body), body)
  t.equal(twice.status, 200, 'a redelivery is answered, not applied again')
  t.match((await get(wx, `/api/orders/${order.order_id}`)).data, { status: 'completed', payment_id: '4200000000202301010000000001' })
  t.equal((await core(wx, '/api/credits/balance')).json.data.balance, 100, 'credited once')
  t.equal((await core(wx, '/api/credits/ledger')).json.data.totalElements, 1)
})
