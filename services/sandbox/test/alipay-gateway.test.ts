/**
 * The Alipay openapi gateway, refereed by alipay-sdk: signed JSON answers that `exec(…, {validateSign: true})`
 * accepts, request signature verification, trade lifecycle (precreate/query/close/refund/refund query),
 * and bad input that must never produce a 500. Also the config's refusal to run in production.
 */
import t from 'tap'
import { createSign, generateKeyPairSync } from 'node:crypto'
import { ConfigError } from '@paysys/config'
import { startService, freePort } from '@paysys/devkit'
import { loadConfig } from '../src/config.ts'
import { scaledSchedule } from '../src/alipay/notify.ts'
import { parseExpiry } from '../src/alipay/methods.ts'
import { controlJson, postForm, sdkFor, sleep, startSandbox, type Sandbox } from './fixtures/harness.ts'

const sb: Sandbox = await startSandbox()
t.teardown(() => sb.close())

const uniq = (p: string) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`

/** Signs raw gateway params the way a merchant would (for requests alipay-sdk cannot produce). */
function signedParams(params: Record<string, string>, privateKey = sb.keys.alipay.merchantPrivateKey): Record<string, string> {
  const all = {
    app_id: sb.keys.alipay.appId,
    charset: 'utf-8',
    sign_type: 'RSA2',
    timestamp: '2026-01-01 12:00:00',
    version: '1.0',
    ...params,
  }
  const content = Object.keys(all)
    .sort()
    .map((k) => `${k}=${all[k as keyof typeof all]}`)
    .join('&')
  return { ...all, sign: createSign('RSA-SHA256').update(content, 'utf8').sign(privateKey, 'base64') }
}

/** The buyer scans a QR code with the simulated scanner (which opens the cashier): the trade now exists for the API. */
async function scan(qrCode: string) {
  const res = await fetch(`${sb.base}/scan?code=${encodeURIComponent(qrCode)}`, { redirect: 'manual' })
  if (res.status !== 302) throw new Error(`scan: ${res.status}`)
}

/** A precreate the buyer has scanned. */
async function precreateScanned(bizContent: Record<string, string>) {
  const pre = await sb.sdk.exec('alipay.trade.precreate', { bizContent }, { validateSign: true })
  if (pre.code !== '10000') throw new Error(`precreate: ${pre.subCode}`)
  await scan(pre.qrCode)
  return pre
}

async function rawGateway(fields: Record<string, string>) {
  const res = await fetch(`${sb.base}/gateway.do`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })
  return { status: res.status, text: await res.text() }
}

t.test('precreate, query, pay, query: signed answers accepted by alipay-sdk with validateSign', async (t) => {
  const outTradeNo = uniq('Q')
  const pre = await sb.sdk.exec(
    'alipay.trade.precreate',
    { notifyUrl: 'http://127.0.0.1:9/notify', bizContent: { out_trade_no: outTradeNo, total_amount: '25.00', subject: '积分 100 个' } },
    { validateSign: true },
  )
  t.equal(pre.code, '10000')
  t.equal(pre.msg, 'Success')
  t.equal(pre.outTradeNo, outTradeNo)
  t.match(pre.qrCode, new RegExp(`^${sb.publicUrl}/qr/alipay/[a-z0-9]{24}$`))

  const again = await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: outTradeNo, total_amount: '25', subject: 'x' } },
    { validateSign: true },
  )
  t.equal(again.qrCode, pre.qrCode, 'same out_trade_no + same amount reuses the trade and its QR code')
  const other = await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: outTradeNo, total_amount: '25.01', subject: 'x' } },
    { validateSign: true },
  )
  t.equal(other.code, '40004')
  t.equal(other.subCode, 'ACQ.CONTEXT_INCONSISTENT', 'same out_trade_no with another amount is refused')

  // As at Alipay, the trade exists for the API only once the buyer has scanned the QR code.
  const unscanned = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: outTradeNo } }, { validateSign: true })
  t.equal(unscanned.code, '40004')
  t.equal(unscanned.subCode, 'ACQ.TRADE_NOT_EXIST', 'not scanned yet: no such trade')
  await scan(pre.qrCode)
  const q1 = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: outTradeNo } }, { validateSign: true })
  t.equal(q1.code, '10000')
  t.equal(q1.tradeStatus, 'WAIT_BUYER_PAY')
  t.equal(q1.totalAmount, '25.00')
  t.equal(q1.buyerPayAmount, '0.00')
  t.notOk(q1.sendPayDate)
  t.match(q1.tradeNo, /^\d{8}22001\d{15}$/)

  const paid = await controlJson(sb.base, 'POST', `/control/alipay/trades/${outTradeNo}/pay`, { notify: false })
  t.equal(paid.status, 200)
  t.equal(paid.json.trade.status, 'TRADE_SUCCESS')
  t.equal(paid.json.returnUrl, null, 'a QR trade has no return URL')

  const q2 = await sb.sdk.exec('alipay.trade.query', { bizContent: { trade_no: q1.tradeNo } }, { validateSign: true })
  t.equal(q2.tradeStatus, 'TRADE_SUCCESS')
  t.equal(q2.outTradeNo, outTradeNo, 'query by trade_no')
  t.equal(q2.buyerPayAmount, '25.00')
  t.match(q2.sendPayDate, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
  t.match(q2.buyerLogonId, /\*\*\*\*/)

  const paidAgain = await controlJson(sb.base, 'POST', `/control/alipay/trades/${outTradeNo}/pay`, {})
  t.equal(paidAgain.status, 200)
  t.equal(paidAgain.json.alreadyPaid, true, 'paying twice is idempotent')

  const pre2 = await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: outTradeNo, total_amount: '25.00', subject: 'x' } },
    { validateSign: true },
  )
  t.equal(pre2.subCode, 'ACQ.TRADE_HAS_SUCCESS', 'a paid out_trade_no cannot be started again')

  const none = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: uniq('NONE') } }, { validateSign: true })
  t.equal(none.code, '40004')
  t.equal(none.msg, 'Business Failed')
  t.equal(none.subCode, 'ACQ.TRADE_NOT_EXIST')
})

t.test('close: unpaid → TRADE_CLOSED; paid or closed → ACQ.TRADE_STATUS_ERROR; a closed trade cannot be paid', async (t) => {
  const a = uniq('C')
  await precreateScanned({ out_trade_no: a, total_amount: '1.00', subject: 'c' })
  const closed = await sb.sdk.exec('alipay.trade.close', { bizContent: { out_trade_no: a } }, { validateSign: true })
  t.equal(closed.code, '10000')
  t.equal(closed.outTradeNo, a)
  t.match(closed.tradeNo, /^\d{28}$/)
  const q = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: a } }, { validateSign: true })
  t.equal(q.tradeStatus, 'TRADE_CLOSED')
  const twice = await sb.sdk.exec('alipay.trade.close', { bizContent: { out_trade_no: a } }, { validateSign: true })
  t.equal(twice.subCode, 'ACQ.TRADE_STATUS_ERROR')
  const pay = await controlJson(sb.base, 'POST', `/control/alipay/trades/${a}/pay`, {})
  t.equal(pay.status, 409, 'control pay of a closed trade is refused')
  const reopen = await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: a, total_amount: '1.00', subject: 'c' } },
    { validateSign: true },
  )
  t.equal(reopen.subCode, 'ACQ.TRADE_HAS_CLOSE')

  const b = uniq('C')
  await precreateScanned({ out_trade_no: b, total_amount: '1.00', subject: 'c' })
  await controlJson(sb.base, 'POST', `/control/alipay/trades/${b}/pay`, { notify: false })
  const closePaid = await sb.sdk.exec('alipay.trade.close', { bizContent: { out_trade_no: b } }, { validateSign: true })
  t.equal(closePaid.code, '40004')
  t.equal(closePaid.subCode, 'ACQ.TRADE_STATUS_ERROR', 'a paid trade cannot be closed')
  const ctl = await controlJson(sb.base, 'POST', `/control/alipay/trades/${b}/close`)
  t.equal(ctl.status, 409)
  const missing = await sb.sdk.exec('alipay.trade.close', { bizContent: { out_trade_no: uniq('NONE') } }, { validateSign: true })
  t.equal(missing.subCode, 'ACQ.TRADE_NOT_EXIST')
})

t.test('a QR code not scanned yet: query, close and refund answer ACQ.TRADE_NOT_EXIST, and the close does not stop it', async (t) => {
  const no = uniq('U')
  const pre = await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: no, total_amount: '2.00', subject: 'u' } },
    { validateSign: true },
  )
  t.equal(pre.code, '10000')
  for (const [method, biz] of [
    ['alipay.trade.query', {}],
    ['alipay.trade.close', {}],
    ['alipay.trade.refund', { refund_amount: '2.00', out_request_no: 'U1' }],
    ['alipay.trade.fastpay.refund.query', { out_request_no: 'U1' }],
  ] as const) {
    const res = await sb.sdk.exec(method, { bizContent: { out_trade_no: no, ...biz } }, { validateSign: true })
    t.equal(res.subCode, 'ACQ.TRADE_NOT_EXIST', `${method} before the scan`)
  }
  const ctl = await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)
  t.equal(ctl.json.status, 'WAIT_BUYER_PAY', 'the close changed nothing')
  // The buyer scans the old QR code after the merchant's close: it is still payable.
  await scan(pre.qrCode)
  const paid = await postForm(`${sb.base}/cashier/${ctl.json.paymentId}/pay`)
  t.equal(paid.status, 200)
  const q = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true })
  t.equal(q.tradeStatus, 'TRADE_SUCCESS')
})

t.test('refund: partial then full, never above paid − refunded, idempotent per out_request_no', async (t) => {
  const no = uniq('R')
  await precreateScanned({ out_trade_no: no, total_amount: '25.00', subject: 'r' })
  const early = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '1.00', out_request_no: 'R0' } },
    { validateSign: true },
  )
  t.equal(early.subCode, 'ACQ.TRADE_STATUS_ERROR', 'an unpaid trade cannot be refunded')
  await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/pay`, { notify: false })

  const r1 = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '10.00', out_request_no: 'R1' } },
    { validateSign: true },
  )
  t.equal(r1.code, '10000')
  t.equal(r1.refundFee, '10.00')
  t.equal(r1.fundChange, 'Y')
  t.match(r1.gmtRefundPay, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
  const replay = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '10.00', out_request_no: 'R1' } },
    { validateSign: true },
  )
  t.equal(replay.code, '10000')
  t.equal(replay.fundChange, 'N', 'the same out_request_no again changes no funds')
  t.equal(replay.refundFee, '10.00')
  const discordant = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '11.00', out_request_no: 'R1' } },
    { validateSign: true },
  )
  t.equal(discordant.subCode, 'ACQ.DISCORDANT_REPEAT_REQUEST')
  const tooMuch = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '15.01', out_request_no: 'R2' } },
    { validateSign: true },
  )
  t.equal(tooMuch.code, '40004')
  t.equal(tooMuch.subCode, 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', 'more than paid − refunded is refused')
  const r2 = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '15.00', out_request_no: 'R2' } },
    { validateSign: true },
  )
  t.equal(r2.code, '10000')
  t.equal(r2.refundFee, '25.00', 'refund_fee is the cumulative refunded amount')
  const q = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true })
  t.equal(q.tradeStatus, 'TRADE_CLOSED', 'a fully refunded trade is closed')
  const r3 = await sb.sdk.exec(
    'alipay.trade.refund',
    { bizContent: { out_trade_no: no, refund_amount: '0.01', out_request_no: 'R3' } },
    { validateSign: true },
  )
  t.equal(r3.code, '40004', 'a third refund after the full amount is refused')
  t.equal(r3.subCode, 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL')

  const rq = await sb.sdk.exec(
    'alipay.trade.fastpay.refund.query',
    { bizContent: { out_trade_no: no, out_request_no: 'R1' } },
    { validateSign: true },
  )
  t.equal(rq.code, '10000')
  t.equal(rq.refundAmount, '10.00')
  t.equal(rq.totalAmount, '25.00')
  t.equal(rq.refundStatus, 'REFUND_SUCCESS')
  const rqNone = await sb.sdk.exec(
    'alipay.trade.fastpay.refund.query',
    { bizContent: { out_trade_no: no, out_request_no: 'R9' } },
    { validateSign: true },
  )
  t.equal(rqNone.code, '10000')
  t.notOk(rqNone.refundStatus, 'an unknown refund request answers without refund fields')
  t.notOk(rqNone.refundAmount)
  const [row] = await sb.sql<{ refunded_amount: number }[]>`select refunded_amount from alipay_trades where out_trade_no = ${no}`
  t.equal(row!.refunded_amount, 2500, 'stored in fen')
})

