/**
 * The Checkout Session id (`cs_…`) is the attempt's providerRef (issue 21): create answers it, and query,
 * close (expire) and refund retrieve the session by it, never listing sessions; only an attempt without
 * one falls back to the search. The official `stripe` SDK talks to a stand-in API that records each request.
 */
import t from 'tap'
import { createServer } from 'node:http'
import { createStripeProvider } from '../src/providers/stripe/stripe.ts'
import { readBody } from './helpers.ts'

const nowS = Math.floor(Date.now() / 1000)
interface Sess {
  id: string
  status: string
  payment_status: string
}
const sessions = new Map<string, Sess>()
const calls: string[] = []
const sessionObject = (s: Sess) => ({
  id: s.id,
  object: 'checkout.session',
  status: s.status,
  payment_status: s.payment_status,
  client_reference_id: 'P20260101000000REF1',
  metadata: { out_trade_no: 'P20260101000000REF1' },
  amount_total: 1000,
  currency: 'cny',
  payment_intent: s.payment_status === 'paid' ? 'pi_ref1' : null,
  created: nowS,
  url: s.status === 'open' ? `http://checkout.test/pay/${s.id}` : null,
})

const server = createServer(async (req, res) => {
  await readBody(req)
  const path = new URL(req.url!, 'http://x').pathname
  calls.push(`${req.method} ${path}`)
  const send = (status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_1' })
    res.end(JSON.stringify(body))
  }
  const m = /^\/v1\/checkout\/sessions\/([^/]+)(\/expire)?$/.exec(path)
  if (req.method === 'POST' && path === '/v1/checkout/sessions') {
    const s = { id: `cs_test_${sessions.size + 1}`, status: 'open', payment_status: 'unpaid' }
    sessions.set(s.id, s)
    return send(200, sessionObject(s))
  }
  if (m) {
    const s = sessions.get(m[1]!)
    if (!s) return send(404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: 'No such checkout.session' } })
    if (m[2]) s.status = 'expired'
    return send(200, sessionObject(s))
  }
  if (req.method === 'GET' && path === '/v1/checkout/sessions')
    return send(200, { object: 'list', url: path, has_more: false, data: [...sessions.values()].map(sessionObject) })
  if (req.method === 'POST' && path === '/v1/refunds')
    return send(200, { id: 're_1', object: 'refund', amount: 400, status: 'succeeded', created: nowS, payment_intent: 'pi_ref1' })
  send(404, { error: { type: 'invalid_request_error', message: `no route ${path}` } })
})
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
t.teardown(() => new Promise<void>((r) => server.close(() => r())))
const port = (server.address() as { port: number }).port

const stripe = createStripeProvider(
  {
    secretKey: `sk_test_${'a'.repeat(24)}`,
    webhookSecret: `whsec_${'b'.repeat(32)}`,
    apiBase: `http://127.0.0.1:${port}`,
    currency: 'cny',
    methods: ['card'],
  },
  { publicUrl: 'http://pay.test', timeoutMs: 3000 },
)
const outTradeNo = 'P20260101000000REF1'
const input = { outTradeNo, amount: 1000, subject: '积分', channel: 'card', expireAt: new Date(Date.now() + 3600_000) }
const taken = () => calls.splice(0)

t.test('create answers the session id; asked again with it, the open session is retrieved, not made again', async (t) => {
  const created = await stripe.createPayment(input)
  t.match(created, { payType: 'jump', providerRef: 'cs_test_1', paymentUrl: 'http://checkout.test/pay/cs_test_1' })
  t.same(taken(), ['POST /v1/checkout/sessions'])
  const again = await stripe.createPayment({ ...input, providerRef: 'cs_test_1' })
  t.match(again, { providerRef: 'cs_test_1', paymentUrl: 'http://checkout.test/pay/cs_test_1' })
  t.same(taken(), ['GET /v1/checkout/sessions/cs_test_1'])
})

t.test('query and close by the session id: no list', async (t) => {
  t.match(await stripe.query(outTradeNo, 'cs_test_1'), { found: true, state: 'PENDING', providerStatus: 'open/unpaid' })
  t.same(taken(), ['GET /v1/checkout/sessions/cs_test_1'])
  t.same(await stripe.close(outTradeNo, 'cs_test_1'), { outcome: 'CLOSED' })
  t.same(taken(), ['GET /v1/checkout/sessions/cs_test_1', 'POST /v1/checkout/sessions/cs_test_1/expire'])
})

t.test('refund by the session id: its PaymentIntent, no list', async (t) => {
  sessions.set('cs_test_9', { id: 'cs_test_9', status: 'complete', payment_status: 'paid' })
  const r = await stripe.refund({ outTradeNo, refundNo: 'R1', amount: 400, providerRef: 'cs_test_9' })
  t.match(r, { state: 'SUCCEEDED', amount: 400 })
  t.same(taken(), ['GET /v1/checkout/sessions/cs_test_9', 'POST /v1/refunds'])
})

t.test('a session id of another trade is refused; without one, the sessions are searched', async (t) => {
  await t.rejects(stripe.query('P20260101000000OTHER', 'cs_test_1'), { name: 'ProviderError', message: 'Stripe 会话与订单号不符' })
  taken()
  t.match(await stripe.query(outTradeNo, null), { found: true })
  t.same(taken(), ['GET /v1/checkout/sessions'])
})
