/**
 * Provider API faults (`/control/faults`): control input checks, each mode on the real merchant API
 * routes of Alipay, WeChat Pay and Epay (slow answers normally, timeout closes the socket without
 * doing anything, 5xx is a 503, garbage is a 200 no JSON parser accepts), only the faulty operation
 * is hit, the cashier and the control API are never affected, and clearing brings normal answers back.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { controlJson, postForm } from './fixtures/harness.ts'
import { startWechatSandbox } from './fixtures/wechat.ts'

const EPAY_PID = '1001'
const EPAY_KEY = randomBytes(16).toString('hex')
const sb = await startWechatSandbox({ SANDBOX_EPAY_PID: EPAY_PID, SANDBOX_EPAY_KEY: EPAY_KEY })
t.teardown(() => sb.close())

const faults = (body?: unknown) => controlJson(sb.base, body === undefined ? 'GET' : 'POST', '/control/faults', body)
const clear = () => fetch(`${sb.base}/control/faults`, { method: 'DELETE' })
const uniq = (p: string) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
const isJson = (text: string) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** A fresh Alipay QR trade (precreate through alipay-sdk). */
async function alipayTrade(amount = '10.00') {
  const outTradeNo = uniq('F')
  const r = await sb.sdk.exec('alipay.trade.precreate', { bizContent: { out_trade_no: outTradeNo, total_amount: amount, subject: '积分' } })
  if (r.code !== '10000') throw new Error(JSON.stringify(r))
  return outTradeNo
}
const alipayTradeView = async (no: string) => (await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)).json
/** An unsigned gateway call: a fault answers before any check; without one it is refused (isv.*). */
const gateway = (method: string, signal?: AbortSignal) =>
  fetch(`${sb.base}/gateway.do?${new URLSearchParams({ method, app_id: sb.keys.alipay.appId })}`, { signal })

