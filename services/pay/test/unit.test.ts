/** Pure parts, no database and no network: Alipay transformers, config validation, backoff. */
import t from 'tap'
import { generateDevKeys } from '@paysys/devkit'
import { ConfigError } from '@paysys/config'
import {
  ALIPAY_TRADE_STATUSES,
  alipayTradeState,
  createBizContent,
  providerExpiry,
  fromAlipayAmount,
  fromAlipayTime,
  nameFormPunchout,
  parseFormBody,
  toAlipayAmount,
  toAlipayTime,
  tradeFromNotify,
  tradeFromQuery,
} from '../src/providers/alipay/transformers.ts'
import { createAlipayProvider } from '../src/providers/alipay/alipay.ts'
import { loadConfig } from '../src/config.ts'
import { DEFAULT_ALIPAY_GATEWAY } from '../src/providers/alipay/config.ts'
import { backoffMs } from '../src/outbox.ts'
import { alipayNotifyParams, signedNotifyBody } from './helpers.ts'

const keys = generateDevKeys()

t.test('alipay trade statuses map to one closed set, and nothing unknown counts as paid', async (t) => {
  t.equal(alipayTradeState('WAIT_BUYER_PAY'), 'PENDING')
  t.equal(alipayTradeState('TRADE_SUCCESS'), 'SUCCEEDED')
  t.equal(alipayTradeState('TRADE_FINISHED'), 'SUCCEEDED')
  t.equal(alipayTradeState('TRADE_CLOSED'), 'CLOSED')
  for (const s of ALIPAY_TRADE_STATUSES) t.not(alipayTradeState(s), 'UNKNOWN', `${s} is mapped`)
  for (const s of ['trade_success', 'TRADE_SUCCESS ', 'SUCCESS', '', 'TRADE_PENDING', null, undefined, 1, {}]) {
    t.equal(alipayTradeState(s), 'UNKNOWN', `${JSON.stringify(s)} is unknown`)
  }
})

t.test('amounts cross the Alipay edge as yuan strings and come back as integer fen', async (t) => {
  t.equal(toAlipayAmount(2500), '25.00')
  t.equal(toAlipayAmount(3), '0.03')
  t.equal(toAlipayAmount(990), '9.90')
  t.equal(fromAlipayAmount('25.00'), 2500)
  t.equal(fromAlipayAmount('0.03'), 3)
  t.equal(fromAlipayAmount('9.9'), 990)
  t.equal(fromAlipayAmount(' 25.00 '), 2500)
  for (const bad of ['', 'abc', '-1.00', '1.234', '1e3', '0x10', 'NaN', '99999999999.00', null, undefined, {}]) {
    t.equal(fromAlipayAmount(bad), null, `${JSON.stringify(bad)} is refused`)
  }
})

t.test('times are China time both ways, and impossible dates are refused', async (t) => {
  const d = new Date('2024-05-01T04:00:04.000Z')
  t.equal(toAlipayTime(d), '2024-05-01 12:00:04')
  t.equal(fromAlipayTime('2024-05-01 12:00:04')?.toISOString(), d.toISOString())
  t.equal(fromAlipayTime('2024-12-31 23:30:00')?.toISOString(), '2024-12-31T15:30:00.000Z')
  t.equal(fromAlipayTime('2024-02-31 12:00:00'), null)
  t.equal(fromAlipayTime('2024-05-01T12:00:04'), null)
  t.equal(fromAlipayTime(undefined), null)
})

t.test('create biz_content per channel', async (t) => {
  const input = { outTradeNo: 'P1234567', amount: 990, subject: '商品', expireAt: new Date('2024-05-01T04:30:00Z') }
  t.same(createBizContent('page', input), {
    out_trade_no: 'P1234567',
    total_amount: '9.90',
    subject: '商品',
    product_code: 'FAST_INSTANT_TRADE_PAY',
    time_expire: '2024-05-01 12:30:00',
  })
  t.equal(createBizContent('wap', input).product_code, 'QUICK_WAP_WAY')
  t.notOk('product_code' in createBizContent('qr', input))
})

