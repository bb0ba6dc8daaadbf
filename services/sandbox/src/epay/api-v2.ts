/**
 * Epay's V2 merchant API (彩虹易支付 `api/pay/*`), RSA both ways: the merchant signs its requests with
 * its private key (verified here with SANDBOX_EPAY_MERCHANT_PUBLIC_KEY), Epay signs its answers,
 * notifies and returns with the platform key (SANDBOX_EPAY_PLATFORM_PRIVATE_KEY). Form POSTs, answers
 * `{code: 0, …, timestamp, sign, sign_type: "RSA"}`; refusals `{code ≠ 0, msg}` unsigned.
 * - `POST /api/pay/create` — `method` (web | jump | jsapi | scan) and `device` → `{trade_no, pay_type, pay_info}`:
 *   jump for `method=jump` and phones, a QR code for a computer (web, pc), refusals for jsapi without
 *   `sub_openid` and scan without `auth_code`, as Epay answers them;
 * - `GET|POST /api/pay/submit` — the page jump; `POST /api/pay/query`, `POST /api/pay/refund`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { fenToYuan } from '../util.ts'
import {
  BALANCE_INSUFFICIENT,
  checkIpLimit,
  checkPayRequest,
  checkV2Sign,
  orderJson,
  parseMoney,
  registerSubmit,
  requestParams,
  sendJson,
  toParams,
  type EpayContext,
} from './api.ts'
import { qrCodeOf } from './cashier.ts'
import { rsaSignParams, type Params } from './signing.ts'
import { createOrReuseTrade, ensureQrToken, EpayError, findTrade, refundTrade, type EpayTrade } from './trades.ts'

const METHODS = ['web', 'jump', 'jsapi', 'scan'] as const

/** A signed V2 answer (values as strings, as they are signed). */
function signedAnswer(ctx: EpayContext, body: Record<string, string | number | null>): Params {
  const params: Params = {}
  for (const [k, v] of Object.entries(body)) if (v !== null) params[k] = String(v)
  return rsaSignParams(params, ctx.epay.v2!.platformPrivateKey)
}

function answer(ctx: EpayContext, reply: FastifyReply, body: Record<string, string | number | null>) {
  const signed = signedAnswer(ctx, { code: 0, ...body })
  // code travels as the number 0, as Epay writes it (the signature covers its text "0").
  return sendJson(reply, { ...signed, code: 0 })
}

function formParams(req: { body: unknown }): Params {
  const p = toParams(req.body)
  if (p === null) throw new EpayError('参数格式错误')
  return p
}

export function registerEpayV2Api(app: FastifyInstance, ctx: EpayContext) {
  registerSubmit(app, ctx, '/api/pay/submit', 'v2')

  app.post('/api/pay/create', async (req, reply) => {
    try {
      const p = formParams(req)
      if (!p.pid) return sendJson(reply, { code: -4, msg: '未传入任何参数' })
      const method = p.method || 'web'
      if (!(METHODS as readonly string[]).includes(method)) throw new EpayError('参数不合法')
      const checked = checkPayRequest(ctx, p, 'v2create')
      if (method === 'jsapi' && !p.sub_openid) throw new EpayError('jsapi支付时参数(sub_openid)不能为空')
      if (method === 'scan' && !p.auth_code) throw new EpayError('付款码支付时授权码(auth_code)不能为空')
      await checkIpLimit(ctx, checked.clientip!)
      let trade = await createOrReuseTrade(ctx.sql, checked)
      const cashier = `${ctx.config.publicUrl}/cashier/${trade.id}`
      if (method === 'jump' || checked.device === 'jump')
        return answer(ctx, reply, { trade_no: trade.trade_no, pay_type: 'jump', pay_info: cashier })
      // web: a computer shows a QR code to scan with the phone; a phone (or bank payment) jumps.
      if (checked.device === 'pc' && trade.type !== 'bank') {
        trade = await ensureQrToken(ctx.sql, trade)
        return answer(ctx, reply, { trade_no: trade.trade_no, pay_type: 'qrcode', pay_info: qrCodeOf(ctx, trade) })
      }
      return answer(ctx, reply, { trade_no: trade.trade_no, pay_type: 'jump', pay_info: cashier })
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendJson(reply, { code: err.code, msg: err.msg })
    }
  })

  /** query and refund: authenticated like create, the order by trade_no or out_trade_no. */
  async function authedTrade(p: Params): Promise<EpayTrade> {
    if (p.pid !== ctx.epay.pid) throw new EpayError('商户不存在！', -3)
    checkV2Sign(ctx, p)
    if (!p.trade_no && !p.out_trade_no) throw new EpayError('订单号不能为空')
    const trade = await findTrade(ctx.sql, ctx.epay.pid, { tradeNo: p.trade_no || undefined, outTradeNo: p.out_trade_no || undefined })
    if (!trade) throw new EpayError('订单号不存在')
    return trade
  }

  app.post('/api/pay/query', async (req, reply) => {
    try {
      const trade = await authedTrade(formParams(req))
      const order: Record<string, string | number | null> = { ...orderJson(trade) }
      delete order.code
      delete order.msg
      return answer(ctx, reply, { ...order, refundmoney: trade.refunded_money ? fenToYuan(trade.refunded_money) : null })
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendJson(reply, { code: err.code, msg: err.msg })
    }
  })

  app.post('/api/pay/refund', async (req, reply) => {
    try {
      const p = formParams(req)
      const trade = await authedTrade(p)
      const money = parseMoney(p.money)
      if (money === null) throw new EpayError('金额不合法')
      if (ctx.modes.refundBalanceInsufficient && trade.status === 1) throw new EpayError(BALANCE_INSUFFICIENT)
      const refunded = await refundTrade(ctx.sql, trade, money)
      return answer(ctx, reply, {
        msg: `退款成功！退款金额¥${fenToYuan(money)}`,
        refund_no: refunded.trade_no.replace(/^\d{4}/, '9999'),
        out_refund_no: p.out_refund_no || null,
        trade_no: refunded.trade_no,
        money: fenToYuan(money),
      })
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendJson(reply, { code: err.code, msg: err.msg })
    }
  })
}
