/**
 * The mini program (小程序) side of WeChat in the sandbox:
 * - `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` as WeChat's
 *   api.weixin.qq.com answers it: `{openid, session_key}`, or HTTP 200 with `{errcode, errmsg}` —
 *   40013 unknown appid, 40125 wrong secret, 40029 unknown or expired code (5 minutes), 40163 code already used.
 * - `POST /control/wechat/login-code {openid?, ageSeconds?}` → `{code, openid}`: what `wx.login` gives
 *   the mini program (a fresh openid unless one is given; `ageSeconds` mints an already old code).
 * - `POST /control/wechat/request-payment {appId, timeStamp, nonceStr, package, signType, paySign, openid?}`:
 *   what the buyer's `wx.requestPayment` does. paySign is verified as WeChat does (RSA-SHA256 over
 *   `appId\ntimeStamp\nnonceStr\npackage\n` with the merchant's certificate), the prepay must be a
 *   JSAPI transaction of that appid (and of `openid`, when given), then it is paid and its notify sent.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import { bad, objectBody, optInt, type Json } from '../control-input.ts'
import { randomToken } from '../util.ts'
import { payAndNotify } from './cashier.ts'
import type { MiniappSandboxConfig } from './miniapp-config.ts'
import type { WechatContext } from './index.ts'
import { rsaVerify } from './signing.ts'
import { findByCode, newOpenid } from './trades.ts'

/** WeChat keeps a `wx.login` code valid for 5 minutes. */
export const LOGIN_CODE_TTL_S = 300
const OPENID_RE = /^[A-Za-z0-9_-]{6,128}$/
const PREPAY_PACKAGE_RE = /^prepay_id=(wx[0-9a-z]{20,64})$/

const rid = () => randomBytes(4).toString('hex')
const wxError = (errcode: number, errmsg: string) => ({ errcode, errmsg: `${errmsg}, rid: ${rid()}` })

function text(b: Json, key: string, max: number): string {
  const v = b[key]
  if (typeof v !== 'string' || v === '') throw bad(`${key} 必须是非空字符串`)
  if (v.length > max) throw bad(`${key} 过长`)
  return v
}

/** What the buyer's wx.requestPayment answers when it fails (errMsg as the mini program sees it). */
const payFail = (status: number, reason: string) => new AppError(status, 'INVALID_PARAMS', `requestPayment:fail ${reason}`)

export function registerMiniapp(app: FastifyInstance, ctx: WechatContext, miniapp: MiniappSandboxConfig | null) {
  const { sql, keys } = ctx

  app.get<{ Querystring: Record<string, unknown> }>('/sns/jscode2session', async (req) => {
    const q = req.query
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : '')
    if (!miniapp || str('appid') !== miniapp.appId) return wxError(40013, 'invalid appid')
    if (str('secret') !== miniapp.secret) return wxError(40125, 'invalid appsecret')
    if (str('grant_type') !== 'authorization_code') return wxError(40002, 'invalid grant_type')
    const code = str('js_code')
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(code)) return wxError(40029, 'invalid code')
    const [used] = await sql<{ openid: string }[]>`
      update wechat_login_codes set used_at = now()
      where code = ${code} and appid = ${miniapp.appId} and used_at is null
        and created_at > now() - make_interval(secs => ${LOGIN_CODE_TTL_S})
      returning openid`
    if (used) return { session_key: randomBytes(16).toString('base64'), openid: used.openid }
    const [known] = await sql<{ used: boolean }[]>`
      select used_at is not null as used from wechat_login_codes where code = ${code} and appid = ${miniapp.appId}`
    return known?.used ? wxError(40163, 'code been used') : wxError(40029, 'invalid code')
  })

  app.post('/control/wechat/login-code', async (req) => {
    if (!miniapp) throw new AppError(404, 'NOT_FOUND', '沙箱未配置小程序（SANDBOX_WECHAT_MINIAPP_APPID/_SECRET）')
    const b = objectBody(req.body)
    if (b.openid !== undefined && (typeof b.openid !== 'string' || !OPENID_RE.test(b.openid))) throw bad('openid 格式错误')
    const openid = (b.openid as string | undefined) ?? newOpenid()
    const age = optInt(b, 'ageSeconds', 0, 0, 86_400)
    const code = randomToken(32)
    await sql`insert into wechat_login_codes (code, appid, openid, created_at)
      values (${code}, ${miniapp.appId}, ${openid}, now() - make_interval(secs => ${age}))`
    return { code, openid, appid: miniapp.appId }
  })

  app.post('/control/wechat/request-payment', async (req) => {
    const b = objectBody(req.body)
    const appId = text(b, 'appId', 32)
    const timeStamp = text(b, 'timeStamp', 16)
    const nonceStr = text(b, 'nonceStr', 64)
    const pkg = text(b, 'package', 128)
    const paySign = text(b, 'paySign', 2048)
    if (b.signType !== 'RSA') throw payFail(400, 'signType 必须是 RSA')
    if (!/^\d{1,12}$/.test(timeStamp)) throw payFail(400, 'timeStamp 必须是秒级时间戳')
    if (b.openid !== undefined && (typeof b.openid !== 'string' || !OPENID_RE.test(b.openid))) throw bad('openid 格式错误')
    const prepayId = PREPAY_PACKAGE_RE.exec(pkg)?.[1]
    if (!prepayId) throw payFail(400, 'package 必须是 prepay_id=…')
    if (!rsaVerify(`${appId}\n${timeStamp}\n${nonceStr}\n${pkg}\n`, paySign, keys.merchantPublic)) throw payFail(400, '支付验证签名失败')
    const trade = await findByCode(sql, { prepayId })
    if (!trade || trade.trade_type !== 'JSAPI') throw payFail(404, 'prepay_id 不存在')
    if (trade.appid !== appId) throw payFail(400, 'appId 与下单的 appid 不一致')
    if (b.openid !== undefined && trade.payer_openid !== b.openid) throw payFail(403, '付款用户与下单的 payer.openid 不一致')
    const r = await payAndNotify(ctx, trade.id)
    if (!r) throw payFail(404, 'prepay_id 不存在')
    if (r.outcome === 'closed') throw payFail(409, '订单已关闭')
    return {
      errMsg: 'requestPayment:ok',
      outcome: r.outcome,
      outTradeNo: r.trade.out_trade_no,
      transactionId: r.trade.transaction_id,
      payerOpenid: r.trade.payer_openid,
    }
  })
}
