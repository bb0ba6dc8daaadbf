/**
 * WeChat Pay public-key mode (微信支付公钥) end to end: the sandbox signs answers and notifies with the
 * public key pair under `PUB_KEY_ID_…`, pay has no platform certificate and verifies with the public
 * key. A native purchase is paid, its notify verifies and credits once; a query answer verifies.
 */
import t from 'tap'
import postgres from 'postgres'
import { generateWechatPublicKey, wechatPublicKeyEnv } from '@paysys/devkit'
import { http, startStack, until } from './fixtures/stack.ts'

const pk = generateWechatPublicKey()
const modeEnv = wechatPublicKeyEnv(pk)
const stack = await startStack({ extra: modeEnv })
const sandboxSql = postgres(stack.env.sandbox.DATABASE_URL!, { max: 1, onnotice: () => {} })
t.teardown(async () => {
  await sandboxSql.end({ timeout: 5 })
  await stack.stop()
})
const { main, sandbox, paySql } = stack

let seq = 0
async function buyNative() {
  const email = `wxpk${++seq}-${Date.now()}@example.com`
  const token = (await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })).json.data.token as string
  const res = await http(`${main}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_500', paymentMethod: 'WECHAT_PAY', channel: 'native', device: 'pc' },
  })
  return { token, res, ...(res.json?.data ?? {}) } as { token: string; res: typeof res; id: number; orderNo: string; paymentInfo: any } // eslint-disable-line @typescript-eslint/no-explicit-any
}
const balance = async (token: string) => (await http(`${main}/api/credits/balance`, { token })).json.data.balance as number
const attempt = async (orderNo: string) =>
  (await paySql`select status, paid_via from payment_attempts where order_no = ${orderNo} and provider = 'WECHAT_PAY'`)[0]

t.test('the stack runs in public-key mode: pay has no platform certificate', async (t) => {
  t.equal(stack.env.pay.WECHAT_PLATFORM_CERT, '')
  t.equal(stack.env.pay.WECHAT_PUBLIC_KEY_ID, pk.publicKeyId)
  t.equal(stack.env.sandbox.SANDBOX_WECHAT_PUBLIC_KEY_ID, pk.publicKeyId)
})

t.test('native: created with a verified answer, paid in the sandbox, the notify verifies and credits once', async (t) => {
  const { token, res, id, orderNo, paymentInfo } = await buyNative()
  t.equal(res.status, 200, res.text)
  t.match(paymentInfo, { paymentMethod: 'WECHAT_PAY', channel: 'native', payType: 'qrcode' })

  const paid = await http(`${sandbox}/control/wechat/trades/${orderNo}/pay`, { body: {} })
  t.equal(paid.status, 200, paid.text)
  t.equal(paid.json.notifyScheduled, true)
  await until('order PAID', async () => (await http(`${main}/api/orders/${id}`, { token })).json.data.status === 'PAID', 30_000)
  t.match(await attempt(orderNo), { status: 'PAID', paid_via: 'NOTIFY' }, 'paid by the notify, not a query')

  // The durable notify went out under the public key id and pay acknowledged it (204).
  const [delivery] = await sandboxSql<{ headers: Record<string, string> }[]>`
    select headers from notify_deliveries where provider = 'wechat' and reference = ${orderNo} and kind = 'auto'`
  t.equal(delivery?.headers['Wechatpay-Serial'], pk.publicKeyId)
  const sent = (await http(`${sandbox}/control/wechat/notifications?outTradeNo=${orderNo}`)).json as { status: number | null }[]
  t.ok(sent.length >= 1)
  t.equal(sent[0]!.status, 204, 'pay accepted the first attempt')
  t.match(await paySql`select verdict from notify_log where out_trade_no = ${orderNo} order by id`, [{ verdict: 'ACCEPTED' }])

  // A forged copy (another key, or another serial) is refused; duplicates change nothing.
  const forged = await http(`${sandbox}/control/wechat/trades/${orderNo}/notify`, { body: { wrongKey: true } })
  t.match(forged.json.deliveries, [{ status: 400 }])
  const wrongSerial = await http(`${sandbox}/control/wechat/trades/${orderNo}/notify`, { body: { wrongSerial: true } })
  t.match(wrongSerial.json.deliveries, [{ status: 400 }])
  const dup = await http(`${sandbox}/control/wechat/trades/${orderNo}/notify`, { body: { times: 2 } })
  t.match(dup.json.deliveries, [{ status: 204 }, { status: 204 }])
  const reasons = (await paySql`select reason from notify_log where verdict = 'REJECTED' and provider = 'WECHAT_PAY'`).map((r) => r.reason)
  t.same(reasons.sort(), ['BAD_SIGNATURE', 'SERIAL_MISMATCH'])
  t.equal(await balance(token), 500)
  t.equal((await http(`${main}/api/credits/ledger`, { token })).json.data.totalElements, 1, 'credited once')
})

t.test('a query answer signed with the public key verifies: a paid trade without a notify is found by polling', async (t) => {
  const { token, res, id, orderNo } = await buyNative()
  t.equal(res.status, 200, res.text)
  const paid = await http(`${sandbox}/control/wechat/trades/${orderNo}/pay`, { body: { notify: false } })
  t.equal(paid.status, 200, paid.text)
  t.equal(paid.json.notifyScheduled, false)
  const st = await http(`${main}/api/orders/${id}/payment-status`, { token })
  t.equal(st.status, 200, st.text)
  t.match(st.json.data, { status: 'PAID', paid: true })
  t.match(await attempt(orderNo), { status: 'PAID', paid_via: 'QUERY' })
  await until('credited', async () => (await balance(token)) === 500, 30_000)
  t.equal((await http(`${main}/api/credits/ledger`, { token })).json.data.totalElements, 1)
})
