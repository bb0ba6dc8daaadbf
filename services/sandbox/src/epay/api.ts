/**
 * The Epay (彩虹易支付) merchant endpoints:
 * - `GET|POST /submit.php` — page jump: verifies the MD5 signature and sends the browser to the cashier;
 * - `GET|POST /mapi.php` — API create: `{code:1, msg, trade_no, payurl | qrcode}` (qrcode for pc);
 * - `GET /api.php?act=order` — query (pid + key in the query string), `POST /api.php?act=refund`.
 *
 * As Epay does, parameters are read from the query string when it carries `pid`, else from the form
 * body; answers are JSON with `code: 1` on success and Epay's own codes and messages otherwise
 * (-1 business refusal or order not found, -3 unknown pid or wrong key, -4 missing parameter, -5 no act).
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import type { EpaySandboxConfig } from './config.ts'
import type { DeliveryService } from '../deliveries.ts'
import { messagePage, sendHtml } from '../html.ts'
import { chinaTime, fenToYuan, httpUrl, yuanToFen } from '../util.ts'
import { qrCodeOf } from './cashier.ts'
import { sameKey, verifySign, type Params } from './signing.ts'
import {
  createOrReuseTrade,
  ensureQrToken,
  EPAY_TYPES,
  EpayError,
  findTrade,
  refundTrade,
  type EpayTrade,
  type EpayType,
} from './trades.ts'

export interface EpayContext {
  config: SandboxConfig
  epay: EpaySandboxConfig
  sql: Sql
  deliveries: DeliveryService
}

const OUT_TRADE_NO_RE = /^[a-zA-Z0-9._\-|]{1,150}$/
const DEVICES = ['pc', 'mobile', 'qq', 'wechat', 'alipay', 'jump'] as const

/** Scalar values only (a key given as an array is refused). */
function toParams(source: unknown): Params | null {
  if (source === undefined || source === null || source === '') return {}
  if (typeof source !== 'object' || Array.isArray(source)) return null
  const out: Params = {}
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v)
    else return null
  }
  return out
}

/** Epay reads `$_GET` when it has `pid`, else `$_POST`. */
function requestParams(req: { query: unknown; body: unknown }): Params {
  const query = toParams(req.query)
  if (query === null) throw new EpayError('参数格式错误')
  if (query.pid !== undefined) return query
  const body = toParams(req.body)
  if (body === null) throw new EpayError('参数格式错误')
  return body
}

/** Yuan with at most two decimals, digits and a dot only (Epay: `/^[0-9.]+$/`, > 0). */
export function parseMoney(value: string | undefined): number | null {
  if (value === undefined || !/^[0-9.]+$/.test(value.trim())) return null
  return yuanToFen(value.trim())
}

/** The checks submit.php and mapi.php share, with Epay's messages; the order to create. */
function checkPayRequest(ctx: EpayContext, p: Params, api: 'submit' | 'mapi') {
  if (!p.pid) throw new EpayError('商户ID不能为空')
  if (p.pid !== ctx.epay.pid) throw new EpayError('商户不存在！')
  if (!verifySign(p, ctx.epay.key)) throw new EpayError('签名校验失败，请返回重试！')
  if (!p.out_trade_no) throw new EpayError('订单号(out_trade_no)不能为空')
  if (!p.notify_url) throw new EpayError('通知地址(notify_url)不能为空')
  if (!p.name) throw new EpayError('商品名称(name)不能为空')
  if (!p.money) throw new EpayError('金额(money)不能为空')
  if (!p.type) throw new EpayError('支付方式(type)不能为空')
  if (api === 'mapi' && !p.clientip) throw new EpayError('用户IP地址(clientip)不能为空')
  const money = parseMoney(p.money)
  if (money === null) throw new EpayError('金额不合法')
  if (!OUT_TRADE_NO_RE.test(p.out_trade_no)) throw new EpayError('订单号(out_trade_no)格式不正确')
  if (!(EPAY_TYPES as readonly string[]).includes(p.type)) throw new EpayError(`支付方式(type)不存在: ${p.type}`)
  const notifyUrl = httpUrl(p.notify_url)
  if (!notifyUrl) throw new EpayError('通知地址(notify_url)格式不正确')
  const returnUrl = p.return_url ? httpUrl(p.return_url) : null
  if (p.return_url && !returnUrl) throw new EpayError('跳转地址(return_url)格式不正确')
  const device = api === 'mapi' ? ((DEVICES as readonly string[]).includes(p.device ?? '') ? p.device! : 'pc') : null
  return {
    pid: p.pid,
    outTradeNo: p.out_trade_no,
    type: p.type as EpayType,
    money,
    name: p.name.slice(0, 127),
    notifyUrl,
    returnUrl,
    param: p.param || null,
    sitename: p.sitename || null,
    clientip: p.clientip || null,
    device,
    api,
  }
}

