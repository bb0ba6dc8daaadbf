/**
 * Live order status across two main instances with no sticky routing: the browser (Chromium) talks to
 * main A through the web app, pay delivers the payment to main B only. The order page's stream is held
 * by A; B applies the callback; PostgreSQL NOTIFY carries the change to A, which pushes it. The page
 * must show 支付成功 and the new balance without a single status poll (every request the page makes is
 * counted). Then the hostile side through the same proxy: another user's order, a reused ticket, a
 * flood past the per-user cap (429) — and open streams back to 0 on both instances.
 */
import t from 'tap'
import { type Browser } from 'playwright-core'
import { freePort, startService, type RunningService } from '@paysys/devkit'
import { launchChromium, requireChromium } from './fixtures/browser.ts'
import { http, startStack, until } from './fixtures/stack.ts'

requireChromium(t)

const live = { LIVE_MAX_STREAMS_PER_USER: '4' }
const portB = await freePort()
// pay knows only main B; the web app (and so the browser) only main A.
// Four processes start at once: on a busy 2-core CI machine that can take longer than the default minute.
const stack = await startStack({
  web: true,
  startTimeoutMs: 600_000,
  extra: { main: live, pay: { MAIN_URL: `http://127.0.0.1:${portB}` } },
})
const mainA = stack.main
const serviceB: RunningService = await startService('main', { ...stack.env.main, PORT: String(portB) }, { timeoutMs: 600_000 })
const mainB = `http://127.0.0.1:${portB}`
const web = stack.web!
const browser: Browser = await launchChromium()
t.teardown(async () => {
  await browser.close().catch(() => {})
  await serviceB.stop()
  await stack.stop()
})

/** One series of an instance's /metrics (summed over its label sets matching `labels`). */
async function metric(base: string, name: string, labels = ''): Promise<number> {
  const text = (await http(`${base}/metrics`)).text
  let n = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (labels && !line.includes(labels)) continue
    n += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return n
}
const openStreams = (base: string) => metric(base, 'paysys_live_streams')
// Events reach main by the bulk route (`/api/orders/callbacks`) or the single one: the prefix counts both.
const callbacks = (base: string) => metric(base, 'paysys_http_request_duration_seconds_count', 'route="/api/orders/callback')

