/**
 * WeChat Pay v3 in the pay service: pure transformers and signature checks, configuration, and
 * the adapter through the service API and the notify route (inject, real database). Provider
 * calls go to a stand-in for api.mch.weixin.qq.com that signs like WeChat (./fixtures/wechat.ts);
 * the sandbox-backed end-to-end flows are in wechat-sandbox.test.ts.
 */
import t from 'tap'
import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto'
import { ConfigError } from '@paysys/config'
import type { PaymentEvent } from '@paysys/contracts'
import { loadConfig } from '../src/config.ts'
import { decryptResource, platformCertFromPem, verifySignedMessage, wechatPublicKeyFromPem } from '../src/providers/wechat/signature.ts'
import {
  WECHAT_TRADE_STATES,
  createProblem,
  fromWechatTime,
  refundFromAnswer,
  refundFromNotice,
  wechatExpiry,
  refundRefusedForGood,
  toWechatTime,
  tradeFromTransaction,
  wechatFen,
  wechatRefundState,
  wechatTradeState,
} from '../src/providers/wechat/transformers.ts'
import { createRequest, setupPay, type PayHarness } from './helpers.ts'
import {
  encrypt,
  paidTransaction,
  postWechatNotify,
  signedHeaders,
  startFakeWechat,
  wechatNotify,
  wechatPayEnv,
  type FakeCall,
  type FakeReply,
} from './fixtures/wechat.ts'

t.test('transformers: one exhaustive trade_state mapping, fen integers only, times', async (t) => {
  const expected: Record<(typeof WECHAT_TRADE_STATES)[number], string> = {
    SUCCESS: 'SUCCEEDED',
    REFUND: 'CLOSED',
    NOTPAY: 'PENDING',
    CLOSED: 'CLOSED',
    REVOKED: 'CLOSED',
    USERPAYING: 'PENDING',
    PAYERROR: 'PENDING',
  }
  for (const s of WECHAT_TRADE_STATES) t.equal(wechatTradeState(s), expected[s], s)
  for (const s of ['success', 'PAID', '', null, 1, undefined])
    t.equal(wechatTradeState(s), 'UNKNOWN', `unknown ${String(s)} is never a payment`)

  t.equal(wechatFen(2500), 2500)
  for (const v of [25.5, '2500', 0, -1, NaN, 1e20, null]) t.equal(wechatFen(v), null, `not fen: ${String(v)}`)

  t.equal(toWechatTime(new Date('2024-05-01T04:00:04.123Z')), '2024-05-01T12:00:04+08:00')
  t.equal(fromWechatTime('2024-05-01T12:00:04+08:00')!.toISOString(), '2024-05-01T04:00:04.000Z')
  t.equal(fromWechatTime('2024-05-01 12:00:04'), null)

  const keys = { mchId: '1900000001', appId: 'wx0000000000000001' } as never
  const paid = paidTransaction(keys, { out_trade_no: 'P1234567', total: 990 })
  t.match(tradeFromTransaction(paid), { outTradeNo: 'P1234567', state: 'SUCCEEDED', amount: 990, tradeNo: paid.transaction_id })
  t.equal(tradeFromTransaction({ ...paid, transaction_id: undefined }), null, 'a payment needs a transaction_id')
  t.equal(tradeFromTransaction({ ...paid, amount: { total: 9.9 } }), null, 'fractional fen is malformed')
  t.equal(tradeFromTransaction({ ...paid, amount: { total: 990, currency: 'USD' } }), null)
  t.match(tradeFromTransaction({ out_trade_no: 'P1234567', trade_state: 'NOTPAY', amount: { total: 990 } }), {
    state: 'PENDING',
    tradeNo: null,
  })

  t.match(createProblem({ channel: 'jsapi' }), /openid/)
  t.match(createProblem({ channel: 'h5' }), /clientIp/)
  t.equal(createProblem({ channel: 'jsapi', openid: 'o1' }), null)
  t.equal(createProblem({ channel: 'native' }), null)

  t.notOk(refundRefusedForGood(500, 'SYSTEM_ERROR'))
  t.notOk(refundRefusedForGood(403, 'NOT_ENOUGH'), "the merchant's balance is short: later")
  t.notOk(refundRefusedForGood(429, 'FREQUENCY_LIMITED'))
  t.notOk(refundRefusedForGood(403, 'NO_AUTH'), 'permissions can be granted: later, with the same out_refund_no')
  t.notOk(refundRefusedForGood(404, 'RESOURCE_NOT_EXISTS'), 'a 404 proves nothing about an earlier create')
  t.ok(refundRefusedForGood(400, 'INVALID_REQUEST'))
  t.ok(refundRefusedForGood(400, 'PARAM_ERROR'))
  t.ok(refundRefusedForGood(403, 'USER_ACCOUNT_ABNORMAL'))
  t.equal(wechatRefundState('SUCCESS'), 'SUCCEEDED')
  t.equal(wechatRefundState('ABNORMAL'), 'ABNORMAL', 'parked at WeChat: not given up')
  t.equal(wechatRefundState('CLOSED'), 'FAILED')
  t.equal(wechatRefundState('WHATEVER'), 'PENDING')
  const now = Date.parse('2026-01-01T00:00:00.500Z')
  const in5h = new Date(now + 5 * 3600_000)
  t.same(wechatExpiry('native', in5h, now), new Date(Date.parse('2026-01-01T02:00:00Z')), 'a code_url lives 2 h (whole seconds)')
  t.same(wechatExpiry('native', null, now), new Date(Date.parse('2026-01-01T02:00:00Z')))
  t.same(wechatExpiry('native', new Date(now + 600_000), now), new Date(Date.parse('2026-01-01T00:10:00Z')), 'the order first')
  t.same(wechatExpiry('h5', in5h, now), new Date(Date.parse('2026-01-01T05:00:00Z')), 'h5 and jsapi: the order’s')
  t.equal(wechatExpiry('jsapi', null, now), null)
  const notice = { out_trade_no: 'P1', out_refund_no: 'R1', refund_status: 'ABNORMAL', amount: { total: 500, refund: 100 } }
  t.match(refundFromNotice('REFUND.ABNORMAL', notice), { outTradeNo: 'P1', refundNo: 'R1', amount: 100, state: 'ABNORMAL' })
  t.equal(refundFromNotice('REFUND.SUCCESS', notice), null, 'the event type must name the refund_status')
  t.equal(refundFromNotice('REFUND.ABNORMAL', { ...notice, amount: { refund: '100' } }), null, 'fen as numbers only')
  t.equal(refundFromNotice('REFUND.ABNORMAL', { ...notice, out_trade_no: undefined }), null)
  t.match(
    refundFromAnswer({ out_refund_no: 'R1', status: 'SUCCESS', success_time: '2024-05-01T12:00:04+08:00', amount: { refund: 100 } }),
    {
      refundNo: 'R1',
      amount: 100,
      state: 'SUCCEEDED',
    },
  )
})

