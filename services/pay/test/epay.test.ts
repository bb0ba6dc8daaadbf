/**
 * Epay (彩虹易支付), without the sandbox: the pure transformers (MD5 with a known vector, amounts
 * compared numerically, the one status mapping, mapi/api answers), the config, and the routes driven
 * with `inject` — notifies signed here the way Epay signs them, GET and POST, every rejection logged
 * and changing nothing; mapi answers from a small stand-in for an Epay site.
 */
import t from 'tap'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EPAY_CHANNELS,
  EPAY_STATUSES,
  epaySign,
  epayTradeState,
  fromEpayAmount,
  parseMapiAnswer,
  parseNotifyParams,
  parseOrderAnswer,
  presentMapi,
  signContent,
  signedParams,
  submitFormHtml,
  toEpayAmount,
  toEpayDevice,
  tradeFromNotify,
  verifyEpaySign,
} from '../src/providers/epay/transformers.ts'
import { loadConfig } from '../src/config.ts'
import { createRequest, readBody, setupPay, FRONTEND_URL, PUBLIC_URL, type PayHarness } from './helpers.ts'

const PID = '1001'
const KEY = randomBytes(16).toString('hex')
const UNREACHABLE = 'http://127.0.0.1:9/'

/** Epay's signing rule, written out independently of the adapter. */
/** As the Epay server signs (PROTOCOLS.md): a value empty after PHP's trim() is left out. */
function md5Sign(params: Record<string, string>, key = KEY): string {
  const content = Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && params[k]!.replace(/^[ \t\n\r\0\x0B]+|[ \t\n\r\0\x0B]+$/g, '') !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
  return createHash('md5')
    .update(content + key, 'utf8')
    .digest('hex')
}

function notifyQuery(params: Record<string, string>, key = KEY): string {
  return new URLSearchParams({ ...params, sign: md5Sign(params, key), sign_type: 'MD5' }).toString()
}

function epayEnv(over: Record<string, string> = {}) {
  return { EPAY_PID: PID, EPAY_KEY: KEY, EPAY_BASE_URL: UNREACHABLE, EPAY_VERIFY_BY_QUERY: 'false', ...over }
}

// ---- pure ----

t.test('MD5: sorted k=v without sign, sign_type and empty values, key appended; a known vector', async (t) => {
  const vector = {
    pid: '1001',
    type: 'alipay',
    out_trade_no: '20160806151343349',
    notify_url: 'http://www.pay.com/notify_url.php',
    return_url: 'http://www.pay.com/return_url.php',
    name: 'VIP会员',
    money: '1.00',
    sitename: '彩虹云任务',
    param: '',
    sign: 'ignored',
    sign_type: 'MD5',
  }
  t.equal(
    signContent(vector),
    'money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&pid=1001&return_url=http://www.pay.com/return_url.php&sitename=彩虹云任务&type=alipay',
  )
  t.equal(epaySign(vector, 'aBcD1234eFgH5678iJkL9012mNoP3456'), '11e8101657134be476ffacb4105bfca8')
  const notify = {
    pid: '1001',
    trade_no: '2024050112000012345',
    out_trade_no: 'P2024X',
    type: 'wxpay',
    name: '积分充值 100% & more',
    money: '9.9',
    trade_status: 'TRADE_SUCCESS',
  }
  t.equal(epaySign(notify, 'aBcD1234eFgH5678iJkL9012mNoP3456'), '1d1dbc9ec2ea78b1747b655f8e902e35')

  const signed = signedParams({ ...notify, param: '' }, KEY)
  t.notOk('param' in signed, 'empty values are not sent')
  t.equal(signed.sign_type, 'MD5')
  t.equal(signed.sign, md5Sign(notify))
  t.ok(verifyEpaySign(signed, KEY))
  t.ok(verifyEpaySign({ ...signed, sign: signed.sign!.toUpperCase() }, KEY), 'upper-case hex is the same digest')
  t.notOk(verifyEpaySign({ ...signed, money: '9.90' }, KEY), 'any changed value breaks it')
  t.notOk(verifyEpaySign(signed, `${KEY}x`), 'another key')
  for (const bad of [undefined, '', 'abc', `${signed.sign}0`, 'z'.repeat(32)]) {
    const p: Record<string, string> = { ...signed }
    if (bad === undefined) delete p.sign
    else p.sign = bad
    t.notOk(verifyEpaySign(p, KEY), `sign ${JSON.stringify(bad)} is refused`)
  }
})