async function register(email: string) {
  const res = await http(`${mainA}/api/auth/register`, { body: { email, password: 'password123', name: 'live' } })
  if (res.status !== 200) throw new Error(res.text)
  return res.json.data as { token: string; user: object }
}
async function purchaseQr(token: string) {
  const res = await http(`${mainA}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  if (res.status !== 200) throw new Error(res.text)
  return res.json.data as { id: number; orderNo: string }
}

const buyer = await register(`live-buyer-${Date.now()}@example.com`)
const other = await register(`live-other-${Date.now()}@example.com`)

t.test('the stream is on A, the callback lands on B: 支付成功 and the new balance, with no poll', async (t) => {
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } })
  t.teardown(() => context.close())
  await context.addInitScript(
    ([token, user]) => {
      localStorage.setItem('paysys.token', token)
      localStorage.setItem('paysys.user', user)
    },
    [buyer.token, JSON.stringify(buyer.user)] as const,
  )
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(e.message))
  // Every API request the page makes, in order.
  const requests: string[] = []
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (u.pathname.startsWith('/api/')) requests.push(`${r.method()} ${u.pathname}`)
  })

  // Checkout with the Alipay QR channel in the page: the order page shows the QR code and waits.
  await page.goto(`${web}/checkout?package=CREDITS_200`)
  await page.locator('[data-method="ALIPAY"]').click()
  await page.locator('[data-method="ALIPAY"] ~ .channels [data-channel="qr"]').click()
  await Promise.all([page.waitForURL(/\/order\/\d+$/), page.click('#pay-button')])
  await page.locator('#qr-image').waitFor()
  const order = {
    id: Number(/\/order\/(\d+)$/.exec(new URL(page.url()).pathname)![1]),
    orderNo: ((await page.locator('#order-no').textContent()) ?? '').trim(),
  }
  await page.locator('#update-mode', { hasText: '立即自动更新' }).waitFor()
  await until('the stream open on main A', async () => (await openStreams(mainA)) === 1)
  t.equal(await openStreams(mainB), 0, 'main B holds no stream')
  t.match(await page.locator('#status-line').textContent(), '等待支付结果')
  const callbacksA = await callbacks(mainA)
  const callbacksB = await callbacks(mainB)
  const before = requests.length

  // The buyer pays (the sandbox notifies pay, pay delivers the event to main B).
  await http(`${stack.sandbox}/control/alipay/trades/${order.orderNo}/pay`, { body: {} })
  await page.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
  const shownAt = Date.now()
  t.equal((await page.locator('#status-line').textContent())?.trim(), '支付成功')
  await page.locator('#balance', { hasText: '200' }).waitFor()
  t.equal((await page.locator('#balance').textContent())?.trim(), '200', 'the new balance')

  const [ev] = await stack.mainSql`select received_at as "at" from processed_events where order_no = ${order.orderNo}`
  t.ok(ev, 'the payment event was processed')
  t.equal(await callbacks(mainB), callbacksB + 1, 'main B applied the callback')
  t.equal(await callbacks(mainA), callbacksA, 'main A received no callback')
  const after = requests.slice(before)
  const polls = after.filter((r) => /\/payment-status$|^GET \/api\/orders\/\d+$|\/api\/payment-orders\//.test(r))
  t.same(polls, [], `no status poll after the stream opened (requests: ${after.join(', ') || 'none'})`)
  t.ok(
    requests.slice(0, before).some((r) => r === `POST /api/orders/${order.id}/stream-ticket`),
    'the page bought a stream ticket',
  )
  t.notOk(
    requests.some((r) => r.endsWith('/payment-status')),
    'the page never polled',
  )
  t.comment(
    `live-status: callback processed by main B → 支付成功 on the page (stream on main A): ${shownAt - new Date(ev!.at).getTime()} ms`,
  )

  await until('the stream closed at the final state', async () => (await openStreams(mainA)) === 0)
  t.same(problems, [], 'no script errors')
})

t.test('when the stream is unavailable the page falls back to polling', async (t) => {
  const order = await purchaseQr(buyer.token)
  const context = await browser.newContext({ locale: 'zh-CN' })
  t.teardown(() => context.close())
  await context.addInitScript(
    ([token, user]) => {
      localStorage.setItem('paysys.token', token)
      localStorage.setItem('paysys.user', user)
    },
    [buyer.token, JSON.stringify(buyer.user)] as const,
  )
  const page = await context.newPage()
  // The proxy in front refuses the stream (as a proxy that does not pass streams would).
  await page.route('**/api/orders/*/events*', (route) => route.fulfill({ status: 502, body: 'bad gateway' }))
  let polls = 0
  page.on('request', (r) => {
    if (r.url().endsWith(`/api/orders/${order.id}/payment-status`)) polls++
  })
  await page.goto(`${web}/order/${order.id}`)
  await page.locator('#update-mode', { hasText: '每 2 秒查询一次' }).waitFor({ timeout: 15_000 })
  await until('a poll', async () => polls > 0)
  await http(`${stack.sandbox}/control/alipay/trades/${order.orderNo}/pay`, { body: {} })
  await page.locator('#result[data-state="paid"]').waitFor({ timeout: 20_000 })
  t.ok(polls > 0, `paid state found by polling (${polls} polls)`)
  const settled = polls
  await new Promise((r) => setTimeout(r, 2500))
  t.equal(polls, settled, 'polling stopped at the final state')
})

t.test("hostile, through the web app's proxy: another user's order, a reused ticket, a flood → 403/401/429", async (t) => {
  const order = await purchaseQr(buyer.token)
  const ticket = (token: string) => http(`${web}/api/orders/${order.id}/stream-ticket`, { method: 'POST', token })
  t.match(await ticket(other.token), { status: 403, json: { error: 'FORBIDDEN' } }, "another user's order")
  const first = (await ticket(buyer.token)).json.data
  const controllers: AbortController[] = []
  const open = async (url: string) => {
    const c = new AbortController()
    controllers.push(c)
    const res = await fetch(`${web.replace('//localhost:', '//127.0.0.1:')}${url}`, { signal: c.signal })
    if (res.status !== 200) await res.text()
    return res.status
  }
  t.equal(await open(first.eventsUrl), 200)
  t.equal(await open(first.eventsUrl), 401, 'a reused ticket')
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push(await open((await ticket(buyer.token)).json.data.eventsUrl))
  t.same(statuses, [200, 200, 200, 429, 429, 429], 'a flood: 4 streams per user, then 429')
  t.equal(await openStreams(mainA), 4)
  for (const c of controllers) c.abort()
  await until('every stream closed on main A', async () => (await openStreams(mainA)) === 0)
  t.equal(await openStreams(mainB), 0)
  t.equal(await metric(mainA, 'paysys_live_streams_refused_total', 'cap="user"'), 3)
})