t.test('signature checks are pure functions of (headers, raw body, certificate, now)', async (t) => {
  const { generateWechatKeys } = await import('@paysys/devkit')
  const keys = generateWechatKeys()
  const cert = platformCertFromPem(keys.platformCert)
  t.equal(cert.serial, keys.platformCertSerial)
  const certFor = (s: string) => (s === cert.serial ? cert : null)
  const body = '{"a":1}'
  const now = Date.now()
  const h = signedHeaders(body, keys.platformPrivateKey, keys.platformCertSerial, Math.floor(now / 1000))
  t.same(verifySignedMessage(h, body, certFor, now), { ok: true })
  t.same(
    verifySignedMessage({ ...h, 'wechatpay-serial': h['wechatpay-serial']!.toLowerCase() }, body, certFor, now),
    { ok: true },
    'serial case',
  )
  t.match(verifySignedMessage(h, '{"a":2}', certFor, now), { reason: 'BAD_SIGNATURE' })
  t.match(verifySignedMessage(h, body, certFor, now + 301_000), { reason: 'TIMESTAMP_EXPIRED' })
  t.match(verifySignedMessage({ ...h, 'wechatpay-serial': 'ABC' }, body, certFor, now), { reason: 'SERIAL_MISMATCH' })
  t.match(verifySignedMessage({ ...h, 'wechatpay-signature': undefined }, body, certFor, now), { reason: 'MALFORMED' })
  const other = signedHeaders(body, keys.merchantPrivateKey, keys.platformCertSerial, Math.floor(now / 1000))
  t.match(verifySignedMessage(other, body, certFor, now), { reason: 'BAD_SIGNATURE' })

  const r = encrypt('{"x":"12345"}', keys.apiV3Key, 'transaction')
  t.equal(decryptResource(r, keys.apiV3Key), '{"x":"12345"}')
  const data = Buffer.from(r.ciphertext, 'base64')
  data[7] = data[7]! ^ 0x01 // "1" → "0": still valid JSON, only the tag can tell
  t.throws(() => decryptResource({ ...r, ciphertext: data.toString('base64') }, keys.apiV3Key), /authenticate/)
  t.throws(() => decryptResource({ ...r, associated_data: 'other' }, keys.apiV3Key), /authenticate/, 'AAD is authenticated')
  t.throws(() => decryptResource(r, 'x'.repeat(32)))
  t.throws(() => decryptResource({ ...r, algorithm: 'AEAD_SM4' }, keys.apiV3Key), /algorithm/)
})