t.test('signatures: a wrong merchant key is refused; a wrong platform key makes the SDK reject our answer', async (t) => {
  const other = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  const forger = sdkFor(sb.port, sb.keys.alipay, { privateKey: other.privateKey })
  const no = uniq('S')
  const res = await forger.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: no, total_amount: '1.00', subject: 's' } },
    { validateSign: true },
  )
  t.equal(res.code, '40002')
  t.equal(res.msg, 'Invalid Arguments')
  t.equal(res.subCode, 'isv.invalid-signature')
  t.match(res.subMsg, /验签出错/)
  const ctl = await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)
  t.equal(ctl.status, 404, 'nothing was created')

  const suspicious = sdkFor(sb.port, sb.keys.alipay, { alipayPublicKey: other.publicKey })
  await t.rejects(
    suspicious.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true }),
    /验签失败/,
    'an answer verified with another platform key fails',
  )

  const wrongApp = sdkFor(sb.port, sb.keys.alipay, { appId: '2021999999999999' })
  const badApp = await wrongApp.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true })
  t.equal(badApp.subCode, 'isv.invalid-app-id')

  const unknown = await sb.sdk.exec('alipay.trade.nonexistent', { bizContent: { out_trade_no: no } })
  t.equal(unknown.subCode, 'isv.invalid-method')

  // A signature over other values: biz_content altered after signing.
  const fields = signedParams({ method: 'alipay.trade.query', biz_content: JSON.stringify({ out_trade_no: no }) })
  fields.biz_content = JSON.stringify({ out_trade_no: `${no}x` })
  const altered = await rawGateway(fields)
  t.equal(altered.status, 200)
  t.match(JSON.parse(altered.text).alipay_trade_query_response, { code: '40002', sub_code: 'isv.invalid-signature' })
  t.match(altered.text, /,"sign":"[A-Za-z0-9+/=]+"}$/, 'sign comes last')

  // The same request, correctly signed, split between query string and body, is accepted.
  const ok = signedParams({ method: 'alipay.trade.query', biz_content: JSON.stringify({ out_trade_no: no }) })
  const { biz_content, ...common } = ok
  const split = await fetch(`${sb.base}/gateway.do?${new URLSearchParams(common)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ biz_content: biz_content! }).toString(),
  })
  t.match(JSON.parse(await split.text()).alipay_trade_query_response, { code: '40004', sub_code: 'ACQ.TRADE_NOT_EXIST' })
})

t.test('bad input to the gateway never gives a 500', async (t) => {
  const expectSub = async (fields: Record<string, string>, sub: string, msg?: string) => {
    const r = await rawGateway(fields)
    t.equal(r.status, 200, `${sub}: HTTP 200 like Alipay`)
    const parsed = JSON.parse(r.text)
    const node = Object.entries(parsed).find(([k]) => k.endsWith('_response'))?.[1] as Record<string, string>
    t.equal(node.sub_code, sub, msg ?? sub)
    t.type(parsed.sign, 'string', 'error answers are signed too')
  }
  await expectSub({}, 'isv.missing-method')
  await expectSub({ method: 'alipay.trade.query' }, 'isv.missing-app-id')
  await expectSub({ method: 'alipay.trade.query', app_id: sb.keys.alipay.appId }, 'isv.missing-signature-type')
  await expectSub({ ...signedParams({ method: 'alipay.trade.query' }), sign_type: 'RSA' }, 'isv.invalid-signature-type')
  await expectSub(signedParams({ method: 'alipay.trade.query', timestamp: 'yesterday' }), 'isv.invalid-timestamp')
  await expectSub(signedParams({ method: 'alipay.trade.query', biz_content: '{not json' }), 'ACQ.INVALID_PARAMETER')
  await expectSub(signedParams({ method: 'alipay.trade.query', biz_content: '[1,2]' }), 'ACQ.INVALID_PARAMETER')
  await expectSub(
    signedParams({ method: 'alipay.trade.query', biz_content: '{}' }),
    'ACQ.INVALID_PARAMETER',
    'query needs a trade reference',
  )
  await expectSub({ ...signedParams({ method: 'alipay.trade.query' }), sign: '%%%not base64' }, 'isv.invalid-signature')
  for (const amount of ['-1', '0', '0.00', '1.234', 'abc', '1e3', '100000000.01', '']) {
    await expectSub(
      signedParams({
        method: 'alipay.trade.precreate',
        biz_content: JSON.stringify({ out_trade_no: uniq('B'), total_amount: amount, subject: 's' }),
      }),
      'ACQ.INVALID_PARAMETER',
      `amount ${JSON.stringify(amount)} refused`,
    )
  }
  await expectSub(
    signedParams({
      method: 'alipay.trade.precreate',
      biz_content: JSON.stringify({ out_trade_no: 'bad no!', total_amount: '1', subject: 's' }),
    }),
    'ACQ.INVALID_PARAMETER',
  )
  await expectSub(
    signedParams({
      method: 'alipay.trade.precreate',
      biz_content: JSON.stringify({ out_trade_no: uniq('B'), total_amount: '1', subject: { a: 1 } }),
    }),
    'ACQ.INVALID_PARAMETER',
  )
  await expectSub(
    signedParams({
      method: 'alipay.trade.precreate',
      notify_url: 'javascript:alert(1)',
      biz_content: JSON.stringify({ out_trade_no: uniq('B'), total_amount: '1', subject: 's' }),
    }),
    'ACQ.INVALID_PARAMETER',
  )
  await expectSub(
    signedParams({ method: 'alipay.trade.refund', biz_content: JSON.stringify({ out_trade_no: uniq('B'), refund_amount: 'NaN' }) }),
    'ACQ.TRADE_NOT_EXIST',
  )
  // Conflicting duplicates between query and body.
  const dup = await fetch(`${sb.base}/gateway.do?method=alipay.trade.query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'method=alipay.trade.close',
  })
  t.equal(dup.status, 200)
  t.match(await dup.text(), /isv\.invalid-parameter/)

  const weird: [string, RequestInit][] = [
    ['/gateway.do', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{broken' }],
    ['/gateway.do', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' }],
    ['/gateway.do', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":{"x":1}}' }],
    ['/gateway.do', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }],
    ['/gateway.do', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=' + 'x'.repeat(70_000) }],
    ['/gateway.do?method=alipay.trade.query&method=alipay.trade.close', { method: 'GET' }],
    ['/gateway.do?method=toString', { method: 'GET' }],
    ['/gateway.do?method=__proto__&__proto__=1', { method: 'GET' }],
    ['/gateway.do?method=alipay.trade.page.pay', { method: 'GET' }],
  ]
  for (const [path, init] of weird) {
    const r = await fetch(`${sb.base}${path}`, init)
    t.ok(r.status < 500, `${init.method} ${path.slice(0, 60)} ${String(init.body ?? '').slice(0, 20)} → ${r.status}`)
  }
})

t.test('expiry: an unpaid trade past time_expire is closed and cannot be paid', async (t) => {
  const no = uniq('E')
  const china = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
  const pre = await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: no, total_amount: '1.00', subject: 'e', time_expire: china(Date.now() + 1500) } },
    { validateSign: true },
  )
  t.equal(pre.code, '10000')
  await scan(pre.qrCode)
  const q1 = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true })
  t.equal(q1.tradeStatus, 'WAIT_BUYER_PAY')
  await sleep(2100)
  const q2 = await sb.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true })
  t.equal(q2.tradeStatus, 'TRADE_CLOSED', 'closed once time_expire has passed')
  const ctl = await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)
  const pay = await postForm(`${sb.base}/cashier/${ctl.json.paymentId}/pay`)
  t.equal(pay.status, 409)

  // A QR code lives two hours at most, whatever time_expire asks for; a page trade as long as asked.
  const long = uniq('L')
  const farAway = Date.now() + 5 * 3600_000
  await sb.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: long, total_amount: '1.00', subject: 'l', time_expire: china(farAway) } },
    { validateSign: true },
  )
  const [qr] = await sb.sql<
    { expire_at: Date; created_at: Date }[]
  >`select expire_at, created_at from alipay_trades where out_trade_no = ${long}`
  t.ok(qr!.expire_at.getTime() <= qr!.created_at.getTime() + 2 * 3600_000 + 1000, 'the QR code dies after two hours')
  t.ok(qr!.expire_at.getTime() >= qr!.created_at.getTime() + 2 * 3600_000 - 1000)

  const now = Date.UTC(2026, 0, 1, 4, 0, 0) // 12:00 in China
  t.equal(parseExpiry({ timeout_express: '90m' }, now)?.getTime(), now + 90 * 60_000)
  t.equal(parseExpiry({ timeout_express: '2h' }, now)?.getTime(), now + 2 * 3600_000)
  t.equal(parseExpiry({ timeout_express: '1c' }, now)?.toISOString(), '2026-01-01T16:00:00.000Z', '1c = end of the China day')
  t.equal(
    parseExpiry({ time_expire: '2026-01-01 12:30:00', timeout_express: '1d' }, now)?.toISOString(),
    '2026-01-01T04:30:00.000Z',
    'time_expire wins',
  )
  t.equal(parseExpiry({}, now), null)
  for (const bad of [
    { timeout_express: '16d' },
    { timeout_express: '0m' },
    { timeout_express: '5x' },
    { time_expire: '2026-13-01 00:00:00' },
    { time_expire: 'soon' },
  ]) {
    t.throws(() => parseExpiry(bad, now), { message: /^ACQ\.INVALID_PARAMETER/ }, JSON.stringify(bad))
  }
})