t.test('time_expire is always sent: never after the order expiry, a QR code at most two hours', async (t) => {
  const now = Date.parse('2024-05-01T04:00:00Z')
  const inAnHour = new Date(now + 3600_000)
  const inFiveHours = new Date(now + 5 * 3600_000)
  const twoHours = new Date(now + 2 * 3600_000).toISOString()
  t.equal(providerExpiry('qr', inAnHour, now).toISOString(), inAnHour.toISOString(), 'the order expires first')
  t.equal(providerExpiry('qr', inFiveHours, now).toISOString(), twoHours, 'a QR code dies after two hours')
  t.equal(providerExpiry('page', inFiveHours, now).toISOString(), inFiveHours.toISOString(), 'a page trade lives as long as the order')
  t.equal(providerExpiry('wap', null, now).toISOString(), twoHours, 'two hours without an order expiry')
})

t.test('the SDK form is renamed punchout_form (name, id and the submit script)', async (t) => {
  const sdkHtml = `
      <form action="https://gw/gateway.do?x=1" method="post" name="alipaySDKSubmit1714550000000" id="alipaySDKSubmit1714550000000">
        <input type="hidden" name="biz_content" value="{&quot;a&quot;:1}" />
      </form>
      <script>document.forms["alipaySDKSubmit1714550000000"].submit();</script>`
  const html = nameFormPunchout(sdkHtml)
  t.match(html, /name="punchout_form" id="punchout_form"/)
  t.match(html, /document\.forms\["punchout_form"\]/)
  t.notMatch(html, /alipaySDKSubmit/)
  t.throws(() => nameFormPunchout('<div>no form</div>'))
})

t.test('form bodies: duplicates and empties are refused', async (t) => {
  t.same(parseFormBody('a=1&b=x+y&c=%25'), { a: '1', b: 'x y', c: '%' })
  t.equal(parseFormBody(''), null)
  t.equal(parseFormBody('   '), null)
  t.equal(parseFormBody('a=1&a=2'), null, 'which value was signed would be ambiguous')
  t.same(Object.getPrototypeOf(parseFormBody('__proto__=x')!), Object.prototype)
})

t.test('notify and query answers become trades in our units', async (t) => {
  const n = tradeFromNotify({
    out_trade_no: 'P1',
    trade_status: 'TRADE_SUCCESS',
    total_amount: '25.00',
    trade_no: 'T1',
    gmt_payment: '2024-05-01 12:00:04',
  })
  t.same(n, {
    outTradeNo: 'P1',
    state: 'SUCCEEDED',
    providerStatus: 'TRADE_SUCCESS',
    tradeNo: 'T1',
    amount: 2500,
    paidAt: new Date('2024-05-01T04:00:04Z'),
  })
  t.equal(tradeFromNotify({ out_trade_no: 'P1', trade_status: 'TRADE_SUCCESS', total_amount: '25.00' }), null, 'paid without trade_no')
  t.equal(tradeFromNotify({ out_trade_no: 'P1', trade_status: 'TRADE_SUCCESS', total_amount: '25.001', trade_no: 'T' }), null)
  t.equal(tradeFromNotify({ trade_status: 'TRADE_SUCCESS', total_amount: '25.00', trade_no: 'T' }), null)
  t.equal(tradeFromNotify({ out_trade_no: 'P1', trade_status: 'WAIT_BUYER_PAY', total_amount: '25.00' })?.state, 'PENDING')
  const q = tradeFromQuery(
    {
      code: '10000',
      outTradeNo: 'P1',
      tradeNo: 'T9',
      tradeStatus: 'TRADE_FINISHED',
      totalAmount: '0.03',
      sendPayDate: '2024-05-01 12:00:04',
    },
    'P1',
  )
  t.equal(q?.state, 'SUCCEEDED')
  t.equal(q?.amount, 3)
  t.equal(tradeFromQuery({ code: '10000', tradeStatus: 'TRADE_SUCCESS', totalAmount: '1.00' }, 'P1'), null, 'paid without trade_no')
  t.equal(tradeFromQuery({ code: '10000', tradeStatus: 'WAIT_BUYER_PAY' }, 'P1')?.outTradeNo, 'P1')
})