t.test('devkit: keys.json written before WeChat gets a whole wechat block; a complete one is kept', async (t) => {
  const { ensureDevKeys, generateDevKeys } = await import('@paysys/devkit')
  const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { X509Certificate, createPrivateKey } = await import('node:crypto')
  const dir = mkdtempSync(join(tmpdir(), 'devkeys-'))
  const { wechat: _none, ...older } = generateDevKeys()
  writeFileSync(join(dir, 'keys.json'), JSON.stringify(older))
  const filled = ensureDevKeys(dir)
  t.equal(filled.serviceKeys, older.serviceKeys, 'existing keys kept')
  const w = filled.wechat
  t.match(w, { appId: /^wx[0-9a-f]{16}$/, mchId: /^\d{10}$/, merchantCertSerial: /^[0-9A-F]{40}$/, platformCertSerial: /^[0-9A-F]{40}$/ })
  t.equal(w.apiV3Key.length, 32)
  const merchant = new X509Certificate(w.merchantCert)
  t.equal(merchant.serialNumber, w.merchantCertSerial)
  t.ok(merchant.checkPrivateKey(createPrivateKey(w.merchantPrivateKey)), 'merchant certificate of the merchant key')
  t.ok(merchant.verify(merchant.publicKey), 'self-signed')
  const platform = new X509Certificate(w.platformCert)
  t.equal(platform.serialNumber, w.platformCertSerial)
  t.ok(platform.checkPrivateKey(createPrivateKey(w.platformPrivateKey)))
  t.same(JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8')).wechat, w, 'written back')
  t.same(ensureDevKeys(dir).wechat, w, 'and reused afterwards')
})

t.test('config: all five WECHAT_* or none; key and certificate must match', async (t) => {
  const { generateDevKeys } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const base = { DATABASE_URL: 'postgres://x/y', SERVICE_KEYS: keys.serviceKeys }
  const env = wechatPayEnv(keys.wechat, 'http://127.0.0.1:9')
  t.equal(loadConfig(base).wechat, null, 'unconfigured: disabled')
  const c = loadConfig({ ...base, ...env }).wechat!
  t.match(c, {
    appId: keys.wechat.appId,
    mchId: keys.wechat.mchId,
    merchantSerial: keys.wechat.merchantCertSerial,
    platformSerial: keys.wechat.platformCertSerial,
  })
  const { WECHAT_PLATFORM_CERT: _p, WECHAT_BASE_URL: _b, ...required } = env
  t.equal(loadConfig({ ...base, ...required }).wechat!.baseUrl, 'https://api.mch.weixin.qq.com')
  t.equal(loadConfig({ ...base, ...required }).wechat!.platformCert, null, 'no platform cert: fetched from /v3/certificates')
  for (const name of Object.keys(required)) {
    const partial: Record<string, string> = { ...base, ...required }
    delete partial[name]
    t.throws(() => loadConfig(partial), new RegExp(`partially configured: missing ${name}`), `without ${name}`)
  }
  t.throws(() => loadConfig({ ...base, ...env, WECHAT_CERT: keys.wechat.platformCert }), /not the certificate of WECHAT_PRIVATE_KEY/)
  // Secrets may come from files (NAME_FILE), never both ways at once.
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'wxcfg-'))
  const files: Record<string, string> = {}
  for (const name of ['WECHAT_PRIVATE_KEY', 'WECHAT_CERT', 'WECHAT_APIV3_KEY', 'WECHAT_PLATFORM_CERT'] as const) {
    writeFileSync(join(dir, name), env[name]!)
    files[`${name}_FILE`] = join(dir, name)
  }
  const fromFiles = { ...base, WECHAT_APPID: env.WECHAT_APPID!, WECHAT_MCHID: env.WECHAT_MCHID!, ...files }
  const read = loadConfig(fromFiles).wechat!
  t.match(
    read,
    { appId: c.appId, mchId: c.mchId, merchantSerial: c.merchantSerial, platformSerial: c.platformSerial, apiV3Key: c.apiV3Key },
    '_FILE variants',
  )
  t.equal(read.privateKey, env.WECHAT_PRIVATE_KEY!.trim())
  t.throws(() => loadConfig({ ...fromFiles, WECHAT_CERT: env.WECHAT_CERT! }), /set only one of WECHAT_CERT and WECHAT_CERT_FILE/)
  t.throws(() => loadConfig({ ...base, ...env, WECHAT_APIV3_KEY: 'too-short' }), /32 ASCII/)
  t.throws(() => loadConfig({ ...base, ...env, WECHAT_APPID: 'x123' }), /WECHAT_APPID/)
  t.throws(() => loadConfig({ ...base, ...env, WECHAT_PLATFORM_CERT: 'nope' }), ConfigError)
})