function epaySign(params: Record<string, string>) {
  const content = Object.keys(params)
    .filter((k) => params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
  return {
    ...params,
    sign: createHash('md5')
      .update(content + EPAY_KEY)
      .digest('hex'),
    sign_type: 'MD5',
  }
}
const epayQuery = (outTradeNo: string) =>
  fetch(`${sb.base}/api.php?${new URLSearchParams({ act: 'order', pid: EPAY_PID, key: EPAY_KEY, out_trade_no: outTradeNo })}`)
const epayCreate = (outTradeNo: string) =>
  postForm(
    `${sb.base}/mapi.php`,
    epaySign({
      pid: EPAY_PID,
      type: 'alipay',
      out_trade_no: outTradeNo,
      notify_url: 'http://127.0.0.1:9/notify',
      name: '积分',
      money: '1.00',
      clientip: '203.0.113.9',
    }),
  )
const wechatQuery = (no: string) =>
  fetch(`${sb.base}/v3/pay/transactions/out-trade-no/${no}?mchid=${sb.keys.wechat.mchId}`, { headers: { accept: 'application/json' } })

t.afterEach(async () => {
  await clear()
})

t.test('control input: bad values are 400 INVALID_PARAMS; all/all expands to the enabled operations; none and DELETE clear', async (t) => {
  t.same((await faults()).json, { faults: [] })
  const badBodies: unknown[] = [
    {},
    { provider: 'paypal', operation: 'query', mode: '5xx' },
    { provider: 'alipay', operation: 'pay', mode: '5xx' },
    { provider: 'alipay', operation: 'query', mode: 'broken' },
    { provider: 'alipay', operation: 'query', mode: '5xx', delayMs: 100 },
    { provider: 'alipay', operation: 'query', mode: 'slow', delayMs: -1 },
    { provider: 'alipay', operation: 'query', mode: 'slow', delayMs: 1.5 },
    { provider: 'alipay', operation: 'query', mode: 'timeout', delayMs: '100' },
    { provider: 'epay', operation: 'close', mode: '5xx' },
    [1, 2],
  ]
  for (const body of badBodies) {
    const r = await faults(body)
    t.equal(r.status, 400, JSON.stringify(body))
    t.equal(r.json?.error, 'INVALID_PARAMS', r.text)
  }
  const text = await fetch(`${sb.base}/control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"x"' })
  t.equal(text.status, 400)
  t.same((await faults()).json, { faults: [] }, 'nothing was set by the refused requests')

  const all = await faults({ provider: 'all', operation: 'all', mode: '5xx' })
  t.equal(all.status, 200, all.text)
  t.equal(all.json.faults.length, 12, '3 providers × 4 operations, Epay has no close, WeChat has its refund query apart')
  t.notOk(all.json.faults.some((f: { provider: string; operation: string }) => f.provider === 'epay' && f.operation === 'close'))
  const slow = await faults({ provider: 'wechat', operation: 'query', mode: 'slow' })
  t.match(
    slow.json.faults.find((f: { provider: string; operation: string }) => f.provider === 'wechat' && f.operation === 'query'),
    { mode: 'slow', delayMs: 2000 },
    'slow defaults to 2000 ms',
  )
  const timeout = await faults({ provider: 'alipay', operation: 'refund', mode: 'timeout' })
  t.match(
    timeout.json.faults.find((f: { provider: string; operation: string }) => f.provider === 'alipay' && f.operation === 'refund'),
    { mode: 'timeout', delayMs: 30000 },
    'timeout defaults to 30000 ms',
  )
  const none = await faults({ provider: 'all', operation: 'close', mode: 'none' })
  t.equal(none.json.faults.length, 10, 'mode none clears the named operation only')
  const del = await fetch(`${sb.base}/control/faults`, { method: 'DELETE' })
  t.equal(del.status, 200)
  t.same(await del.json(), { faults: [] })
  t.same((await faults()).json, { faults: [] })
})

t.test('429, 403, unsigned-404: the provider error (signed where it signs its errors) or a bare HTTP error; hits counted', async (t) => {
  await faults({ provider: 'all', operation: 'all', mode: '429' })
  const wq = await wechatQuery('WX123456789')
  t.equal(wq.status, 429)
  t.match(await wq.json(), { code: 'FREQUENCY_LIMITED' })
  t.ok(wq.headers.get('wechatpay-signature'), 'WeChat signs its rate-limit answer')
  const eq = await epayQuery('nope-123')
  t.equal(eq.status, 429)
  t.match(await eq.text(), /429/)
  await faults({ provider: 'wechat', operation: 'refund-query', mode: '403' })
  const r403 = await fetch(`${sb.base}/v3/refund/domestic/refunds/R12345678`)
  t.equal(r403.status, 403)
  t.match(await r403.json(), { code: 'NO_AUTH' })
  await faults({ provider: 'wechat', operation: 'refund-query', mode: 'unsigned-404' })
  const r404 = await fetch(`${sb.base}/v3/refund/domestic/refunds/R12345678`)
  t.equal(r404.status, 404)
  t.match(await r404.json(), { code: 'RESOURCE_NOT_EXISTS' })
  t.equal(r404.headers.get('wechatpay-signature'), null, 'unsigned')
  const listed = (await faults()).json.faults as { provider: string; operation: string; mode: string; hits: number }[]
  t.match(
    listed.find((f) => f.provider === 'wechat' && f.operation === 'refund-query'),
    { mode: 'unsigned-404', hits: 1 },
  )
  t.match(
    listed.find((f) => f.provider === 'wechat' && f.operation === 'query'),
    { mode: '429', hits: 1 },
  )
})

t.test('5xx: a 503 with a provider-ish body on the faulty operation only; cashier and control unaffected', async (t) => {
  const no = await alipayTrade()
  await faults({ provider: 'alipay', operation: 'query', mode: '5xx' })
  const q = await gateway('alipay.trade.query')
  t.equal(q.status, 503)
  t.match(await q.json(), { error_response: { code: '20000', sub_code: 'isp.unknow-error' } })
  await t.rejects(sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }), 'alipay-sdk does not take it as an answer')
  t.match((await faults()).json.faults, [{ provider: 'alipay', operation: 'query', mode: '5xx', hits: 2 }], 'both calls were hit')
  // Other operations and other providers answer normally.
  const close = await gateway('alipay.trade.close')
  t.equal(close.status, 200)
  t.match(await close.json(), { alipay_trade_close_response: { sub_code: /^isv\./ } }, 'close is not faulty: the gateway checks run')
  t.match(await (await epayQuery('nope-123')).json(), { code: -1 }, 'epay is not faulty')
  // Cashier and control API never fail.
  const view = await alipayTradeView(no)
  t.equal(view.status, 'WAIT_BUYER_PAY')
  t.equal((await fetch(view.cashierUrl.replace(sb.publicUrl, sb.base))).status, 200, 'the cashier page opens')
  t.equal((await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/pay`, { notify: false })).status, 200)

  await faults({ provider: 'all', operation: 'all', mode: '5xx' })
  const wq = await wechatQuery('WX123456789')
  t.equal(wq.status, 503)
  t.match(await wq.json(), { code: 'SYSTEM_ERROR' })
  const eq = await epayQuery('nope-123')
  t.equal(eq.status, 503)
  t.match(await eq.text(), /503 Service Temporarily Unavailable/)
  const ec = await epayCreate(uniq('E'))
  t.equal(ec.status, 503)
  const refund = await fetch(`${sb.base}/api.php?act=refund`, { method: 'POST', body: new URLSearchParams({ pid: EPAY_PID }) })
  t.equal(refund.status, 503, 'epay refund')
  const wrefund = await fetch(`${sb.base}/v3/refund/domestic/refunds`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(wrefund.status, 503, 'wechat refund')
  const wclose = await fetch(`${sb.base}/v3/pay/transactions/out-trade-no/WX123456789/close`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(wclose.status, 503, 'wechat close')
  const wcreate = await fetch(`${sb.base}/v3/pay/transactions/native`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(wcreate.status, 503, 'wechat create')
  // The bill download-URL method is not one of the four operations.
  const bill = await gateway('alipay.data.dataservice.bill.downloadurl.query')
  t.equal(bill.status, 200)
  t.equal((await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)).status, 200)

  await clear()
  const after = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } })
  t.match(after, { code: '10000', tradeStatus: 'TRADE_SUCCESS' }, 'cleared: normal answers again')
  const wAfter = await wechatQuery('WX123456789')
  t.equal(wAfter.status, 401, 'cleared: the unsigned WeChat call meets the signature check again')
})

