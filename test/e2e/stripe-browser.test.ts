/**
 * Stripe in a real browser (issue 21's acceptance): Debian's chromium driven by playwright-core against the
 * whole stack (web → main → pay → the official stripe SDK → the sandbox's Stripe). A card purchase with
 * 银行卡 (BANK_CARD, served by Stripe): the sandbox's hosted Checkout page, 支付 → success_url → pay's return →
 * back on /order/{id} showing 支付成功, credited; a second purchase where 取消 → cancel_url → the same order page,
 * unpaid. Screenshots go to test-output/stripe/ (not committed).
 */
import t from 'tap'
import { type Browser, type Page } from 'playwright-core'
import { launchChromium, requireChromium, screenshots } from './fixtures/browser.ts'
import { http, startStack } from './fixtures/stack.ts'

requireChromium(t)

const snap = screenshots('stripe')

const stack = await startStack({ web: true })
const web = stack.web!
const browser: Browser = await launchChromium()
t.teardown(async () => {
  await browser.close().catch(() => {})
  await stack.stop()
})

const sandboxPort = String(stack.ports.sandbox)
const orderUrl = new RegExp(`^${web.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/order/\\d+$`)
const onSandbox = (u: URL) => u.port === sandboxPort
const orderIdOf = (page: Page) => Number(/\/order\/(\d+)$/.exec(new URL(page.url()).pathname)![1])
const text = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim()

const user = { email: `stripe-browser-${Date.now()}@example.com`, password: 'password123' }
const registered = await http(`${stack.main}/api/auth/register`, { body: user })
if (registered.status !== 200) throw new Error(registered.text)
const token = registered.json.data.token as string

const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } })
const page = await context.newPage()
const problems: string[] = []
page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))

/** From the home page: CREDITS_200 with 银行卡, 确认支付 → the sandbox's hosted Checkout page. */
async function toHostedPage(label: string) {
  await page.goto(`${web}/`)
  await page.locator('[data-package="CREDITS_200"]').getByRole('button', { name: '立即购买' }).click()
  await page.waitForURL(`${web}/checkout?package=CREDITS_200`)
  const card = page.locator('[data-method="BANK_CARD"]')
  await card.waitFor()
  t.match(await card.textContent(), '银行卡', 'the method is shown as 银行卡')
  await card.click()
  await snap(page, `${label}-checkout`)
  await Promise.all([page.waitForURL(onSandbox, { timeout: 20_000 }), page.click('#pay-button')])
  await page.getByRole('button', { name: '支付', exact: true }).waitFor()
  t.equal(await page.getByRole('button', { name: '取消', exact: true }).count(), 1, 'one 取消 button')
  await snap(page, `${label}-hosted-page`)
}

t.test('log in through the app', async (t) => {
  await page.goto(`${web}/login?next=%2F`)
  await page.fill('#email', user.email)
  await page.fill('#password', user.password)
  await page.click('#auth-submit')
  await page.waitForURL(`${web}/`)
  await page.locator('#header-balance', { hasText: '积分 0' }).waitFor()
  t.pass('logged in')
})

t.test('a card purchase: 支付 on the hosted page → back on /order/{id}, 支付成功, credited', async (t) => {
  await toHostedPage('paid')
  await Promise.all([page.waitForURL(orderUrl, { timeout: 20_000 }), page.getByRole('button', { name: '支付', exact: true }).click()])
  const id = orderIdOf(page)
  await page.locator('#result[data-state="paid"]').waitFor({ timeout: 30_000 })
  t.equal(await text(page, '#status-line'), '支付成功')
  t.match(await text(page, '#result'), '200 积分已到账')
  await page.locator('#header-balance', { hasText: '积分 200' }).waitFor()
  await snap(page, 'paid-order')
  const order = (await http(`${stack.main}/api/orders/${id}`, { token })).json.data
  t.match(order, { status: 'PAID', paymentMethod: 'BANK_CARD', paymentChannel: 'card', creditsGranted: true })
  const [attempt] = await stack.paySql`select provider, status, provider_ref from payment_attempts where order_id = ${id}`
  t.match(attempt, { provider: 'STRIPE', status: 'PAID', provider_ref: /^cs_test_/ })
})

t.test('a cancelled one: 取消 on the hosted page → back on /order/{id}, unpaid', async (t) => {
  await toHostedPage('cancelled')
  await Promise.all([page.waitForURL(orderUrl, { timeout: 20_000 }), page.getByRole('button', { name: '取消', exact: true }).click()])
  const id = orderIdOf(page)
  await page.locator('#status-line[data-state="pending"]').waitFor({ timeout: 20_000 })
  t.match(await text(page, '#status-line'), '等待支付结果')
  t.equal(await page.locator('#result[data-state="paid"]').count(), 0, 'not shown as paid')
  await snap(page, 'cancelled-order')
  t.match((await http(`${stack.main}/api/orders/${id}`, { token })).json.data, { status: 'PENDING_PAYMENT', creditsGranted: false })
  t.equal((await http(`${stack.main}/api/credits/balance`, { token })).json.data.balance, 200, 'nothing more credited')
  t.same(problems, [], 'no script errors')
})