t.test('pay with WeChat Pay (stand-in gateway)', async (t) => {
  const { generateDevKeys } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const wk = keys.wechat
  /** What the stand-in answers; tests replace it. Query answers come from `trades`. */
  const trades = new Map<string, Record<string, unknown>>()
  const standard = (call: FakeCall): FakeReply => {
    const path = call.url.split('?')[0]!
    if (call.method === 'POST' && path === '/v3/pay/transactions/native')
      return { status: 200, body: { code_url: `weixin://wxpay/bizpayurl?pr=${randomBytes(8).toString('hex')}` } }
    if (call.method === 'POST' && path === '/v3/pay/transactions/jsapi')
      return { status: 200, body: { prepay_id: `wx${randomBytes(16).toString('hex')}` } }
    if (call.method === 'POST' && path === '/v3/pay/transactions/h5')
      return { status: 200, body: { h5_url: 'https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=2' } }
    const q = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)$/.exec(path)
    if (call.method === 'GET' && q) {
      const tx = trades.get(q[1]!)
      return tx ? { status: 200, body: tx } : { status: 404, body: { code: 'ORDER_NOT_EXIST', message: '订单不存在' } }
    }
    if (call.method === 'POST' && /\/close$/.test(path)) return { status: 204 }
    return { status: 404, body: { code: 'NOT_FOUND', message: 'no route' } }
  }
  let reply = standard
  const gw = await startFakeWechat(wk, (c) => reply(c))
  t.teardown(() => gw.close())
  const pay = await setupPay(t, { keys, env: wechatPayEnv(wk, gw.url) })
  t.afterEach(async () => {
    reply = standard
  })

  const create = async (over: Record<string, unknown> = {}) => {
    const req = createRequest({ method: 'WECHAT_PAY', channel: 'native', ...over })
    const res = await pay.call('POST', '/api/pay/create', req)
    return { req, res, data: res.json().data }
  }
  const attempt = async (orderNo: string) =>
    (await pay.sql`select status, trade_no, paid_via, paid_at from payment_attempts where order_no = ${orderNo}`)[0]
  const events = async (orderNo: string) =>
    (
      await pay.sql`select o.payload from outbox o join payment_attempts a on a.id = o.payment_attempt_id where a.order_no = ${orderNo}`
    ).map((r) => r.payload as PaymentEvent)
  const log = async (orderNo: string | null) =>
    orderNo === null
      ? await pay.sql`select verdict, reason from notify_log where provider = 'WECHAT_PAY' and out_trade_no is null order by id`
      : await pay.sql`select verdict, reason from notify_log where out_trade_no = ${orderNo} order by id`

  await t.test('native: a signed request to the configured host; code_url as qrCode, reused while pending', async (t) => {
    const before = gw.calls.length
    const { req, res, data } = await create({ amount: 2500, expireAt: new Date(Date.now() + 30 * 60_000).toISOString() })
    t.equal(res.statusCode, 200, res.body)
    t.match(data, { payType: 'qrcode', method: 'WECHAT_PAY', channel: 'native', amount: 2500, qrCode: /^weixin:\/\/wxpay\/bizpayurl\?pr=/ })
    const call = gw.calls[before]!
    t.ok(call.signed, 'Authorization signed by the merchant key, serial and mchid of the certificate')
    const sent = JSON.parse(call.body)
    t.match(sent, {
      appid: wk.appId,
      mchid: wk.mchId,
      out_trade_no: req.orderNo,
      notify_url: 'http://localhost:8081/api/pay/notify/wechat',
      amount: { total: 2500, currency: 'CNY' },
      time_expire: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/,
    })
    t.equal(typeof sent.amount.total, 'number', 'fen as an integer')
    const again = await pay.call('POST', '/api/pay/create', req)
    t.equal(again.json().data.qrCode, data.qrCode)
    t.equal(gw.calls.length, before + 1, 'no second provider call while pending')
  })

  await t.test('jsapi: signed JSAPI parameters; without openid a 400 that records nothing', async (t) => {
    const { res, data } = await create({ channel: 'jsapi', openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' })
    t.equal(res.statusCode, 200, res.body)
    t.equal(data.payType, 'jsapi')
    const p = data.jsapiParams
    t.match(p, { appId: wk.appId, package: /^prepay_id=wx/, signType: 'RSA', timeStamp: /^\d+$/ })
    const verified = createVerify('RSA-SHA256')
      .update(`${p.appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`)
      .verify(wk.merchantCert, p.paySign, 'base64')
    t.ok(verified, 'paySign verifies with the merchant certificate')
    t.match(JSON.parse(gw.calls.at(-1)!.body), { payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } })

    const calls = gw.calls.length
    const missing = await create({ channel: 'jsapi' })
    t.equal(missing.res.statusCode, 400)
    t.match(missing.res.json(), { error: 'INVALID_PARAMS', message: /openid/ })
    t.equal(
      (await pay.sql`select count(*)::int as n from payment_attempts where order_no = ${missing.req.orderNo}`)[0]!.n,
      0,
      'no attempt recorded',
    )
    t.equal(gw.calls.length, calls, 'WeChat not called')
  })

  await t.test('h5: h5_url as a jump with redirect_url back to our return route; clientIp required', async (t) => {
    const { req, res, data } = await create({ channel: 'h5', clientIp: '203.0.113.7' })
    t.equal(res.statusCode, 200, res.body)
    t.equal(data.payType, 'jump')
    const url = new URL(data.paymentUrl)
    t.equal(url.searchParams.get('prepay_id'), 'wx1')
    t.equal(url.searchParams.get('redirect_url'), `http://localhost:8081/api/pay/return?out_trade_no=${req.orderNo}`)
    t.match(JSON.parse(gw.calls.at(-1)!.body), { scene_info: { payer_client_ip: '203.0.113.7', h5_info: { type: 'Wap' } } })
    const missing = await create({ channel: 'h5' })
    t.equal(missing.res.statusCode, 400)
    t.match(missing.res.json().message, /clientIp/)
  })

  await t.test('every answer must be signed by the platform certificate: otherwise 502 PROVIDER_ERROR', async (t) => {
    const stranger = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey
    const cases: Record<string, Partial<FakeReply>> = {
      'signed with another key': { signWith: stranger },
      'another certificate serial': { serial: '7'.repeat(40) },
      unsigned: { unsigned: true },
      'a timestamp 10 minutes old': { timestamp: Math.floor(Date.now() / 1000) - 600 },
    }
    for (const [name, change] of Object.entries(cases)) {
      reply = (c) => ({ ...standard(c), ...change })
      const { res } = await create()
      t.equal(res.statusCode, 502, `${name}: ${res.body}`)
      t.match(res.json(), { error: 'PROVIDER_ERROR', message: /验签|微信支付/ }, name)
      t.notMatch(res.body, /weixin:\/\//, `${name}: the forged code_url is not passed on`)
    }
    reply = () => ({ status: 400, body: { code: 'PARAM_ERROR', message: '参数错误' } })
    const { res } = await create()
    t.equal(res.statusCode, 502)
    t.match(res.json().message, /PARAM_ERROR/)
  })

  await t.test('a verified TRANSACTION.SUCCESS notify marks the attempt PAID once (204), duplicates change nothing', async (t) => {
    const { req } = await create({ amount: 2500 })
    const tx = paidTransaction(wk, { out_trade_no: req.orderNo, total: 2500 })
    const n = wechatNotify(wk, tx)
    const res = await postWechatNotify(pay.app, n)
    t.equal(res.statusCode, 204, res.body)
    t.equal(res.body, '')
    t.match(await attempt(req.orderNo), { status: 'PAID', trade_no: tx.transaction_id, paid_via: 'NOTIFY' })
    t.equal(((await attempt(req.orderNo))!.paid_at as Date).toISOString(), '2024-05-01T04:00:04.000Z')
    const ev = await events(req.orderNo)
    t.equal(ev.length, 1)
    t.same(ev[0], {
      eventId: ev[0]!.eventId,
      type: 'PAYMENT_SUCCEEDED',
      orderId: req.orderId,
      orderNo: req.orderNo,
      amount: 2500,
      provider: 'WECHAT_PAY',
      channel: 'native',
      tradeNo: tx.transaction_id,
      paidAt: '2024-05-01T04:00:04.000Z',
    })
    // WeChat resends (the same, and a freshly signed copy), concurrently too.
    const again = await Promise.all([
      postWechatNotify(pay.app, n),
      postWechatNotify(pay.app, wechatNotify(wk, tx)),
      postWechatNotify(pay.app, n),
    ])
    t.same(
      again.map((r) => r.statusCode),
      [204, 204, 204],
    )
    t.equal((await events(req.orderNo)).length, 1, 'still exactly one event')
    const verdicts = await log(req.orderNo)
    t.same(
      verdicts.map((v) => v.verdict),
      ['ACCEPTED', 'DUPLICATE', 'DUPLICATE', 'DUPLICATE'],
    )
    const status = await pay.call('GET', `/api/pay/status/${req.orderNo}`)
    t.match(status.json().data, { status: 'PAID', tradeNo: tx.transaction_id, method: 'WECHAT_PAY' })
  })

  await t.test('each rejection is a 4xx {code:"FAIL"}, logged with its reason, and changes nothing', async (t) => {
    const { req } = await create({ amount: 2500 })
    const good = paidTransaction(wk, { out_trade_no: req.orderNo, total: 2500 })
    const stranger = generateDevKeys().wechat
    const cases: Array<[string, { body: string; headers: Record<string, string> }]> = [
      ['BAD_SIGNATURE', wechatNotify(wk, good, { signingKey: stranger.platformPrivateKey })],
      ['SERIAL_MISMATCH', wechatNotify(wk, good, { serial: stranger.platformCertSerial })],
      ['TIMESTAMP_EXPIRED', wechatNotify(wk, good, { timestamp: Math.floor(Date.now() / 1000) - 400 })],
      ['DECRYPT_FAILED', wechatNotify(wk, good, { corruptCiphertext: true })],
      ['DECRYPT_FAILED', wechatNotify(wk, good, { apiV3Key: stranger.apiV3Key })],
      ['MCHID_MISMATCH', wechatNotify(wk, { ...good, mchid: '1900000109' })],
      ['APPID_MISMATCH', wechatNotify(wk, { ...good, appid: 'wx0123456789abcdef' })],
      ['AMOUNT_MISMATCH', wechatNotify(wk, { ...good, amount: { total: 1, payer_total: 1, currency: 'CNY' } })],
    ]
    // Signed with the right key but the body changed afterwards.
    const honest = wechatNotify(wk, good)
    cases.splice(1, 0, ['BAD_SIGNATURE', { body: honest.body.replace('"summary":"支付成功"', '"summary":"x"'), headers: honest.headers }])
    for (const [reason, n] of cases) {
      const res = await postWechatNotify(pay.app, n)
      t.equal(res.statusCode, 400, reason)
      t.same(res.json(), { code: 'FAIL', message: '通知未通过验证' }, reason)
      t.match(res.headers['content-type'], /^application\/json/)
    }
    t.match(await attempt(req.orderNo), { status: 'PENDING', trade_no: null }, 'nothing changed')
    t.equal((await events(req.orderNo)).length, 0)
    const logged = [...(await log(null)), ...(await log(req.orderNo))]
    for (const [reason] of cases)
      t.ok(
        logged.some((l) => l.verdict === 'REJECTED' && l.reason === reason),
        `${reason} logged`,
      )
    const byOrder = (await log(req.orderNo)).map((l) => l.reason)
    t.same(byOrder, ['MCHID_MISMATCH', 'APPID_MISMATCH', 'AMOUNT_MISMATCH'], 'rejections after decryption carry the order number')

    const unknown = await postWechatNotify(
      pay.app,
      wechatNotify(wk, paidTransaction(wk, { out_trade_no: 'P20240101000000NOSUCHORDER', total: 100 })),
    )
    t.equal(unknown.statusCode, 400)
    t.match(await log('P20240101000000NOSUCHORDER'), [{ verdict: 'REJECTED', reason: 'UNKNOWN_ORDER' }])
    const garbage = await pay.app.inject({
      method: 'POST',
      url: '/api/pay/notify/wechat',
      headers: { 'content-type': 'application/json' },
      payload: '{nope',
    })
    t.equal(garbage.statusCode, 400)

    // A state that is not SUCCESS is acknowledged and never recorded as a payment.
    const notpay = await postWechatNotify(pay.app, wechatNotify(wk, { ...good, trade_state: 'NOTPAY', transaction_id: undefined }))
    t.equal(notpay.statusCode, 204)
    t.match(await attempt(req.orderNo), { status: 'PENDING' })
    // And the real one still goes through.
    t.equal((await postWechatNotify(pay.app, wechatNotify(wk, good))).statusCode, 204)
    t.match(await attempt(req.orderNo), { status: 'PAID', paid_via: 'NOTIFY' })
    t.equal((await events(req.orderNo)).length, 1)
  })

  await t.test('status while pending queries WeChat and records what its signed answer proves', async (t) => {
    const { req } = await create({ amount: 1200 })
    t.match((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data, { status: 'PENDING' }, 'ORDER_NOT_EXIST: pending')
    trades.set(req.orderNo, {
      mchid: wk.mchId,
      appid: wk.appId,
      out_trade_no: req.orderNo,
      trade_state: 'NOTPAY',
      amount: { total: 1200, currency: 'CNY' },
    })
    t.match((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data, { status: 'PENDING' })
    const call = gw.calls.at(-1)!
    t.equal(call.url, `/v3/pay/transactions/out-trade-no/${req.orderNo}?mchid=${wk.mchId}`)
    t.ok(call.signed)

    // Someone else's transaction in a signed answer is not believed.
    trades.set(req.orderNo, { ...paidTransaction(wk, { out_trade_no: req.orderNo, total: 1200 }), mchid: '1900000109' })
    t.match((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data, { status: 'PENDING' })

    const tx = paidTransaction(wk, { out_trade_no: req.orderNo, total: 1200 })
    trades.set(req.orderNo, tx)
    reply = (c) => ({ ...standard(c), serial: '1'.repeat(40) })
    t.match((await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data, { status: 'PENDING' }, 'a forged answer changes nothing')
    reply = standard
    const s = (await pay.call('GET', `/api/pay/status/${req.orderNo}`)).json().data
    t.match(s, { status: 'PAID', tradeNo: tx.transaction_id, amount: 1200 })
    t.match(await attempt(req.orderNo), { paid_via: 'QUERY' })
    t.equal((await events(req.orderNo)).length, 1)
  })

  await t.test('close: 204 closes; a trade paid meanwhile is recorded instead (409 with the paid status)', async (t) => {
    const { req } = await create({ amount: 300 })
    const closed = await pay.call('POST', `/api/pay/close/${req.orderNo}`, {})
    t.equal(closed.statusCode, 200, closed.body)
    t.equal(closed.json().data.status, 'CLOSED')
    t.match(gw.calls.at(-1)!, { method: 'POST', url: `/v3/pay/transactions/out-trade-no/${req.orderNo}/close`, signed: true })
    t.same(JSON.parse(gw.calls.at(-1)!.body), { mchid: wk.mchId })

    const paid = await create({ amount: 300 })
    const tx = paidTransaction(wk, { out_trade_no: paid.req.orderNo, total: 300 })
    trades.set(paid.req.orderNo, tx)
    reply = (c) => (/\/close$/.test(c.url) ? { status: 400, body: { code: 'ORDERPAID', message: '订单已支付' } } : standard(c))
    const refused = await pay.call('POST', `/api/pay/close/${paid.req.orderNo}`, {})
    t.equal(refused.statusCode, 409, refused.body)
    t.match(refused.json().data, { status: 'PAID', tradeNo: tx.transaction_id })
    t.match(await attempt(paid.req.orderNo), { status: 'PAID', paid_via: 'CLOSE' })
  })

  await t.test('refund: WeChat refusals are FAILED, "try later" answers throw (the refund stays pending)', async (t) => {
    const { createWechatProvider } = await import('../src/providers/wechat/wechat.ts')
    const provider = createWechatProvider(pay.config.wechat!, { publicUrl: 'http://localhost:8081', timeoutMs: 3000 })
    const no = `P${Date.now()}REFUNDME`
    trades.set(no, paidTransaction(wk, { out_trade_no: no, total: 500 }))
    const refundAnswer =
      (status: number, code: string) =>
      (c: FakeCall): FakeReply => {
        if (c.url.startsWith('/v3/refund/domestic/refunds/'))
          return { status: 404, body: { code: 'RESOURCE_NOT_EXISTS', message: '退款单不存在' } }
        if (c.url === '/v3/refund/domestic/refunds') return { status, body: { code, message: 'x' } }
        return standard(c)
      }
    reply = refundAnswer(403, 'NOT_ENOUGH')
    await t.rejects(provider.refund({ outTradeNo: no, refundNo: 'R1XXXXXX', amount: 100 }), { message: /NOT_ENOUGH/ })
    reply = refundAnswer(500, 'SYSTEM_ERROR')
    await t.rejects(provider.refund({ outTradeNo: no, refundNo: 'R1XXXXXX', amount: 100 }), { message: /SYSTEM_ERROR/ })
    reply = refundAnswer(400, 'INVALID_REQUEST')
    t.match(await provider.refund({ outTradeNo: no, refundNo: 'R1XXXXXX', amount: 100 }), {
      state: 'FAILED',
      failureReason: /INVALID_REQUEST/,
    })
    const sent = JSON.parse(gw.calls.filter((c) => c.url === '/v3/refund/domestic/refunds').at(-1)!.body)
    t.same(
      sent,
      {
        out_trade_no: no,
        out_refund_no: 'R1XXXXXX',
        notify_url: 'http://localhost:8081/api/pay/notify/wechat',
        amount: { refund: 100, total: 500, currency: 'CNY' },
      },
      'total from the query; refund notifies to the notify route',
    )
  })

  await t.test('a disabled provider: 422 PAYMENT_METHOD_DISABLED, and its notifies are refused', async (t) => {
    const off: PayHarness = await setupPay(t, { keys, databaseUrl: pay.env.DATABASE_URL })
    const res = await off.call('POST', '/api/pay/create', createRequest({ method: 'WECHAT_PAY', channel: 'native' }))
    t.equal(res.statusCode, 422)
    t.equal(res.json().error, 'PAYMENT_METHOD_DISABLED')
    const n = await postWechatNotify(off.app, wechatNotify(wk, paidTransaction(wk, { out_trade_no: 'P20240101000000ABCDEF', total: 1 })))
    t.not(n.statusCode, 204)
  })
})

t.test('WeChat Pay public key (微信支付公钥): signatures verify by PUB_KEY_ID, never with another key', async (t) => {
  const { generateWechatKeys } = await import('@paysys/devkit')
  const keys = generateWechatKeys()
  t.match(keys.publicKeyId, /^PUB_KEY_ID_01\d{26}$/)
  t.match(keys.publicKey, /^-----BEGIN PUBLIC KEY-----/)
  const pub = wechatPublicKeyFromPem(keys.publicKeyId, keys.publicKey)
  const cert = platformCertFromPem(keys.platformCert)
  const onlyPub = (s: string) => (s === pub.serial ? pub : null)
  const either = (s: string) => [pub, cert].find((k) => k.serial === s) ?? null
  const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=x"}'
  const now = Date.now()
  const ts = Math.floor(now / 1000)
  const signed = signedHeaders(body, keys.publicKeyPrivate, keys.publicKeyId, ts)
  t.same(verifySignedMessage(signed, body, onlyPub, now), { ok: true })
  t.same(verifySignedMessage(signed, body, either, now), { ok: true }, 'migration: the public key by its id')
  t.same(verifySignedMessage(signedHeaders(body, keys.platformPrivateKey, keys.platformCertSerial, ts), body, either, now), { ok: true })
  t.match(verifySignedMessage(signed, '{"code_url":"x"}', onlyPub, now), { reason: 'BAD_SIGNATURE' })
  const wrongKey = signedHeaders(body, keys.platformPrivateKey, keys.publicKeyId, ts)
  t.match(verifySignedMessage(wrongKey, body, either, now), { reason: 'BAD_SIGNATURE' }, 'the platform key under the public key id')
  const crossed = signedHeaders(body, keys.publicKeyPrivate, keys.platformCertSerial, ts)
  t.match(verifySignedMessage(crossed, body, either, now), { reason: 'BAD_SIGNATURE' }, 'the public key pair under the certificate serial')
  const platformOnly = signedHeaders(body, keys.platformPrivateKey, keys.platformCertSerial, ts)
  t.match(verifySignedMessage(platformOnly, body, onlyPub, now), { reason: 'SERIAL_MISMATCH' }, 'no platform cert configured')
  const otherId = signedHeaders(body, keys.publicKeyPrivate, 'PUB_KEY_ID_0100000000000000000000000001', ts)
  t.match(verifySignedMessage(otherId, body, either, now), { reason: 'SERIAL_MISMATCH' }, 'an unknown PUB_KEY_ID')
})

t.test('config: WECHAT_PUBLIC_KEY[_FILE] + WECHAT_PUBLIC_KEY_ID, both or neither, instead of or with the platform cert', async (t) => {
  const { generateDevKeys } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const w = keys.wechat
  const base = { DATABASE_URL: 'postgres://x/y', SERVICE_KEYS: keys.serviceKeys }
  const { WECHAT_PLATFORM_CERT: _p, ...merchant } = wechatPayEnv(w, 'http://127.0.0.1:9')
  const pk = { WECHAT_PUBLIC_KEY: w.publicKey, WECHAT_PUBLIC_KEY_ID: w.publicKeyId }
  const c = loadConfig({ ...base, ...merchant, ...pk }).wechat!
  t.match(c, { publicKey: w.publicKey.trim(), publicKeyId: w.publicKeyId, platformCert: null, platformSerial: null }, 'public key only')
  const both = loadConfig({ ...base, ...merchant, ...pk, WECHAT_PLATFORM_CERT: w.platformCert }).wechat!
  t.match(both, { publicKeyId: w.publicKeyId, platformSerial: w.platformCertSerial }, 'both (migration)')
  t.match(loadConfig({ ...base, ...merchant }).wechat!, { publicKey: null, publicKeyId: null, platformCert: null }, '/v3/certificates mode')
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const file = join(mkdtempSync(join(tmpdir(), 'wxpub-')), 'pub.pem')
  writeFileSync(file, w.publicKey)
  t.equal(
    loadConfig({ ...base, ...merchant, WECHAT_PUBLIC_KEY_FILE: file, WECHAT_PUBLIC_KEY_ID: w.publicKeyId }).wechat!.publicKey,
    w.publicKey.trim(),
    '_FILE',
  )

  const bad = (env: Record<string, string>, re: RegExp, name: string) =>
    t.throws(() => loadConfig({ ...base, ...merchant, ...env }), re, name)
  bad({ WECHAT_PUBLIC_KEY_ID: w.publicKeyId }, /public key is partially configured: missing WECHAT_PUBLIC_KEY /, 'id without key')
  bad({ WECHAT_PUBLIC_KEY: w.publicKey }, /missing WECHAT_PUBLIC_KEY_ID/, 'key without id')
  for (const id of ['PUB_KEY_0111', 'pub_key_id_0111', 'PUB_KEY_ID_', 'PUB_KEY_ID_01 1', w.platformCertSerial])
    bad({ ...pk, WECHAT_PUBLIC_KEY_ID: id }, /WECHAT_PUBLIC_KEY_ID must look like PUB_KEY_ID_/, `malformed id ${id}`)
  bad(
    { ...pk, WECHAT_PUBLIC_KEY: w.publicKeyPrivate },
    /WECHAT_PUBLIC_KEY must be the WeChat Pay public key as a PEM SPKI key/,
    'a private key',
  )
  bad({ ...pk, WECHAT_PUBLIC_KEY: w.platformCert }, /PEM SPKI key/, 'a certificate')
  bad({ ...pk, WECHAT_PUBLIC_KEY: 'nope' }, /PEM SPKI key/, 'garbage')
  const broken = w.publicKey.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!')
  bad({ ...pk, WECHAT_PUBLIC_KEY: broken }, /WECHAT_PUBLIC_KEY is not a valid PEM public key/, 'a corrupt key')
  bad({ ...pk, WECHAT_PUBLIC_KEY: w.merchantPublicKey }, /not the merchant certificate's key/, "the merchant's own key")
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string
  bad({ ...pk, WECHAT_PUBLIC_KEY: ec }, /must be an RSA key/, 'not RSA')
  t.throws(
    () => loadConfig({ ...base, ...pk }),
    /WECHAT_PUBLIC_KEY is set but WeChat Pay is not configured/,
    'without the merchant settings',
  )
})

t.test('pay in public-key mode (stand-in gateway signing with the WeChat Pay public key)', async (t) => {
  const { generateDevKeys } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const wk = keys.wechat
  const stranger = generateDevKeys().wechat
  let change: Partial<FakeReply> = {}
  const gw = await startFakeWechat(wk, (call) => {
    const path = call.url.split('?')[0]!
    const signed = { signWith: wk.publicKeyPrivate, serial: wk.publicKeyId, ...change }
    if (call.method === 'POST' && path === '/v3/pay/transactions/native')
      return { status: 200, body: { code_url: `weixin://wxpay/bizpayurl?pr=${randomBytes(8).toString('hex')}` }, ...signed }
    return { status: 404, body: { code: 'NOT_FOUND', message: 'no route' }, ...signed }
  })
  t.teardown(() => gw.close())
  const pkEnv = { WECHAT_PLATFORM_CERT: '', WECHAT_PUBLIC_KEY: wk.publicKey, WECHAT_PUBLIC_KEY_ID: wk.publicKeyId }
  const pay = await setupPay(t, { keys, env: { ...wechatPayEnv(wk, gw.url), ...pkEnv } })
  const native = () => createRequest({ method: 'WECHAT_PAY', channel: 'native', amount: 800 })
  const create = (req = native()) => pay.call('POST', '/api/pay/create', req)

  await t.test(
    'answers signed with the public key verify; any other key or serial is a 502, and /v3/certificates is never asked',
    async (t) => {
      change = {}
      const ok = await create()
      t.equal(ok.statusCode, 200, ok.body)
      t.match(ok.json().data, { payType: 'qrcode', qrCode: /^weixin:\/\// })
      const cases: Record<string, Partial<FakeReply>> = {
        'another key under the PUB_KEY_ID': { signWith: stranger.publicKeyPrivate },
        'the platform certificate (not configured)': { signWith: wk.platformPrivateKey, serial: wk.platformCertSerial },
        'another PUB_KEY_ID': { serial: stranger.publicKeyId },
      }
      for (const [name, c] of Object.entries(cases)) {
        change = c
        const res = await create()
        t.equal(res.statusCode, 502, `${name}: ${res.body}`)
        t.match(res.json(), { error: 'PROVIDER_ERROR', message: /验签/ }, name)
      }
      change = {}
      t.notOk(
        gw.calls.some((c) => c.url.startsWith('/v3/certificates')),
        'no certificate download',
      )
    },
  )

  await t.test('notifies signed with the public key are credited once; wrong key or serial rejected', async (t) => {
    change = {}
    const req = native()
    const res = await create(req)
    t.equal(res.statusCode, 200, res.body)
    const orderNo = req.orderNo
    const tx = paidTransaction(wk, { out_trade_no: orderNo, total: 800 })
    const sign = { signingKey: wk.publicKeyPrivate, serial: wk.publicKeyId }
    const rejected: Array<[string, ReturnType<typeof wechatNotify>]> = [
      ['BAD_SIGNATURE', wechatNotify(wk, tx, { ...sign, signingKey: stranger.publicKeyPrivate })],
      ['SERIAL_MISMATCH', wechatNotify(wk, tx, { ...sign, serial: stranger.publicKeyId })],
      ['SERIAL_MISMATCH', wechatNotify(wk, tx)],
    ]
    for (const [reason, n] of rejected) {
      const r = await postWechatNotify(pay.app, n)
      t.equal(r.statusCode, 400, reason)
    }
    const reasons = (await pay.sql`select reason from notify_log where provider = 'WECHAT_PAY' and verdict = 'REJECTED'`).map(
      (r) => r.reason,
    )
    t.same(reasons, ['BAD_SIGNATURE', 'SERIAL_MISMATCH', 'SERIAL_MISMATCH'])
    t.match((await pay.sql`select status from payment_attempts where order_no = ${orderNo}`)[0], { status: 'PENDING' })
    const n = wechatNotify(wk, tx, sign)
    t.equal((await postWechatNotify(pay.app, n)).statusCode, 204)
    t.equal((await postWechatNotify(pay.app, n)).statusCode, 204, 'a duplicate is acknowledged')
    t.match((await pay.sql`select status, trade_no from payment_attempts where order_no = ${orderNo}`)[0], {
      status: 'PAID',
      trade_no: tx.transaction_id,
    })
    const events =
      await pay.sql`select o.id from outbox o join payment_attempts a on a.id = o.payment_attempt_id where a.order_no = ${orderNo}`
    t.equal(events.length, 1, 'credited once')
  })

  await t.test('both configured (migration): either key by its own serial', async (t) => {
    const mixed = await setupPay(t, {
      keys,
      databaseUrl: pay.env.DATABASE_URL,
      env: { ...wechatPayEnv(wk, gw.url), ...pkEnv, WECHAT_PLATFORM_CERT: wk.platformCert },
    })
    const call = () => mixed.call('POST', '/api/pay/create', createRequest({ method: 'WECHAT_PAY', channel: 'native', amount: 100 }))
    change = {}
    t.equal((await call()).statusCode, 200, 'the public key')
    change = { signWith: wk.platformPrivateKey, serial: wk.platformCertSerial }
    t.equal((await call()).statusCode, 200, 'the platform certificate')
    change = { signWith: wk.publicKeyPrivate, serial: wk.platformCertSerial }
    t.equal((await call()).statusCode, 502, 'the public key pair under the certificate serial')
    change = { signWith: wk.platformPrivateKey, serial: wk.publicKeyId }
    t.equal((await call()).statusCode, 502, 'the platform key under the PUB_KEY_ID')
    change = { serial: 'PUB_KEY_ID_0100000000000000000000000009' }
    t.equal((await call()).statusCode, 502, 'an unknown PUB_KEY_ID')
    change = {}
  })
})
