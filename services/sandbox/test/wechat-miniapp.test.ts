/**
 * The mini program side of the WeChat sandbox: `wx.login` codes minted by the control API and
 * exchanged at `/sns/jscode2session` (once, within 5 minutes, only with the right appid and secret,
 * with WeChat's errcodes otherwise), and `wx.requestPayment` as a control call: the paySign that
 * wechatpay-node-v3 (the referee) computes for a JSAPI prepay is accepted, anything else is refused.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { ConfigError } from '@paysys/config'
import { generateDevKeys } from '@paysys/devkit'
import { loadConfig } from '../src/config.ts'
import { controlJson } from './fixtures/harness.ts'
import { decryptChecked, startWechatReceiver, startWechatSandbox, wechatClient, wechatEnv } from './fixtures/wechat.ts'

const SECRET = randomBytes(16).toString('hex')
const orderNo = () => `P${Date.now()}${randomBytes(4).toString('hex').toUpperCase()}`

t.test('config: SANDBOX_WECHAT_MINIAPP_APPID and _SECRET, both or neither', async (t) => {
  const keys = generateDevKeys()
  const base = { DATABASE_URL: 'postgres://x/y', ...wechatEnv(keys) }
  t.equal(loadConfig(base).wechat!.miniapp, null)
  t.same(loadConfig({ ...base, SANDBOX_WECHAT_MINIAPP_APPID: keys.wechat.appId, SANDBOX_WECHAT_MINIAPP_SECRET: SECRET }).wechat!.miniapp, {
    appId: keys.wechat.appId,
    secret: SECRET,
  })
  t.throws(() => loadConfig({ ...base, SANDBOX_WECHAT_MINIAPP_APPID: keys.wechat.appId }), ConfigError)
  t.throws(() => loadConfig({ ...base, SANDBOX_WECHAT_MINIAPP_APPID: 'wx1', SANDBOX_WECHAT_MINIAPP_SECRET: SECRET }), /MINIAPP_APPID/)
  t.throws(() => loadConfig({ ...base, SANDBOX_WECHAT_MINIAPP_APPID: keys.wechat.appId, SANDBOX_WECHAT_MINIAPP_SECRET: 'short' }), /32/)
})

t.test('mini program: jscode2session and requestPayment', async (t) => {
  const probe = generateDevKeys()
  const sbx = await startWechatSandbox({ SANDBOX_WECHAT_MINIAPP_APPID: probe.wechat.appId, SANDBOX_WECHAT_MINIAPP_SECRET: SECRET })
  t.teardown(() => sbx.close())
  // startWechatSandbox configures the merchant with the harness's own keys: the mini program is another appid here.
  const appid = probe.wechat.appId
  const session = async (q: Record<string, string>) => {
    const res = await fetch(`${sbx.base}/sns/jscode2session?${new URLSearchParams({ grant_type: 'authorization_code', ...q })}`)
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  }
  const mint = async (body: object = {}) => (await controlJson(sbx.base, 'POST', '/control/wechat/login-code', body)).json

  await t.test('a code works once, for the openid it was minted for', async (t) => {
    const { code, openid } = await mint({ openid: 'oMiniTestOpenid0001' })
    t.equal(openid, 'oMiniTestOpenid0001')
    const first = await session({ appid, secret: SECRET, js_code: code })
    t.equal(first.status, 200)
    t.equal(first.json.openid, openid)
    t.match(first.json.session_key, /^[A-Za-z0-9+/=]{24}$/)
    t.notOk('errcode' in first.json)
    const again = await session({ appid, secret: SECRET, js_code: code })
    t.equal(again.status, 200, 'WeChat answers errors with HTTP 200')
    t.match(again.json, { errcode: 40163, errmsg: /code been used/ })
    const fresh = await mint()
    t.match(fresh.openid, /^o[a-z0-9]{27}$/, 'a fresh openid when none is given')
    t.not(fresh.openid, openid)
  })

  await t.test('wrong appid, wrong secret, unknown or expired code: WeChat errcodes, and the code stays unused', async (t) => {
    const { code } = await mint()
    t.match((await session({ appid: 'wx0000000000000000', secret: SECRET, js_code: code })).json, { errcode: 40013 })
    t.match((await session({ appid, secret: SECRET.replace(/.$/, (c) => (c === '0' ? '1' : '0')), js_code: code })).json, {
      errcode: 40125,
    })
    t.match((await session({ appid, secret: SECRET, js_code: 'nosuchcode' })).json, { errcode: 40029 })
    t.match((await session({ appid, secret: SECRET, js_code: code, grant_type: 'client_credential' })).json, { errcode: 40002 })
    t.match((await session({ appid, secret: SECRET, js_code: code })).json, { openid: /^o/ }, 'the refused calls did not use it')
    const old = await mint({ ageSeconds: 301 })
    t.match((await session({ appid, secret: SECRET, js_code: old.code })).json, { errcode: 40029 }, 'older than 5 minutes')
    const young = await mint({ ageSeconds: 250 })
    t.match((await session({ appid, secret: SECRET, js_code: young.code })).json, { openid: young.openid })
    t.equal((await controlJson(sbx.base, 'POST', '/control/wechat/login-code', { openid: 'x' })).status, 400)
    t.equal((await controlJson(sbx.base, 'POST', '/control/wechat/login-code', { ageSeconds: -1 })).status, 400)
  })

  await t.test("requestPayment: the SDK's paySign pays the prepay and the notify goes out; forged ones pay nothing", async (t) => {
    const receiver = await startWechatReceiver()
    t.teardown(() => receiver.close())
    const keys = sbx.keys.wechat
    const { pay } = wechatClient(sbx.base, keys)
    const no = orderNo()
    const openid = 'oMiniPayer000000001'
    const res = await pay.transactions_jsapi({
      description: '100积分套餐',
      out_trade_no: no,
      notify_url: receiver.url('/notify/mp'),
      amount: { total: 990 },
      payer: { openid },
    })
    t.equal(res.status, 200, JSON.stringify(res))
    const params = res.data as { appId: string; timeStamp: string; nonceStr: string; package: string; signType: string; paySign: string }
    const requestPayment = (body: object) => controlJson(sbx.base, 'POST', '/control/wechat/request-payment', body)
    const state = async () => (await controlJson(sbx.base, 'GET', `/control/wechat/trades/${no}`)).json.tradeState

    const forged = [
      { ...params, paySign: Buffer.from(randomBytes(256)).toString('base64') },
      { ...params, nonceStr: `${params.nonceStr}x` },
      { ...params, timeStamp: String(Number(params.timeStamp) + 1) },
      { ...params, signType: 'MD5' },
      { ...params, package: 'prepay_id=wx00000000000000000000000000' },
      { ...params, openid: 'oSomeoneElse0000001' },
      { ...params, paySign: undefined },
    ]
    for (const body of forged) {
      const r = await requestPayment(body)
      t.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body).slice(0, 80)} → ${r.status}`)
      t.match(r.json.message ?? r.json.errMsg, /requestPayment:fail|必须/)
    }
    t.equal(await state(), 'NOTPAY', 'nothing was paid')

    const ok = await requestPayment({ ...params, openid })
    t.equal(ok.status, 200, ok.text)
    t.match(ok.json, { errMsg: 'requestPayment:ok', outcome: 'paid', outTradeNo: no, payerOpenid: openid })
    t.equal(await state(), 'SUCCESS')
    const [n] = await receiver.waitFor('/notify/mp', 1)
    t.match(JSON.parse(decryptChecked(JSON.parse(n!.text).resource, keys.apiV3Key)), {
      out_trade_no: no,
      trade_type: 'JSAPI',
      trade_state: 'SUCCESS',
      payer: { openid },
    })
    const twice = await requestPayment(params)
    t.match(twice.json, { outcome: 'already-paid' }, 'paying again pays nothing more')
  })
})