t.test('garbage: HTTP 200 with a body that is not JSON', async (t) => {
  const no = await alipayTrade()
  await faults({ provider: 'all', operation: 'query', mode: 'garbage' })
  const q = await gateway('alipay.trade.query')
  t.equal(q.status, 200)
  const text = await q.text()
  t.match(text, /^\{"alipay_trade_query_response":/)
  t.notOk(isJson(text))
  await t.rejects(sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }))
  const w = await wechatQuery('WX123456789')
  t.equal(w.status, 200)
  t.notOk(isJson(await w.text()))
  const e = await epayQuery(no)
  t.equal(e.status, 200)
  t.notOk(isJson(await e.text()))
  const create = await epayCreate(uniq('E'))
  t.ok(isJson(await create.text()), 'create is not faulty')
})

t.test('slow: waits delayMs, then the operation runs and answers normally', async (t) => {
  const no = await alipayTrade('20.00')
  await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/pay`, { notify: false })
  await faults({ provider: 'alipay', operation: 'refund', mode: 'slow', delayMs: 300 })
  const started = Date.now()
  const r = await sb.sdk.exec('alipay.trade.refund', { bizContent: { out_trade_no: no, refund_amount: '5.00', out_request_no: 'r1' } })
  const elapsed = Date.now() - started
  t.match(r, { code: '10000', fundChange: 'Y', refundFee: '5.00' })
  t.ok(elapsed >= 290, `held at least delayMs before answering (${elapsed} ms)`)
  t.equal((await alipayTradeView(no)).refundedAmount, '5.00')
})

t.test('timeout: the socket is closed without an answer and nothing happens at the provider', async (t) => {
  const no = await alipayTrade('20.00')
  await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/pay`, { notify: false })
  await faults({ provider: 'alipay', operation: 'refund', mode: 'timeout', delayMs: 200 })
  await t.rejects(sb.sdk.exec('alipay.trade.refund', { bizContent: { out_trade_no: no, refund_amount: '5.00', out_request_no: 'r1' } }))
  t.equal((await alipayTradeView(no)).refundedAmount, '0.00', 'not refunded')
  const raw = gateway('alipay.trade.refund')
  await t.rejects(raw, 'fetch sees the connection closed')

  // The default hold (30 s) outlasts the client: the client gives up, the sandbox stays responsive.
  await faults({ provider: 'epay', operation: 'create', mode: 'timeout' })
  const outTradeNo = uniq('E')
  await t.rejects(
    fetch(`${sb.base}/mapi.php`, { method: 'POST', body: new URLSearchParams({ pid: EPAY_PID }), signal: AbortSignal.timeout(300) }),
  )
  t.equal((await faults()).json.faults.length, 2, 'the control API answers while a request is held')
  t.match(await (await epayQuery(outTradeNo)).json(), { code: -1 }, 'nothing was created')

  await clear()
  const r = await sb.sdk.exec('alipay.trade.refund', { bizContent: { out_trade_no: no, refund_amount: '5.00', out_request_no: 'r1' } })
  t.match(r, { code: '10000', refundFee: '5.00' }, 'cleared: the same refund goes through once')
  t.equal((await alipayTradeView(no)).refundedAmount, '5.00')
})

t.test('closing the app releases held requests at once', async (t) => {
  await faults({ provider: 'wechat', operation: 'query', mode: 'timeout', delayMs: 600_000 })
  const held = wechatQuery('WX123456789').then(
    () => 'answered',
    () => 'closed',
  )
  // Wait until the request is being held (the hook logs; the list answers meanwhile).
  await new Promise((r) => setTimeout(r, 200))
  await sb.restart()
  t.equal(await held, 'closed')
  t.same((await faults()).json, { faults: [] }, 'faults live in memory: a restart clears them')
})
