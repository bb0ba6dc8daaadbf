/**
 * `npm run smoke`: buys CREDITS_500 on a running `npm start` as the demo user, pays it in the sandbox and
 * waits until the credits are in the balance. Loopback only (MAIN_URL / SANDBOX_URL, default the dev ports),
 * so CI runs it inside a network namespace to prove the stack needs no network. Exit 0 = credited once.
 */
import { request } from 'undici'

const main = process.env.MAIN_URL ?? 'http://127.0.0.1:8080'
const sandbox = process.env.SANDBOX_URL ?? 'http://127.0.0.1:8090'
const email = process.env.SMOKE_EMAIL ?? 'demo@example.com'
const password = process.env.SMOKE_PASSWORD ?? 'demo12345'

async function call(method: 'GET' | 'POST', url: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token) headers.authorization = `Bearer ${token}`
  const res = await request(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.body.text()
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as { data: Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
}

const started = Date.now()
const login = await call('POST', `${main}/api/auth/login`, { email, password })
const token = login.data.token as string
const before = (await call('GET', `${main}/api/credits/balance`, undefined, token)).data.balance as number
const order = await call(
  'POST',
  `${main}/api/credits/purchase`,
  { packageCode: 'CREDITS_500', paymentMethod: 'ALIPAY', channel: 'qr' },
  token,
)
const outTradeNo = order.data.paymentInfo.outTradeNo as string
await call('POST', `${sandbox}/control/alipay/trades/${encodeURIComponent(outTradeNo)}/pay`, {})

let balance = before
for (let i = 0; i < 100 && balance === before; i++) {
  await new Promise((r) => setTimeout(r, 100))
  balance = (await call('GET', `${main}/api/credits/balance`, undefined, token)).data.balance as number
}
if (balance !== before + 500) {
  console.error(`smoke: balance ${before} → ${balance}, expected +500 for order ${order.data.orderNo}`)
  process.exit(1)
}
console.log(`smoke: order ${order.data.orderNo} paid in the sandbox, balance ${before} → ${balance} in ${Date.now() - started} ms`)
