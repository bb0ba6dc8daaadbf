/**
 * GET /api/pay/methods: the buyer-facing methods of the configured providers, as main reads them
 * (PayMethodInfo in @paysys/contracts): display data, aliases, channels with what they require, and
 * the default channel per device. An unconfigured provider's methods are absent.
 */
import t from 'tap'
import { Value } from 'typebox/value'
import { DEVICES, PayMethodInfoSchema, type PayMethodInfo } from '@paysys/contracts'
import { setupPay } from './helpers.ts'
import { wechatPayEnv } from './fixtures/wechat.ts'

const EPAY_ENV = { EPAY_PID: '1001', EPAY_KEY: 'a'.repeat(32), EPAY_BASE_URL: 'http://127.0.0.1:9' }
const STRIPE_ENV = {
  STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}`,
  STRIPE_WEBHOOK_SECRET: `whsec_${'b'.repeat(32)}`,
  STRIPE_API_BASE: 'http://127.0.0.1:9',
}

async function methodsOf(pay: Awaited<ReturnType<typeof setupPay>>): Promise<PayMethodInfo[]> {
  const res = await pay.call('GET', '/api/pay/methods')
  if (res.statusCode !== 200) throw new Error(`methods answered ${res.statusCode}: ${res.body}`)
  return res.json().data
}

t.test('Alipay, WeChat Pay and Epay configured: four methods in display order, each a valid PayMethodInfo (Stripe: below)', async (t) => {
  const { generateDevKeys } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const pay = await setupPay(t, { keys, env: { ...wechatPayEnv(keys.wechat, 'http://127.0.0.1:9'), ...EPAY_ENV } })
  const methods = await methodsOf(pay)
  t.same(
    methods.map((m) => [m.method, m.provider]),
    [
      ['ALIPAY', 'ALIPAY'],
      ['WECHAT_PAY', 'WECHAT_PAY'],
      ['EPAY', 'EPAY'],
      ['BANK_CARD', 'EPAY'],
    ],
  )
  for (const m of methods) {
    t.ok(Value.Check(PayMethodInfoSchema, m), `${m.method} matches PayMethodInfoSchema`)
    t.same(Object.keys(m.deviceChannels).sort(), [...DEVICES].sort(), `${m.method}: a default channel for every device`)
    const codes = m.channels.map((c) => c.code)
    for (const [device, channel] of Object.entries(m.deviceChannels))
      t.ok(codes.includes(channel), `${m.method}: ${device} → ${channel} is one of its channels`)
  }
  const aliases = methods.flatMap((m) => m.aliases)
  t.equal(new Set(aliases).size, aliases.length, 'no alias names two methods')

  const byMethod = Object.fromEntries(methods.map((m) => [m.method, m]))
  t.same(byMethod.ALIPAY, {
    method: 'ALIPAY',
    provider: 'ALIPAY',
    name: '支付宝',
    icon: '/icons/alipay.svg',
    description: '支付宝扫码或网页支付',
    aliases: ['alipay'],
    channels: [
      { code: 'page', name: '电脑网站支付', requires: [] },
      { code: 'wap', name: '手机网站支付', requires: [] },
      { code: 'qr', name: '扫码支付', requires: [] },
    ],
    deviceChannels: { pc: 'page', mobile: 'wap', alipay: 'wap', wechat: 'qr', qq: 'qr' },
  })
  t.same(byMethod.WECHAT_PAY!.channels, [
    { code: 'native', name: '扫码支付', requires: [] },
    { code: 'jsapi', name: '微信内支付', requires: ['openid'] },
    { code: 'h5', name: 'H5支付', requires: ['clientIp'] },
  ])
  t.same(byMethod.WECHAT_PAY!.deviceChannels, { pc: 'native', mobile: 'h5', wechat: 'jsapi', alipay: 'native', qq: 'native' })
  t.same(byMethod.WECHAT_PAY!.aliases, ['wechat', 'wechat_pay', 'wxpay'])
  t.same(
    byMethod.EPAY!.channels.map((c) => [c.code, c.name]),
    [
      ['alipay', '支付宝'],
      ['wxpay', '微信支付'],
      ['qqpay', 'QQ钱包'],
      ['bank', '网银支付'],
    ],
  )
  t.same(byMethod.EPAY!.deviceChannels, { pc: 'alipay', mobile: 'alipay', alipay: 'alipay', wechat: 'wxpay', qq: 'qqpay' })
  t.same(byMethod.BANK_CARD, {
    method: 'BANK_CARD',
    provider: 'EPAY',
    name: '银行卡',
    icon: '/icons/bank.svg',
    description: '通过易支付的网银通道',
    aliases: ['bank_card', 'bank', 'card'],
    channels: [{ code: 'bank', name: '网银支付', requires: [], aliases: ['bank'] }],
    deviceChannels: { pc: 'bank', mobile: 'bank', alipay: 'bank', wechat: 'bank', qq: 'bank' },
  })
})

t.test('only what is configured is listed: Alipay alone; Epay alone brings BANK_CARD', async (t) => {
  const alipayOnly = await setupPay(t)
  t.same(
    (await methodsOf(alipayOnly)).map((m) => m.method),
    ['ALIPAY'],
  )
  const epayOnly = await setupPay(t, { alipay: false, env: EPAY_ENV })
  t.same(
    (await methodsOf(epayOnly)).map((m) => m.method),
    ['EPAY', 'BANK_CARD'],
  )
  const none = await setupPay(t, { alipay: false })
  t.same(await methodsOf(none), [])
})

t.test('a method two configured providers serve is listed once: BANK_CARD goes to Stripe (higher priority), in its place', async (t) => {
  const both = await setupPay(t, { alipay: false, env: { ...EPAY_ENV, ...STRIPE_ENV } })
  const methods = await methodsOf(both)
  t.same(
    methods.map((m) => [m.method, m.provider]),
    [
      ['EPAY', 'EPAY'],
      ['BANK_CARD', 'STRIPE'],
    ],
  )
  t.match(methods[1], { icon: '/icons/card.svg', aliases: ['bank_card', 'bank', 'card'], channels: [{ code: 'card', requires: [] }] })
  const stripeOnly = await setupPay(t, { alipay: false, env: STRIPE_ENV })
  t.same(
    (await methodsOf(stripeOnly)).map((m) => [m.method, m.provider]),
    [['BANK_CARD', 'STRIPE']],
  )
})

t.test('STRIPE_METHODS: Stripe serves ALIPAY / WECHAT_PAY only when listed, and never before the native provider', async (t) => {
  const { generateDevKeys } = await import('@paysys/devkit')
  const keys = generateDevKeys()
  const all = { ...STRIPE_ENV, STRIPE_METHODS: 'card,alipay,wechat_pay' }
  const stripeOnly = await methodsOf(await setupPay(t, { alipay: false, env: all }))
  t.same(
    stripeOnly.map((m) => [m.method, m.provider, m.channels.map((c) => c.code)]),
    [
      ['BANK_CARD', 'STRIPE', ['card']],
      ['ALIPAY', 'STRIPE', ['alipay']],
      ['WECHAT_PAY', 'STRIPE', ['wechat_pay']],
    ],
  )
  for (const m of stripeOnly) {
    t.ok(Value.Check(PayMethodInfoSchema, m), `${m.method} matches PayMethodInfoSchema`)
    t.same(new Set(Object.values(m.deviceChannels)), new Set([m.channels[0]!.code]), `${m.method}: every device on its one channel`)
  }

  const withNative = await methodsOf(await setupPay(t, { keys, env: { ...wechatPayEnv(keys.wechat, 'http://127.0.0.1:9'), ...all } }))
  t.same(
    withNative.map((m) => [m.method, m.provider]),
    [
      ['ALIPAY', 'ALIPAY'],
      ['WECHAT_PAY', 'WECHAT_PAY'],
      ['BANK_CARD', 'STRIPE'],
    ],
    'the native providers keep their methods',
  )

  const alipayOnly = await methodsOf(await setupPay(t, { alipay: false, env: { ...STRIPE_ENV, STRIPE_METHODS: 'alipay' } }))
  t.same(
    alipayOnly.map((m) => [m.method, m.provider]),
    [['ALIPAY', 'STRIPE']],
    'without card, Stripe does not list BANK_CARD',
  )
})

t.test('a bad STRIPE_METHODS is a start-up error naming it', async (t) => {
  await t.rejects(
    setupPay(t, { alipay: false, env: { ...STRIPE_ENV, STRIPE_METHODS: 'card,bitcoin' } }),
    /STRIPE_METHODS: unknown method "bitcoin"/,
  )
})

t.test('signed like every service route: an unsigned request is 401', async (t) => {
  const pay = await setupPay(t)
  const res = await pay.app.inject({ method: 'GET', url: '/api/pay/methods' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'SERVICE_AUTH_FAILED')
})