t.test('MD5: a whitespace-only value is left out of the sign string, as the server leaves it out', async (t) => {
  const params = { pid: '1001', type: 'alipay', out_trade_no: 'P2024X', money: '1.00', name: 'VIP', param: ' ', sitename: ' \t\r\n' }
  t.equal(signContent(params), 'money=1.00&name=VIP&out_trade_no=P2024X&pid=1001&type=alipay')
  // The server's sign string, written out by hand (not through the code under test).
  const expected = createHash('md5').update(`money=1.00&name=VIP&out_trade_no=P2024X&pid=1001&type=alipay${KEY}`, 'utf8').digest('hex')
  const signed = signedParams(params, KEY)
  t.equal(signed.sign, expected, 'signed as the server verifies')
  t.equal(signed.param, ' ', 'the value is still sent as given')
  t.ok(verifyEpaySign(signed, KEY))
  t.ok(verifyEpaySign({ ...signed, param: '  ' }, KEY), 'any whitespace-only value verifies the same')
  t.notOk(verifyEpaySign({ ...signed, param: ' x ' }, KEY), 'a value with content is signed')
  // Only PHP's trim() set counts as whitespace: a no-break space is content to the server.
  t.not(signContent({ ...params, param: '\u00a0' }), signContent(params))
})

t.test('money crosses the Epay edge as "x.xx" and comes back compared numerically in fen', async (t) => {
  t.equal(toEpayAmount(2500), '25.00')
  t.equal(toEpayAmount(990), '9.90')
  t.equal(toEpayAmount(5), '0.05')
  const same: [unknown, number][] = [
    ['25', 2500],
    ['25.0', 2500],
    ['25.00', 2500],
    ['25.000', 2500],
    [25, 2500],
    ['9.9', 990],
    ['9.90', 990],
    [9.9, 990],
    ['0.05', 5],
    [' 1.5 ', 150],
  ]
  for (const [v, fen] of same) t.equal(fromEpayAmount(v), fen, `${JSON.stringify(v)} is ${fen} fen`)
  for (const bad of ['', '25.', '.5', '9.901', '-1', '+1', '1e3', '0x10', 'NaN', '1,00', '99999999999', null, undefined, {}, 0.1 + 0.2]) {
    t.equal(fromEpayAmount(bad), null, `${JSON.stringify(bad)} is refused`)
  }
})

t.test('Epay statuses map to one closed set, and nothing unknown counts as paid', async (t) => {
  t.equal(epayTradeState(0), 'PENDING')
  t.equal(epayTradeState('0'), 'PENDING')
  t.equal(epayTradeState(1), 'SUCCEEDED')
  t.equal(epayTradeState('1'), 'SUCCEEDED')
  t.equal(epayTradeState('TRADE_SUCCESS'), 'SUCCEEDED')
  t.equal(epayTradeState(2), 'CLOSED', 'refunded')
  t.equal(epayTradeState(3), 'UNKNOWN', 'frozen')
  for (const s of EPAY_STATUSES) t.ok(['PENDING', 'SUCCEEDED', 'CLOSED', 'UNKNOWN'].includes(epayTradeState(s)))
  for (const s of ['trade_success', 'TRADE_FINISHED', 'SUCCESS', '', '01', '1.0', 1.5, 4, -1, true, null, undefined, {}]) {
    t.equal(epayTradeState(s), 'UNKNOWN', `${JSON.stringify(s)} is unknown`)
  }
})

t.test('notify parsing: duplicate keys refused; the trade it describes', async (t) => {
  t.equal(parseNotifyParams(''), null)
  t.equal(parseNotifyParams('a=1&a=2'), null, 'a duplicated key is ambiguous')
  t.same(parseNotifyParams('name=a+b%26c&x='), { name: 'a b&c', x: '' })
  const base = { pid: PID, trade_no: '2024', out_trade_no: 'P1', type: 'alipay', name: 'n', money: '9.9', trade_status: 'TRADE_SUCCESS' }
  t.match(tradeFromNotify(base), { outTradeNo: 'P1', tradeNo: '2024', amount: 990, state: 'SUCCEEDED', paidAt: null })
  t.match(tradeFromNotify({ ...base, trade_status: 'WAIT' }), { state: 'UNKNOWN' })
  for (const drop of ['trade_no', 'out_trade_no', 'money', 'trade_status']) {
    const p: Record<string, string> = { ...base }
    delete p[drop]
    t.equal(tradeFromNotify(p), null, `no ${drop}`)
  }
  t.equal(tradeFromNotify({ ...base, money: 'abc' }), null)
})

