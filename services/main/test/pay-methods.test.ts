/**
 * main chooses method, channel and provider from pay's list (`GET /api/pay/methods`, PayMethodInfo) and
 * keeps none of its own: the pure choice, then main over real HTTP against a stand-in pay that answers
 * that list (as metrics.test.ts does), so bad methods and channels are refused before anything is written.
 */
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { AppError } from '@paysys/contracts'
import { buildApp } from '../src/app.ts'
import { chooseMethod, findMethod, requireOpenid } from '../src/pay-methods.ts'
import { bearer, registerUser, startMain, traces } from './helpers.ts'
import { PAY_METHODS } from './pay-methods-fixture.ts'

const errorOf = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return err instanceof AppError ? `${err.status} ${err.error}` : String(err)
  }
  return 'no error'
}

t.test('codes and aliases in any case name a listed method', async (t) => {
  t.equal(findMethod(PAY_METHODS, 'alipay')?.method, 'ALIPAY')
  t.equal(findMethod(PAY_METHODS, 'WxPay')?.method, 'WECHAT_PAY')
  t.equal(findMethod(PAY_METHODS, 'bank')?.method, 'BANK_CARD')
  t.equal(findMethod(PAY_METHODS, 'DOGECOIN'), undefined)
  t.equal(findMethod(PAY_METHODS.slice(0, 2), 'BANK_CARD'), undefined, 'not listed (its provider not configured)')
})

t.test('the channel: explicit, else the default for the device; the provider behind the method', async (t) => {
  t.same(chooseMethod(PAY_METHODS, 'bank_card', undefined, undefined), {
    method: 'BANK_CARD',
    provider: 'EPAY',
    channel: 'bank',
    requires: [],
  })
  t.equal(chooseMethod(PAY_METHODS, 'ALIPAY', undefined, 'mobile').channel, 'wap')
  t.equal(chooseMethod(PAY_METHODS, 'ALIPAY', undefined, undefined).channel, 'page', 'no device: pc')
  t.equal(chooseMethod(PAY_METHODS, 'WECHAT_PAY', undefined, 'wechat').channel, 'jsapi')
  t.equal(chooseMethod(PAY_METHODS, 'EPAY', undefined, 'qq').channel, 'qqpay')
  t.equal(chooseMethod(PAY_METHODS, 'EPAY', 'wxpay', 'pc').channel, 'wxpay', 'an explicit channel wins')
  t.same(chooseMethod([], 'credits', undefined, undefined), { method: 'CREDITS', provider: 'CREDITS', channel: 'balance', requires: [] })
})