t.test('notify verification: signature (v2, raw values), RSA2 only, app id, shape', async (t) => {
  const provider = createAlipayProvider(
    {
      appId: keys.alipay.appId,
      privateKey: keys.alipay.merchantPrivateKey,
      publicKey: keys.alipay.platformPublicKey,
      gateway: DEFAULT_ALIPAY_GATEWAY,
    },
    { publicUrl: 'http://localhost:8081', timeoutMs: 1000 },
  )
  const form = 'application/x-www-form-urlencoded'
  const verify = (rawBody: string, contentType: string | undefined = form) =>
    provider.verifyNotification({ rawBody, contentType, headers: {} })
  const params = alipayNotifyParams({ out_trade_no: 'P20240501120000ABC', app_id: keys.alipay.appId })

  const good = verify(signedNotifyBody(params, keys.alipay.platformPrivateKey))
  t.ok(good.ok, 'a correctly signed notify with % in a value verifies')
  t.equal(good.ok && 'trade' in good && good.trade.amount, 2500)

  t.match(verify(signedNotifyBody(params, keys.alipay.merchantPrivateKey)), { ok: false, reason: 'BAD_SIGNATURE' })
  const tampered = new URLSearchParams(signedNotifyBody(params, keys.alipay.platformPrivateKey))
  tampered.set('total_amount', '0.01')
  t.match(verify(tampered.toString()), { ok: false, reason: 'BAD_SIGNATURE' })
  const rsa1 = new URLSearchParams(signedNotifyBody(params, keys.alipay.platformPrivateKey))
  rsa1.set('sign_type', 'RSA')
  t.match(verify(rsa1.toString()), { ok: false, reason: 'BAD_SIGNATURE' }, 'no downgrade to SHA-1')
  const weird = new URLSearchParams(signedNotifyBody(params, keys.alipay.platformPrivateKey))
  weird.set('sign_type', 'XYZ')
  t.match(verify(weird.toString()), { ok: false, reason: 'BAD_SIGNATURE' })
  const unsigned = new URLSearchParams(params).toString()
  t.match(verify(unsigned), { ok: false, reason: 'BAD_SIGNATURE' })
  const garbageSign = new URLSearchParams({ ...params, sign: '%%%not base64' }).toString()
  t.match(verify(garbageSign), { ok: false, reason: 'BAD_SIGNATURE' })

  const otherApp = alipayNotifyParams({ out_trade_no: 'P20240501120000ABC', app_id: '2021000000009999' })
  t.match(verify(signedNotifyBody(otherApp, keys.alipay.platformPrivateKey)), { ok: false, reason: 'APP_ID_MISMATCH' })
  const noAmount: Record<string, string> = { ...params }
  delete noAmount.total_amount
  t.match(verify(signedNotifyBody(noAmount, keys.alipay.platformPrivateKey)), { ok: false, reason: 'MALFORMED' })

  t.match(verify(''), { ok: false, reason: 'MALFORMED' })
  t.match(verify(JSON.stringify(params), 'application/json'), { ok: false, reason: 'MALFORMED' })
  t.match(
    provider.verifyNotification({ rawBody: signedNotifyBody(params, keys.alipay.platformPrivateKey), contentType: undefined, headers: {} }),
    { ok: false, reason: 'MALFORMED' },
    'a form without its content type is not a form',
  )
  t.match(verify('a=1&a=2'), { ok: false, reason: 'MALFORMED' })
})

