/**
 * The checkout web app in a real browser (Debian's chromium driven by playwright-core), against the
 * whole stack started as separate processes: web → main → pay → sandbox, and back through pay's
 * 302 return to /order/:id. Screenshots of each step go to test-output/browser/.
 */
import t from 'tap'
import { readdirSync } from 'node:fs'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { launchChromium, requireChromium, screenshots } from './fixtures/browser.ts'
import { http, startStack, until } from './fixtures/stack.ts'

requireChromium(t)

const snap = screenshots('browser')

const stack = await startStack({ web: true })
const web = stack.web!
const sandboxPort = String(stack.ports.sandbox)
const browser: Browser = await launchChromium()
t.teardown(async () => {
  await browser.close().catch(() => {})
  await stack.stop()
})

/**
 * Script errors, console errors, missing files of the app and server errors, per page (a broken
 * script must not pass silently). API 4xx answers are the app's business (it shows their message).
 */
function watch(page: Page) {
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`)
  })
  page.on('response', (r) => {
    const u = new URL(r.url())
    if (u.origin !== web) return
    if (r.status() >= 500 || (r.status() >= 400 && !u.pathname.startsWith('/api/'))) problems.push(`${r.status()} ${u.pathname}`)
  })
  return problems
}

async function desktopContext(): Promise<BrowserContext> {
  return browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } })
}
async function phoneContext(): Promise<BrowserContext> {
  return browser.newContext({
    locale: 'zh-CN',
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
  })
}

const text = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim()
const token = (page: Page) => page.evaluate(() => localStorage.getItem('paysys.token')) as Promise<string>
const orderIdOf = (page: Page) => Number(/\/order\/(\d+)$/.exec(new URL(page.url()).pathname)![1])
const orderUrl = new RegExp(`^${web.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/order/\\d+$`)
const isCashier = (u: URL) => u.port === sandboxPort && u.pathname.startsWith('/cashier/')

const user = { email: `browser-${Date.now()}@example.com`, password: 'password123', name: '浏览器用户' }
let desktop: BrowserContext
let page: Page
let problems: string[] = []

t.test('Alipay page purchase: register, CREDITS_500, 支付 in the sandbox cashier → 302 → /order/:id 支付成功', async (t) => {
  desktop = await desktopContext()
  page = await desktop.newPage()
  problems = watch(page)
  await page.goto(`${web}/`)
  await page.locator('[data-package="CREDITS_500"]').waitFor()
  t.equal(await page.locator('.pkg').count(), 4, 'the four seed-000 packages')
  t.match(await text(page, '[data-package="CREDITS_500"]'), /标准套餐[\s\S]*500[\s\S]*¥25\.00/)
  const goods = (await http(`${stack.main}/api/products?kind=goods`)).json?.data?.content ?? []
  t.equal(await page.locator('#goods').count(), goods.length ? 1 : 0, `goods section shown only when the API lists goods (${goods.length})`)
  await snap(page, 'home-guest')

  await page.getByRole('link', { name: '登录 / 注册' }).click()
  await page.getByRole('tab', { name: '注册' }).click()
  await page.fill('#email', user.email)
  await page.fill('#password', user.password)
  await page.fill('#name', user.name)
  await snap(page, 'register')
  await page.click('#auth-submit')
  await page.waitForURL(`${web}/`)
  await page.locator('#header-balance', { hasText: '积分 0' }).waitFor()

  // Custom credits: live price and the 100–10000 range with a clear message.
  const custom = page.locator('[data-package="CREDITS_CUSTOM"]')
  const buyCustom = custom.getByRole('button', { name: '立即购买' })
  await custom.locator('#custom-credits').fill('50')
  t.match(await text(page, '#custom-msg'), '最少购买 100 积分')
  t.ok(await buyCustom.isDisabled(), 'below 100: cannot buy')
  await custom.locator('#custom-credits').fill('20000')
  t.match(await text(page, '#custom-msg'), '最多购买 10000 积分')
  t.ok(await buyCustom.isDisabled(), 'above 10000: cannot buy')
  await custom.locator('#custom-credits').fill('12.5')
  t.match(await text(page, '#custom-msg'), '整数')
  await custom.locator('#custom-credits').fill('50')
  await snap(page, 'custom-credits-out-of-range')
  await custom.locator('#custom-credits').fill('300')
  t.equal(await text(page, '#custom-price'), '¥15.00', 'live price: 300 × 0.05')
  t.notOk(await buyCustom.isDisabled())

  await page.locator('[data-package="CREDITS_500"]').getByRole('button', { name: '立即购买' }).click()
  await page.waitForURL(`${web}/checkout?package=CREDITS_500`)
  await page.locator('[data-method="ALIPAY"]').waitFor()
  t.equal(await text(page, '#total'), '¥25.00')
  t.equal(
    await page.locator('[data-method]').count(),
    (await http(`${stack.main}/api/payment-methods`)).json.data.length,
    'only enabled methods',
  )
  await snap(page, 'checkout-credits-500')

  // 确认支付 → punchout_form submitted → sandbox gateway (RSA2 verified) → cashier.
  await Promise.all([page.waitForURL(isCashier), page.click('#pay-button')])
  await page.getByRole('button', { name: '支付', exact: true }).waitFor()
  await snap(page, 'sandbox-cashier')
  await Promise.all([page.waitForURL(orderUrl, { timeout: 20_000 }), page.getByRole('button', { name: '支付', exact: true }).click()])
  const id = orderIdOf(page)
  await page.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
  t.equal(await text(page, '#status-line'), '支付成功')
  t.match(await text(page, '#result'), '500 积分已到账')
  t.equal(await text(page, '#balance'), '500', 'new balance shown')
  await page.locator('#header-balance', { hasText: '积分 500' }).waitFor()
  await snap(page, 'order-paid')

  const order = await http(`${stack.main}/api/orders/${id}`, { token: await token(page) })
  t.match(order.json.data, { status: 'PAID', credits: 500, paymentMethod: 'ALIPAY', paymentChannel: 'page', creditsGranted: true })

  await page.getByRole('link', { name: '查看积分明细' }).click()
  await page.waitForURL(`${web}/credits`)
  t.equal(await text(page, '#balance'), '500')
  t.match(await text(page, '#ledger tbody tr'), /购买[\s\S]*\+500[\s\S]*500/)
  await snap(page, 'credits-ledger')

  await page.goto(`${web}/orders`)
  await page.locator('.page.orders').waitFor()
  if (await page.locator('#order-list').count()) {
    t.match(await text(page, `[data-order-id="${id}"]`), /标准套餐[\s\S]*¥25\.00[\s\S]*已支付/)
  } else {
    t.comment('order history: main offers no list route yet (GET /api/orders); the page says so')
    t.match(await text(page, '.page.orders'), '订单历史暂不可用')
  }
  await snap(page, 'orders-history')
  t.same(problems, [], 'no script errors')
})

t.test('phone viewport: login, WAP (device=mobile) purchase of CREDITS_200 through the cashier', async (t) => {
  const phone = await phoneContext()
  t.teardown(() => phone.close())
  const p = await phone.newPage()
  const issues = watch(p)
  await p.goto(`${web}/login?next=%2F`)
  await p.fill('#email', user.email)
  await p.fill('#password', user.password)
  await p.click('#auth-submit')
  await p.waitForURL(`${web}/`)
  await p.locator('#header-balance', { hasText: '积分 500' }).waitFor()
  await p.locator('[data-package="CREDITS_200"]').waitFor()
  await snap(p, 'phone-home')
  const width = await p.evaluate(() => document.documentElement.scrollWidth)
  t.ok(width <= 390, `no horizontal scrolling on a phone (${width}px)`)

  await p.locator('[data-package="CREDITS_200"]').getByRole('button', { name: '立即购买' }).click()
  await p.locator('[data-method="ALIPAY"]').waitFor()
  t.match(await text(p, '[data-channel="auto"]'), '手机', 'channel chosen by device: phone')
  await snap(p, 'phone-checkout')
  await Promise.all([p.waitForURL(isCashier), p.click('#pay-button')])
  await snap(p, 'phone-sandbox-cashier')
  await Promise.all([p.waitForURL(orderUrl, { timeout: 20_000 }), p.getByRole('button', { name: '支付', exact: true }).click()])
  await p.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
  t.equal(await text(p, '#balance'), '700')
  await snap(p, 'phone-order-paid')
  const order = await http(`${stack.main}/api/orders/${orderIdOf(p)}`, { token: await token(p) })
  t.match(order.json.data, { status: 'PAID', paymentChannel: 'wap' }, 'mobile → Alipay WAP')
  await p.getByRole('link', { name: '我的订单' }).first().click()
  await p.locator('.page.orders').waitFor()
  await snap(p, 'phone-orders')
  const ordersWidth = await p.evaluate(() => document.documentElement.scrollWidth)
  t.ok(ordersWidth <= 390, `order history fits a phone (${ordersWidth}px)`)
  t.same(issues, [], 'no script errors')
})

/** Checkout with a QR channel; returns the order page showing the QR. */
async function qrCheckout(
  t: { match: (found: unknown, wanted: unknown, message: string) => boolean },
  method: string,
  channel: string | null,
  pkg = 'CREDITS_200',
) {
  await page.goto(`${web}/checkout?package=${pkg}`)
  await page.locator(`[data-method="${method}"]`).click()
  if (channel) await page.locator(`[data-method="${method}"] ~ .channels [data-channel="${channel}"]`).click()
  await Promise.all([page.waitForURL(orderUrl), page.click('#pay-button')])
  await page.locator('#qr-image').waitFor()
  const first = await text(page, '#qr-countdown')
  t.match(first, /^(29|30):\d\d$/, `countdown to expiry: ${first}`)
  await until('the countdown to tick', async () => (await text(page, '#qr-countdown')) !== first, 5000)
  t.match(await page.locator('#qr-image').getAttribute('src'), /^data:image\/svg\+xml;base64,/, 'QR rendered locally')
  return { id: orderIdOf(page), orderNo: await text(page, '#order-no') }
}

t.test('Alipay QR (precreate): QR with countdown, scanned and paid in the sandbox while the page polls', async (t) => {
  const before = (await http(`${stack.main}/api/credits/balance`, { token: await token(page) })).json.data.balance
  const { id } = await qrCheckout(t, 'ALIPAY', 'qr')
  t.match(await text(page, '#qr-panel h2'), '请使用支付宝扫码支付')
  t.match(await text(page, '#status-line'), '等待支付结果')
  await snap(page, 'alipay-qr')
  // "Scan" it: the order page links the sandbox's scanner (dev only), which opens that payment's cashier.
  const [scanner] = await Promise.all([desktop.waitForEvent('page'), page.click('#sandbox-scan')])
  await scanner.getByRole('button', { name: '支付', exact: true }).waitFor()
  await snap(scanner, 'alipay-qr-scanned-cashier')
  await scanner.getByRole('button', { name: '支付', exact: true }).click()
  await scanner.waitForLoadState()
  await snap(scanner, 'alipay-qr-scanner-done')
  await scanner.close()
  await page.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
  t.equal(await text(page, '#balance'), String(before + 200))
  await snap(page, 'alipay-qr-paid')
  const order = await http(`${stack.main}/api/orders/${id}`, { token: await token(page) })
  t.match(order.json.data, { status: 'PAID', paymentChannel: 'qr' })
})

const methods = (await http(`${stack.main}/api/payment-methods`)).json.data as { code: string }[]
const wechat = methods.some((m) => m.code === 'WECHAT_PAY')
t.test(
  'WeChat native QR: paid from the sandbox control API while the page polls',
  {
    skip: wechat
      ? false
      : 'WECHAT_PAY is not listed by GET /api/payment-methods yet (WeChat Pay not enabled in pay); turns on by itself when it is',
  },
  async (t) => {
    const before = (await http(`${stack.main}/api/credits/balance`, { token: await token(page) })).json.data.balance
    const { id, orderNo } = await qrCheckout(t, 'WECHAT_PAY', null, 'CREDITS_500')
    t.match(await text(page, '#qr-panel h2'), '请使用微信扫码支付')
    await snap(page, 'wechat-native-qr')
    // The scan page shows the payment's cashier; the payment itself comes from the control API.
    const scanHref = await page.locator('#sandbox-scan').getAttribute('href')
    const scanner = await desktop.newPage()
    await scanner.goto(scanHref!)
    await scanner.getByRole('button', { name: '支付', exact: true }).waitFor()
    await snap(scanner, 'wechat-scan-cashier')
    await scanner.close()
    const paid = await http(`${stack.sandbox}/control/wechat/trades/${orderNo}/pay`, { body: {} })
    t.equal(paid.status, 200, `control API pay: ${paid.text.slice(0, 200)}`)
    await page.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
    t.equal(await text(page, '#balance'), String(before + 500))
    await snap(page, 'wechat-native-paid')
    const order = await http(`${stack.main}/api/orders/${id}`, { token: await token(page) })
    t.match(order.json.data, { status: 'PAID', paymentMethod: 'WECHAT_PAY', paymentChannel: 'native' })
  },
)

const goodsList = ((await http(`${stack.main}/api/products?kind=goods`)).json?.data?.content ?? []) as { id: number; name: string }[]
t.test(
  'goods: delivery method, address and fee, paid with Alipay through the cashier',
  { skip: goodsList.length ? false : 'no goods in GET /api/products?kind=goods yet' },
  async (t) => {
    const product = goodsList[0]!
    const methods = (await http(`${stack.main}/api/delivery-methods?productId=${product.id}`)).json.data as {
      code: string
      requiresAddress: boolean
    }[]
    const shipped = methods.find((m) => m.requiresAddress) ?? methods[0]!
    const address = '北京市海淀区中关村大街 1 号'
    const quote = (
      await http(`${stack.main}/api/delivery-fee`, { body: { productId: product.id, deliveryMethod: shipped.code, address, quantity: 2 } })
    ).json.data
    await page.goto(`${web}/`)
    await page.locator(`[data-product="${product.id}"] a`).click()
    await page.waitForURL(`${web}/product/${product.id}`)
    await page.locator(`[data-delivery="${shipped.code}"]`).click()
    await page.fill('#quantity', '2')
    if (shipped.requiresAddress) {
      await page.click('#pay-button')
      t.match(await text(page, '#checkout-msg'), '收货地址', 'the address is asked for')
      await page.fill('#address', address)
      await page.fill('#contact-name', '张三')
      await page.fill('#contact-phone', '13800138000')
    }
    await until('the fee quote', async () => (await text(page, '#total')) === `¥${quote.totalAmount.toFixed(2)}`, 5000)
    t.equal(await text(page, '#delivery-fee'), `¥${quote.deliveryFee.toFixed(2)}`, 'fee from POST /api/delivery-fee')
    await page.locator('[data-method="ALIPAY"]').click()
    await page.locator('[data-method="ALIPAY"] ~ .channels [data-channel="page"]').click()
    await snap(page, 'goods-checkout')
    await Promise.all([page.waitForURL(isCashier), page.click('#pay-button')])
    await Promise.all([page.waitForURL(orderUrl, { timeout: 20_000 }), page.getByRole('button', { name: '支付', exact: true }).click()])
    await page.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
    t.match(await text(page, '#result'), '发货')
    t.match(await text(page, '#order-details'), address)
    await snap(page, 'goods-paid')
    const order = await http(`${stack.main}/api/orders/${orderIdOf(page)}`, { token: await token(page) })
    t.match(order.json.data, { status: 'PAID', kind: 'goods', quantity: 2, deliveryMethod: shipped.code, amount: quote.totalAmount })
  },
)

t.test('the order page stops polling after its time limit, says so, and offers to refresh or pay again', async (t) => {
  const tk = await token(page)
  const res = await http(`${stack.main}/api/credits/purchase`, {
    token: tk,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  t.equal(res.status, 200, `purchase: ${res.text.slice(0, 200)}`)
  await page.evaluate(() => localStorage.setItem('paysys.debug.pollTimeoutMs', '2500'))
  try {
    await page.goto(`${web}/order/${res.json.data.id}`)
    await page.locator('#status-line', { hasText: '等待支付结果' }).waitFor()
    await page.locator('#result[data-state="timeout"]').waitFor({ timeout: 10_000 })
    t.match(await text(page, '#result'), '已停止自动刷新')
    await snap(page, 'order-polling-gave-up')
    await page.click('#gave-up-repay')
    await page.locator('#repay-panel [data-method="ALIPAY"]').waitFor()
    await snap(page, 'order-pay-again')
    await page.click('#refresh-status')
    await page.locator('#status-line', { hasText: '等待支付结果' }).waitFor()
  } finally {
    await page.evaluate(() => localStorage.removeItem('paysys.debug.pollTimeoutMs'))
  }
  await page.goto(`${web}/order/unknown?error=ORDER_NOT_FOUND`)
  t.match(await text(page, '.alert'), '无法识别')
  t.same(problems, [], 'no script errors')
  await desktop.close()
})

t.test('screenshots were written', async (t) => {
  const files = readdirSync(snap.dir).filter((f) => f.endsWith('.png'))
  t.ok(files.length >= 10, `${files.length} screenshots in test-output/browser`)
})