t.test('mapi and api.php answers', async (t) => {
  t.same(parseMapiAnswer({ code: 1, trade_no: '1', payurl: 'https://x/p' }), {
    ok: true,
    tradeNo: '1',
    payurl: 'https://x/p',
    qrcode: null,
    urlscheme: null,
  })
  t.match(parseMapiAnswer({ code: '1', qrcode: 'weixin://x' }), { ok: true, qrcode: 'weixin://x' })
  t.match(parseMapiAnswer({ code: -1, msg: '签名校验失败' }), { ok: false, code: -1, msg: '签名校验失败' })
  t.match(parseMapiAnswer('nope'), { ok: false })
  const both = { ok: true as const, tradeNo: '1', payurl: 'https://x/p', qrcode: 'https://x/q', urlscheme: null }
  t.same(presentMapi(both, 'pc'), { payType: 'qrcode', qrCode: 'https://x/q' }, 'a computer shows the QR code')
  t.same(presentMapi(both, 'mobile'), { payType: 'jump', paymentUrl: 'https://x/p' }, 'a phone jumps')
  t.same(presentMapi({ ...both, payurl: null }, 'mobile'), { payType: 'qrcode', qrCode: 'https://x/q' })
  t.same(presentMapi({ ...both, payurl: null, qrcode: null, urlscheme: 'alipays://x' }, 'alipay'), {
    payType: 'jump',
    paymentUrl: 'alipays://x',
  })
  t.equal(presentMapi({ ...both, payurl: null, qrcode: null }, 'pc'), null)
  t.equal(toEpayDevice(undefined), 'pc')
  t.equal(toEpayDevice('MOBILE'), 'mobile')
  t.equal(toEpayDevice('tv'), 'pc')
  t.same([...EPAY_CHANNELS], ['alipay', 'wxpay', 'qqpay', 'bank'])

  t.match(
    parseOrderAnswer({ code: 1, trade_no: 'T', out_trade_no: 'P1', money: '25.00', status: 1, endtime: '2024-05-01 12:00:04' }, 'P1'),
    {
      kind: 'found',
      trade: { state: 'SUCCEEDED', amount: 2500, tradeNo: 'T', paidAt: new Date('2024-05-01T04:00:04Z') },
    },
  )
  t.match(parseOrderAnswer({ code: '1', trade_no: 'T', money: '25', status: '0' }, 'P1'), {
    kind: 'found',
    trade: { outTradeNo: 'P1', state: 'PENDING' },
  })
  t.same(parseOrderAnswer({ code: -1, msg: '订单号不存在' }, 'P1'), { kind: 'not-found' })
  t.match(parseOrderAnswer({ code: -3, msg: '商户密钥错误' }, 'P1'), { kind: 'error', code: -3 })
  t.match(parseOrderAnswer({ code: 1, status: 1, money: '25.00' }, 'P1'), { kind: 'error' }, 'paid without a trade number is incomplete')
  t.match(parseOrderAnswer({ code: 1, status: 1, trade_no: 'T', money: 'x' }, 'P1'), { kind: 'error' })
})