t.test('config: validated once, frozen, Alipay all-or-nothing', async (t) => {
  const base = { DATABASE_URL: 'postgres://x@127.0.0.1/pay', SERVICE_KEYS: keys.serviceKeys }
  const c = loadConfig(base)
  t.equal(c.port, 8081)
  t.equal(c.alipay, null, 'Alipay disabled when absent')
  t.equal(c.frontendUrl, 'http://localhost:3000')
  t.equal(c.outboxPollMs, 5000, 'the rescue period: delivery itself is a job queued at once')
  t.equal(c.staleAttemptRequerySeconds, 300)
  t.equal(c.staleAttemptSweepSeconds, 60)
  t.equal(c.providerTimeoutMs, 8000)
  t.ok(Object.isFrozen(c))
  const full = loadConfig({
    ...base,
    ALIPAY_APP_ID: keys.alipay.appId,
    ALIPAY_PRIVATE_KEY: keys.alipay.merchantPrivateKey.replace(/\n/g, '\\n'),
    ALIPAY_PUBLIC_KEY: keys.alipay.platformPublicKey,
  })
  t.equal(full.alipay?.gateway, DEFAULT_ALIPAY_GATEWAY)
  t.ok(Object.isFrozen(full.alipay))

  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env)
      return []
    } catch (err) {
      t.type(err, ConfigError)
      return (err as ConfigError).problems
    }
  }
  t.match(problems({ ...base, ALIPAY_APP_ID: keys.alipay.appId }).join('\n'), /partially configured.*ALIPAY_PRIVATE_KEY, ALIPAY_PUBLIC_KEY/)
  t.match(
    problems({
      ...base,
      ALIPAY_APP_ID: keys.alipay.appId,
      ALIPAY_PRIVATE_KEY: 'nope',
      ALIPAY_PUBLIC_KEY: keys.alipay.platformPublicKey,
    }).join('\n'),
    /ALIPAY_PRIVATE_KEY is not a valid PEM/,
  )
  t.match(
    problems({
      ...base,
      ALIPAY_APP_ID: keys.alipay.appId,
      ALIPAY_PRIVATE_KEY: keys.alipay.merchantPrivateKey,
      ALIPAY_PUBLIC_KEY: keys.alipay.merchantPrivateKey,
    }).join('\n'),
    /not a private key/,
  )
  t.match(problems({ ...base, ALIPAY_PRIVATE_KEY_FILE: '/nonexistent/key.pem' }).join('\n'), /cannot read/)
  t.match(problems({ ...base, PORT: 'abc' }).join('\n'), /PORT must be an integer/)
  t.match(problems({ ...base, OUTBOX_POLL_MS: '0' }).join('\n'), /OUTBOX_POLL_MS/)
  t.match(problems({ ...base, STALE_ATTEMPT_REQUERY_SECONDS: '-1' }).join('\n'), /STALE_ATTEMPT_REQUERY_SECONDS/)
  t.match(problems({ ...base, STALE_ATTEMPT_SWEEP_SECONDS: '1h' }).join('\n'), /STALE_ATTEMPT_SWEEP_SECONDS/)
  t.match(problems({ ...base, SERVICE_KEYS: 'k:short' }).join('\n'), /SERVICE_KEYS/)
  t.match(problems({ ...base, FRONTEND_URL: 'javascript:alert(1)' }).join('\n'), /FRONTEND_URL/)
  t.match(problems({ DATABASE_URL: 'postgres://x' }).join('\n'), /SERVICE_KEYS \(or SERVICE_KEYS_FILE\) is required/)
  t.match(problems({ ...base, NODE_ENV: 'production' }).join('\n'), /PUBLIC_URL is required[\s\S]*MAIN_URL is required/)
})

t.test('outbox backoff: 1 s, 2 s, 4 s … capped at 10 min', async (t) => {
  t.same(
    [0, 1, 2, 3].map((n) => backoffMs(n)),
    [1000, 2000, 4000, 8000],
  )
  t.equal(backoffMs(10), 600_000)
  t.equal(backoffMs(1000), 600_000)
})