function sendJson(reply: FastifyReply, body: Record<string, unknown>) {
  return reply.status(200).header('content-type', 'application/json; charset=UTF-8').send(JSON.stringify(body))
}

/** api.php?act=order's view of an order. */
export function orderJson(trade: EpayTrade) {
  return {
    code: 1,
    msg: 'succ',
    trade_no: trade.trade_no,
    out_trade_no: trade.out_trade_no,
    api_trade_no: trade.paid_at ? `4200${trade.trade_no.slice(-15)}` : null,
    type: trade.type,
    pid: trade.pid,
    addtime: chinaTime(trade.created_at),
    endtime: trade.paid_at ? chinaTime(trade.paid_at) : null,
    name: trade.name,
    money: fenToYuan(trade.money),
    param: trade.param,
    buyer: trade.buyer,
    status: trade.status,
  }
}

export function registerEpayApi(app: FastifyInstance, ctx: EpayContext) {
  const submit = async (req: { query: unknown; body: unknown }, reply: FastifyReply) => {
    try {
      const trade = await createOrReuseTrade(ctx.sql, checkPayRequest(ctx, requestParams(req), 'submit'))
      return reply.redirect(`/cashier/${encodeURIComponent(trade.id)}`, 302)
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendHtml(reply, 400, messagePage('易支付 - 支付请求错误', err.msg, { error: true }))
    }
  }
  app.get('/submit.php', submit)
  app.post('/submit.php', submit)

  const mapi = async (req: { query: unknown; body: unknown }, reply: FastifyReply) => {
    try {
      const params = requestParams(req)
      if (!params.pid) return sendJson(reply, { code: -4, msg: '未传入任何参数' })
      let trade = await createOrReuseTrade(ctx.sql, checkPayRequest(ctx, params, 'mapi'))
      // A computer shows a QR code to scan with the phone; a phone (or bank payment) jumps to the cashier.
      if (trade.device === 'pc' && trade.type !== 'bank') {
        trade = await ensureQrToken(ctx.sql, trade)
        return sendJson(reply, { code: 1, msg: 'succ', trade_no: trade.trade_no, qrcode: qrCodeOf(ctx, trade) })
      }
      return sendJson(reply, { code: 1, msg: 'succ', trade_no: trade.trade_no, payurl: `${ctx.config.publicUrl}/cashier/${trade.id}` })
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendJson(reply, { code: err.code, msg: err.msg })
    }
  }
  app.get('/mapi.php', mapi)
  app.post('/mapi.php', mapi)

  const api = async (req: { method: string; query: unknown; body: unknown }, reply: FastifyReply) => {
    const query = toParams(req.query) ?? {}
    try {
      if (query.act === 'order') {
        const p = query
        if (p.pid !== ctx.epay.pid) return sendJson(reply, { code: -3, msg: '商户ID不存在' })
        if (!sameKey(p.key, ctx.epay.key)) return sendJson(reply, { code: -3, msg: '商户密钥错误' })
        if (!p.trade_no && !p.out_trade_no) return sendJson(reply, { code: -4, msg: '订单号不能为空' })
        const trade = await findTrade(ctx.sql, ctx.epay.pid, { tradeNo: p.trade_no || undefined, outTradeNo: p.out_trade_no || undefined })
        return sendJson(reply, trade ? orderJson(trade) : { code: -1, msg: '订单号不存在' })
      }
      if (query.act === 'refund') {
        if (req.method !== 'POST') return sendJson(reply, { code: -5, msg: 'Request method error' })
        const p = toParams(req.body) ?? {}
        if (p.pid !== ctx.epay.pid) return sendJson(reply, { code: -3, msg: '商户ID不存在' })
        if (!sameKey(p.key, ctx.epay.key)) return sendJson(reply, { code: -3, msg: '商户密钥错误' })
        const money = parseMoney(p.money)
        if (money === null) return sendJson(reply, { code: -1, msg: '金额输入错误' })
        if (!p.trade_no && !p.out_trade_no) return sendJson(reply, { code: -4, msg: '订单号不能为空' })
        const trade = await findTrade(ctx.sql, ctx.epay.pid, { tradeNo: p.trade_no || undefined, outTradeNo: p.out_trade_no || undefined })
        if (!trade) return sendJson(reply, { code: -1, msg: '当前订单不存在！' })
        await refundTrade(ctx.sql, trade, money)
        return sendJson(reply, { code: 1, msg: '退款成功', money: p.money!.trim() })
      }
      return sendJson(reply, { code: -5, msg: 'No Act!' })
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendJson(reply, { code: err.code, msg: err.msg })
    }
  }
  app.get('/api.php', api)
  app.post('/api.php', api)
}