t.test('refusals: unknown method 422, foreign channel or unknown device 400', async (t) => {
  t.equal(
    errorOf(() => chooseMethod(PAY_METHODS, 'DOGECOIN', undefined, undefined)),
    '422 PAYMENT_METHOD_DISABLED',
  )
  t.equal(
    errorOf(() => chooseMethod(PAY_METHODS.slice(0, 2), 'BANK_CARD', undefined, undefined)),
    '422 PAYMENT_METHOD_DISABLED',
  )
  t.equal(
    errorOf(() => chooseMethod(PAY_METHODS, 'WECHAT_PAY', 'page', undefined)),
    '400 INVALID_PARAMS',
  )
  t.equal(
    errorOf(() => chooseMethod(PAY_METHODS, 'ALIPAY', 'telepathy', undefined)),
    '400 INVALID_PARAMS',
  )
  t.equal(
    errorOf(() => chooseMethod(PAY_METHODS, 'ALIPAY', undefined, 'toaster')),
    '400 INVALID_PARAMS',
  )
  t.equal(
    errorOf(() => chooseMethod(PAY_METHODS, 'CREDITS', 'qr', undefined)),
    '400 INVALID_PARAMS',
  )
  const jsapi = chooseMethod(PAY_METHODS, 'WECHAT_PAY', 'jsapi', undefined)
  t.equal(
    errorOf(() => requireOpenid(jsapi, undefined)),
    '400 INVALID_PARAMS',
    'a channel that requires the openid',
  )
  t.equal(
    errorOf(() => requireOpenid(jsapi, 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o')),
    'no error',
  )
  t.equal(
    errorOf(() => requireOpenid(chooseMethod(PAY_METHODS, 'WECHAT_PAY', 'native', undefined), undefined)),
    'no error',
  )
})

t.test('main against a stand-in pay: the list shown, bad choices refused before writing, the provider asked', async (t) => {
  const main = await startMain()
  t.teardown(() => main.close())
  const creates: Record<string, unknown>[] = []
  const pay = createServer((req: IncomingMessage, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      let data: unknown = PAY_METHODS.filter((m) => m.provider !== 'WECHAT_PAY')
      if (req.url === '/api/pay/create') {
        const r = JSON.parse(body) as { orderNo: string; amount: number; method: string; channel: string }
        creates.push(r)
        data = {
          paymentId: '00000000-0000-4000-8000-000000000001',
          orderNo: r.orderNo,
          outTradeNo: r.orderNo,
          method: r.method,
          channel: r.channel,
          payType: 'jump',
          amount: r.amount,
          paymentUrl: 'https://pay.example/x',
          expireAt: null,
        }
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 200, message: 'ok', data, timestamp: Date.now() }))
    })
  })
  await new Promise<void>((r) => pay.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => pay.close(() => r())))
  const app = await buildApp({ ...main.config, payUrl: `http://127.0.0.1:${(pay.address() as { port: number }).port}` }, main.sql)
  t.teardown(() => app.close())

  const listed = (await app.inject('/api/payment-methods')).json().data
  t.same(
    listed.map((m: { code: string }) => m.code),
    ['ALIPAY', 'EPAY', 'BANK_CARD'],
  )
  t.same(
    listed.map((m: { provider: string }) => m.provider),
    PAY_METHODS.filter((m) => m.provider !== 'WECHAT_PAY').map((m) => m.provider),
    'each with the provider pay names',
  )
  t.match(listed[2], {
    code: 'BANK_CARD',
    method: 'BANK_CARD',
    name: '银行卡',
    icon: '/icons/bank.svg',
    enabled: true,
    channels: [{ code: 'bank', name: '网银支付' }],
  })

  const { token } = await registerUser(app, 'chooser@example.com')
  const before = await traces(main.sql)
  for (const [payload, status, error] of [
    [{ paymentMethod: 'DOGECOIN' }, 422, 'PAYMENT_METHOD_DISABLED'],
    [{ paymentMethod: 'WECHAT_PAY' }, 422, 'PAYMENT_METHOD_DISABLED'],
    [{ paymentMethod: 'EPAY', channel: 'page' }, 400, 'INVALID_PARAMS'],
    [{ paymentMethod: 'ALIPAY', channel: 'telepathy' }, 400, 'INVALID_PARAMS'],
  ] as const) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/credits/purchase',
      headers: bearer(token),
      payload: { packageCode: 'CREDITS_200', ...payload },
    })
    t.equal(`${res.statusCode} ${res.json().error}`, `${status} ${error}`, JSON.stringify(payload))
  }
  t.same(await traces(main.sql), before, 'nothing written')
  t.equal(creates.length, 0, 'pay was not asked to create anything')

  const bank = await app.inject({
    method: 'POST',
    url: '/api/credits/purchase',
    headers: bearer(token),
    payload: { packageCode: 'CREDITS_200', paymentMethod: 'bank' },
  })
  t.equal(bank.statusCode, 200, bank.body)
  t.match(bank.json().data.paymentInfo, { paymentMethod: 'BANK_CARD', channel: 'bank' })
  t.match(creates, [{ method: 'EPAY', channel: 'bank' }], 'pay is asked for the provider behind the method')
  const [row] = await main.sql`select payment_method, payment_provider from orders where id = ${bank.json().data.id}`
  t.same(row, { payment_method: 'BANK_CARD', payment_provider: 'EPAY' })
})