t.test('the submit.php form is named punchout_form and escapes every value', async (t) => {
  const html = submitFormHtml('https://pay.example.com/submit.php', { name: '"><script>x</script>', pid: '1' })
  t.match(html, /<form name="punchout_form" id="punchout_form" method="post" action="https:\/\/pay\.example\.com\/submit\.php"/)
  t.notMatch(html, '<script>x')
  t.match(html, 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"')
  t.match(html, "document.forms['punchout_form'].submit()")
})

t.test('config: Epay is enabled by all of EPAY_PID, EPAY_KEY[_FILE], EPAY_BASE_URL, or none', async (t) => {
  const base = { DATABASE_URL: 'postgres://x/y', SERVICE_KEYS: `svc-test:${randomBytes(32).toString('base64url')}` }
  t.equal(loadConfig(base).epay, null, 'disabled when unconfigured')
  t.same(loadConfig({ ...base, EPAY_PID: PID, EPAY_KEY: KEY, EPAY_BASE_URL: 'https://pay.example.com/' }).epay, {
    pid: PID,
    key: KEY,
    baseUrl: 'https://pay.example.com',
    verifyByQuery: true,
    createApi: 'mapi',
    apiVersion: 1,
    v2: null,
  })
  // V2 (RSA): the version and both keys; Epay's bare base64 keys are accepted as well as PEM.
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = {
    priv: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
  const bare = (p: string) => p.replace(/-----[^-]+-----|\s/g, '')
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_API_VERSION: '2' }) }), /EPAY_API_VERSION=2 needs EPAY_MERCHANT_PRIVATE_KEY/)
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_API_VERSION: '3' }) }), /EPAY_API_VERSION must be one of 1, 2/)
  t.throws(
    () =>
      loadConfig({
        ...base,
        ...epayEnv({ EPAY_API_VERSION: '2', EPAY_MERCHANT_PRIVATE_KEY: 'not a key', EPAY_PLATFORM_PUBLIC_KEY: pem.pub }),
      }),
    /EPAY_MERCHANT_PRIVATE_KEY is not a valid RSA private key/,
  )
  const v2 = loadConfig({
    ...base,
    ...epayEnv({ EPAY_API_VERSION: '2', EPAY_MERCHANT_PRIVATE_KEY: bare(pem.priv), EPAY_PLATFORM_PUBLIC_KEY: pem.pub }),
  }).epay!
  t.equal(v2.apiVersion, 2)
  t.equal(v2.v2?.merchantPrivateKey.asymmetricKeyType, 'rsa')
  t.equal(v2.v2?.platformPublicKey.type, 'public')
  t.throws(() => loadConfig({ ...base, EPAY_PID: PID }), /Epay is partially configured: missing EPAY_KEY, EPAY_BASE_URL/)
  t.throws(() => loadConfig({ ...base, EPAY_KEY: KEY, EPAY_BASE_URL: 'https://p/' }), /missing EPAY_PID/)
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_PID: 'abc' }) }), /EPAY_PID must be/)
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_KEY: 'short' }) }), /EPAY_KEY must be/)
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_BASE_URL: 'ftp://x' }) }), /EPAY_BASE_URL must be an http/)
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_VERIFY_BY_QUERY: 'maybe' }) }), /EPAY_VERIFY_BY_QUERY/)
  t.throws(() => loadConfig({ ...base, ...epayEnv({ EPAY_CREATE_API: 'v2' }) }), /EPAY_CREATE_API/)
  t.match(loadConfig({ ...base, ...epayEnv({ EPAY_CREATE_API: 'submit' }) }).epay, { createApi: 'submit', verifyByQuery: false })
  const dir = mkdtempSync(join(tmpdir(), 'epay-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'key'), `${KEY}\n`)
  const fromFile = { ...epayEnv(), EPAY_KEY: undefined, EPAY_KEY_FILE: join(dir, 'key') }
  t.match(loadConfig({ ...base, ...fromFile }).epay, { key: KEY }, 'EPAY_KEY_FILE')
  t.throws(() => loadConfig({ ...base, ...epayEnv(), EPAY_KEY_FILE: join(dir, 'key') }), /set only one of EPAY_KEY and EPAY_KEY_FILE/)
})

// ---- routes, with inject ----