t.test('the retry schedule is Alipay’s, scaled', async (t) => {
  t.same(scaledSchedule({ timeFactor: 0.01, minRetryMs: 200 }), [2400, 6000, 6000, 36000, 72000, 216000, 540000])
  t.same(scaledSchedule({ timeFactor: 1, minRetryMs: 200 }), [240000, 600000, 600000, 3600000, 7200000, 21600000, 54000000])
  t.same(scaledSchedule({ timeFactor: 0, minRetryMs: 200 }), [200, 200, 200, 200, 200, 200, 200], 'never faster than the minimum')
})

t.test('config: refuses production, partial provider config and bad keys', async (t) => {
  const good = {
    DATABASE_URL: 'postgres://x@127.0.0.1/db',
    SANDBOX_ALIPAY_APP_ID: sb.keys.alipay.appId,
    SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY: sb.keys.alipay.merchantPublicKey,
    SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY: sb.keys.alipay.platformPrivateKey,
  }
  const cfg = loadConfig(good)
  t.equal(cfg.port, 8090)
  t.equal(cfg.publicUrl, 'http://localhost:8090')
  t.equal(cfg.timeFactor, 0.01)
  t.ok(Object.isFrozen(cfg))
  t.throws(() => loadConfig({ ...good, NODE_ENV: 'production' }), {
    name: 'ConfigError',
    message: /refuses to run with NODE_ENV=production/,
  })
  t.throws(() => loadConfig({ ...good, NODE_ENV: 'production' }), ConfigError)
  t.throws(() => loadConfig({ ...good, SANDBOX_ALIPAY_APP_ID: undefined }), /set all of/)
  t.throws(() => loadConfig({ ...good, SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY: 'nope' }), /PLATFORM_PRIVATE_KEY/)
  t.throws(() => loadConfig({ ...good, SANDBOX_TIME_FACTOR: 'fast' }), /SANDBOX_TIME_FACTOR/)
  t.throws(() => loadConfig({}), /DATABASE_URL/)
  t.equal(loadConfig({ DATABASE_URL: 'postgres://x@h/d' }).alipay, null, 'no provider configured: disabled')

  const port = await freePort()
  const real = await startService(
    'sandbox',
    { ...good, PORT: String(port), DATABASE_URL: sb.dbUrl, LOG_LEVEL: 'warn' },
    { timeoutMs: 30_000 },
  )
  try {
    const ready = await fetch(`${real.url}/readyz`)
    t.equal(ready.status, 200, 'the real entry point migrates, listens and is ready')
    const q = await sdkFor(port, sb.keys.alipay).exec(
      'alipay.trade.query',
      { bizContent: { out_trade_no: 'NONE1' } },
      { validateSign: true },
    )
    t.equal(q.subCode, 'ACQ.TRADE_NOT_EXIST')
  } finally {
    await real.stop()
  }
  await t.rejects(
    startService('sandbox', { ...good, PORT: String(port), DATABASE_URL: sb.dbUrl, NODE_ENV: 'production' }, { timeoutMs: 20_000 }),
    /exited with 1[\s\S]*production/,
    'the server process exits 1 with a clear message',
  )
})