async function createEpay(pay: PayHarness, over: Record<string, unknown> = {}) {
  const req = createRequest({ method: 'EPAY', channel: 'alipay', amount: 990, ...over })
  const res = await pay.call('POST', '/api/pay/create', req)
  if (res.statusCode !== 200) throw new Error(res.body)
  return { req, data: res.json().data as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
}

function notifyParams(orderNo: string, over: Record<string, string> = {}) {
  return {
    pid: PID,
    trade_no: `2024050112${randomBytes(4).toString('hex')}`,
    out_trade_no: orderNo,
    type: 'alipay',
    name: '积分充值 100% & more',
    money: '9.90',
    trade_status: 'TRADE_SUCCESS',
    ...over,
  }
}

const getNotify = (pay: PayHarness, query: string) => pay.app.inject({ method: 'GET', url: `/api/pay/notify/epay?${query}` })
const logRows = (pay: PayHarness, orderNo: string) =>
  pay.sql`select verdict, reason, provider, raw_body from notify_log where out_trade_no = ${orderNo} order by id`
const attemptOf = async (pay: PayHarness, orderNo: string) =>
  (await pay.sql`select status, trade_no, paid_via from payment_attempts where order_no = ${orderNo}`)[0]
const outboxCount = async (pay: PayHarness, orderNo: string) =>
  (await pay.sql`select count(*)::int as n from outbox where payload->>'orderNo' = ${orderNo}`)[0]!.n as number

t.test('submit mode: an auto-submitting form and its GET link, signed for submit.php; no network', async (t) => {
  const pay = await setupPay(t, { alipay: false, env: epayEnv({ EPAY_CREATE_API: 'submit', EPAY_BASE_URL: 'https://pay.example.com/' }) })
  const { req, data } = await createEpay(pay, { channel: 'wxpay', subject: '积分 & 礼包' })
  t.match(data, { payType: 'form', method: 'EPAY', channel: 'wxpay', amount: 990 })
  t.match(data.formHtml, /<form name="punchout_form"[^>]*action="https:\/\/pay\.example\.com\/submit\.php"/)
  const url = new URL(data.paymentUrl)
  t.equal(`${url.origin}${url.pathname}`, 'https://pay.example.com/submit.php')
  const params = Object.fromEntries(url.searchParams)
  t.same(params, {
    pid: PID,
    type: 'wxpay',
    out_trade_no: req.orderNo,
    notify_url: `${PUBLIC_URL}/api/pay/notify/epay`,
    return_url: `${PUBLIC_URL}/api/pay/return/epay`,
    name: '积分 & 礼包',
    money: '9.90',
    sign: md5Sign(params),
    sign_type: 'MD5',
  })
  for (const [k, v] of Object.entries(params)) t.match(data.formHtml, `name="${k}" value="${v.replace(/&/g, '&amp;')}"`)
  const methods = await pay.call('GET', '/api/pay/methods')
  const listed = methods.json().data as { method: string; provider: string; channels: { code: string }[] }[]
  t.same(
    listed.map((m) => [m.method, m.provider, m.channels.map((c) => c.code)]),
    [
      ['EPAY', 'EPAY', ['alipay', 'wxpay', 'qqpay', 'bank']],
      ['BANK_CARD', 'EPAY', ['bank']],
    ],
  )
})

t.test('notify: a signed GET records the payment once; money compared numerically; POST forms too', async (t) => {
  const pay = await setupPay(t, { alipay: false, env: epayEnv({ EPAY_CREATE_API: 'submit' }) })

  await t.test('"9.9" is 990 fen: PAID, one event; duplicates acknowledged and ignored', async (t) => {
    const { req, data } = await createEpay(pay)
    const params = notifyParams(req.orderNo, { money: '9.9' })
    const query = notifyQuery(params)
    const res = await getNotify(pay, query)
    t.equal(res.statusCode, 200)
    t.equal(res.body, 'success')
    t.match(res.headers['content-type'], /^text\/plain/)
    t.match(await attemptOf(pay, req.orderNo), { status: 'PAID', trade_no: params.trade_no, paid_via: 'NOTIFY' })
    const [event] = await pay.sql`select payload from outbox where payment_attempt_id = ${data.paymentId}`
    t.match(event!.payload, {
      type: 'PAYMENT_SUCCEEDED',
      orderNo: req.orderNo,
      amount: 990,
      provider: 'EPAY',
      channel: 'alipay',
      tradeNo: params.trade_no,
    })
    const again = await Promise.all(Array.from({ length: 5 }, () => getNotify(pay, query)))
    t.same(
      again.map((r) => r.body),
      Array(5).fill('success'),
    )
    t.equal((await getNotify(pay, notifyQuery({ ...params, money: '9.90' }))).body, 'success', '"9.90" is the same amount')
    t.equal(await outboxCount(pay, req.orderNo), 1, 'exactly one event')
    const log = await logRows(pay, req.orderNo)
    t.match(log[0], { verdict: 'ACCEPTED', reason: null, provider: 'EPAY', raw_body: query })
    t.equal(log.filter((r) => r.verdict === 'DUPLICATE').length, 6)
  })

  await t.test('"25" and "25.00" are the same amount; a form POST works like the GET', async (t) => {
    const { req } = await createEpay(pay, { amount: 2500 })
    const body = notifyQuery(notifyParams(req.orderNo, { money: '25' }))
    const res = await pay.app.inject({
      method: 'POST',
      url: '/api/pay/notify/epay',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: body,
    })
    t.equal(res.body, 'success')
    t.match(await attemptOf(pay, req.orderNo), { status: 'PAID' })
    t.equal(await outboxCount(pay, req.orderNo), 1)
  })

  await t.test('every rejection answers `fail`, changes nothing and is logged with its reason', async (t) => {
    const { req } = await createEpay(pay)
    const good = notifyParams(req.orderNo)
    const cases: [string, string, string | null][] = [
      ['wrong key', notifyQuery(good, 'x'.repeat(32)), 'BAD_SIGNATURE'],
      ['changed after signing', notifyQuery(good).replace('money=9.90', 'money=0.01'), 'BAD_SIGNATURE'],
      ['no signature', new URLSearchParams(good).toString(), 'BAD_SIGNATURE'],
      ['sign_type RSA', notifyQuery(good).replace('sign_type=MD5', 'sign_type=RSA'), 'BAD_SIGNATURE'],
      ['another pid', notifyQuery({ ...good, pid: '1002' }), 'PID_MISMATCH'],
      ['another amount', notifyQuery({ ...good, money: '0.01' }), 'AMOUNT_MISMATCH'],
      ['"9.91"', notifyQuery({ ...good, money: '9.91' }), 'AMOUNT_MISMATCH'],
      ['money with three decimals', notifyQuery({ ...good, money: '9.901' }), 'MALFORMED'],
      ['another trade status', notifyQuery({ ...good, trade_status: 'TRADE_CLOSED' }), 'UNKNOWN_TRADE_STATUS'],
      ['duplicate keys', `${notifyQuery(good)}&money=0.01`, 'MALFORMED'],
      ['nothing', '', 'MALFORMED'],
    ]
    for (const [what, query, reason] of cases) {
      const res = await getNotify(pay, query)
      t.equal(res.body, 'fail', what)
      t.equal(res.statusCode, 200, what)
      const [row] = await pay.sql`select verdict, reason from notify_log order by id desc limit 1`
      t.match(row, { verdict: 'REJECTED', reason }, `${what} → ${reason}`)
    }
    const unknown = await getNotify(pay, notifyQuery(notifyParams('P20240501NOSUCHORDER')))
    t.equal(unknown.body, 'fail')
    t.match(await logRows(pay, 'P20240501NOSUCHORDER'), [{ verdict: 'REJECTED', reason: 'UNKNOWN_ORDER' }])
    t.match(await attemptOf(pay, req.orderNo), { status: 'PENDING', trade_no: null })
    t.equal(await outboxCount(pay, req.orderNo), 0)
    const json = await pay.app.inject({
      method: 'POST',
      url: '/api/pay/notify/epay',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(good),
    })
    t.equal(json.body, 'fail', 'a JSON body is not an Epay notify')
  })

  await t.test('return: 302 to the frontend order page only', async (t) => {
    const { req } = await createEpay(pay)
    const params = notifyQuery(notifyParams(req.orderNo))
    const res = await pay.app.inject({ method: 'GET', url: `/api/pay/return/epay?${params}&return_url=https://evil.example` })
    t.equal(res.statusCode, 302)
    t.equal(res.headers.location, `${FRONTEND_URL}/order/${req.orderId}`)
    const unknown = await pay.app.inject({ method: 'GET', url: '/api/pay/return/epay?out_trade_no=https://evil.example' })
    t.equal(unknown.headers.location, `${FRONTEND_URL}/order/unknown?error=ORDER_NOT_FOUND`)
  })
})

t.test('verify by query: an unreachable Epay means `fail` (retried later), never a grant', async (t) => {
  const pay = await setupPay(t, { alipay: false, env: epayEnv({ EPAY_CREATE_API: 'submit', EPAY_VERIFY_BY_QUERY: 'true' }) })
  const { req } = await createEpay(pay)
  const res = await getNotify(pay, notifyQuery(notifyParams(req.orderNo)))
  t.equal(res.body, 'fail')
  t.match(await logRows(pay, req.orderNo), [{ verdict: 'REJECTED', reason: 'QUERY_FAILED' }])
  t.match(await attemptOf(pay, req.orderNo), { status: 'PENDING' })
  // Local checks come first: an unknown order or a wrong amount never reaches the query.
  await getNotify(pay, notifyQuery(notifyParams(req.orderNo, { money: '1.00' })))
  t.match((await logRows(pay, req.orderNo)).at(-1), { reason: 'AMOUNT_MISMATCH' })
})

// ---- mapi.php answers from a stand-in Epay site ----

async function fakeEpay(answer: (path: string, form: Record<string, string>) => { status?: number; text: string }) {
  const calls: { path: string; query: Record<string, string>; form: Record<string, string> }[] = []
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)))
    calls.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), form })
    const a = answer(url.pathname, form)
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(a.text)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    calls,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

t.test('mapi: device picks QR or jump; unpresentable answers fall back to submit.php; errors are 502', async (t) => {
  let next: { status?: number; text: string } = { text: '{}' }
  const site = await fakeEpay(() => next)
  t.teardown(site.close)
  const pay = await setupPay(t, { alipay: false, env: epayEnv({ EPAY_BASE_URL: site.url }) })

  next = { text: JSON.stringify({ code: 1, trade_no: '2024', qrcode: 'weixin://wxpay/bizpayurl?pr=abc' }) }
  const { req, data } = await createEpay(pay, { channel: 'wxpay', device: 'pc', clientIp: '203.0.113.7' })
  t.match(data, { payType: 'qrcode', qrCode: 'weixin://wxpay/bizpayurl?pr=abc' })
  const call = site.calls.at(-1)!
  t.equal(call.path, '/mapi.php')
  t.match(call.form, {
    pid: PID,
    type: 'wxpay',
    out_trade_no: req.orderNo,
    money: '9.90',
    clientip: '203.0.113.7',
    device: 'pc',
    notify_url: `${PUBLIC_URL}/api/pay/notify/epay`,
    return_url: `${PUBLIC_URL}/api/pay/return/epay`,
    sign_type: 'MD5',
  })
  t.equal(call.form.sign, md5Sign(call.form))

  next = { text: JSON.stringify({ code: 1, trade_no: '2025', payurl: 'https://pay.example.com/pay/submit/2025/' }) }
  const mobile = await createEpay(pay, { channel: 'alipay', device: 'mobile', clientIp: '203.0.113.8' })
  t.match(mobile.data, { payType: 'jump', paymentUrl: 'https://pay.example.com/pay/submit/2025/' })
  t.match(site.calls.at(-1)!.form, { device: 'mobile', clientip: '203.0.113.8' })
  // No buyer IP: never a shared stand-in (Epay's pay_iplimit counts per IP), the page jump instead, and no mapi.php call.
  const calls = site.calls.length
  const unknownIp = await createEpay(pay, { channel: 'alipay', device: 'mobile' })
  t.match(unknownIp.data, { payType: 'form', paymentUrl: new RegExp(`^${site.url}submit\\.php\\?`) })
  t.equal(site.calls.length, calls, 'mapi.php was not asked')
  t.notMatch(unknownIp.data.paymentUrl, /clientip/)

  next = { text: `\uFEFF${JSON.stringify({ code: 1, trade_no: '2026', html: '<form></form>' })}` }
  const html = await createEpay(pay, { channel: 'bank', clientIp: '203.0.113.8' })
  t.match(html.data, { payType: 'form', paymentUrl: new RegExp(`^${site.url}submit\\.php\\?`) })

  for (const [what, answer] of [
    ['code -1', { text: JSON.stringify({ code: -1, msg: '签名校验失败，请返回重试！' }) }],
    ['not JSON', { text: '<html>502</html>' }],
    ['HTTP 500', { status: 500, text: '{}' }],
  ] as const) {
    next = answer
    const res = await pay.call(
      'POST',
      '/api/pay/create',
      createRequest({ method: 'EPAY', channel: 'qqpay', amount: 100, clientIp: '203.0.113.8' }),
    )
    t.equal(res.statusCode, 502, what)
    t.equal(res.json().error, 'PROVIDER_ERROR', what)
    t.notMatch(res.body, KEY, 'the key never leaks')
  }
  const bad = await pay.call('POST', '/api/pay/create', createRequest({ method: 'EPAY', channel: 'paypal' }))
  t.equal(bad.statusCode, 400)
})
