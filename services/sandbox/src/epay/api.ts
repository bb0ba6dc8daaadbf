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
import { isIP } from 'node:net'
import { rsaVerify, sameKey, verifySign, type Params } from './signing.ts'
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
  /** The operator's settings the control API can switch (`POST /control/epay/modes`), in memory. */
  modes: EpayModes
}

export interface EpayModes {
  /** Refunds are refused with 商户余额不足 (the merchant's Epay balance cannot cover them) until switched off. */
  refundBalanceInsufficient: boolean
  /**
   * Epay's pay_iplimit (限制每IP每天支付笔数): creates whose clientip already has this many paid orders
   * today are refused, and so is a loopback clientip (a server's stand-in, shared by every buyer). Null: off.
   */
  ipLimit: number | null
}

export const BALANCE_INSUFFICIENT = '商户余额不足，无法完成退款，请商户登录用户中心充值余额'
const IP_LIMITED = '你今天已无法再发起支付，请明天再试'

/** pay_iplimit, when the operator has it on. */
export async function checkIpLimit(ctx: EpayContext, clientip: string): Promise<void> {
  const limit = ctx.modes.ipLimit
  if (limit === null) return
  if (/^(127\.|::1$|::ffff:127\.)/.test(clientip)) throw new EpayError(IP_LIMITED)
  const [row] = await ctx.sql<{ n: number }[]>`
    select count(*)::int as n from epay_trades
    where pid = ${ctx.epay.pid} and clientip = ${clientip} and status > 0 and paid_at >= date_trunc('day', now())`
  if ((row?.n ?? 0) >= limit) throw new EpayError(IP_LIMITED)
}

const OUT_TRADE_NO_RE = /^[a-zA-Z0-9._\-|]{1,150}$/
const DEVICES = ['pc', 'mobile', 'qq', 'wechat', 'alipay', 'jump', 'app'] as const

/** Scalar values only (a key given as an array is refused). */
export function toParams(source: unknown): Params | null {
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
export function requestParams(req: { query: unknown; body: unknown }): Params {
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

/**
 * The checks submit.php, mapi.php and V2's api/pay/submit|create share, with Epay's messages; the order
 * to create. A V2 request (`v2`) is RSA-signed by the merchant; `v2create` also needs the buyer's IP.
 */
export function checkPayRequest(ctx: EpayContext, p: Params, api: 'submit' | 'mapi' | 'v2' | 'v2create') {
  if (!p.pid) throw new EpayError('商户ID不能为空')
  if (p.pid !== ctx.epay.pid) throw new EpayError('商户不存在！')
  const v2 = api === 'v2' || api === 'v2create'
  if (v2) checkV2Sign(ctx, p)
  else if (!verifySign(p, ctx.epay.key)) throw new EpayError('签名校验失败，请返回重试！')
  if (!p.out_trade_no) throw new EpayError('订单号(out_trade_no)不能为空')
  if (!p.notify_url) throw new EpayError('通知地址(notify_url)不能为空')
  if (!p.name) throw new EpayError('商品名称(name)不能为空')
  if (!p.money) throw new EpayError('金额(money)不能为空')
  if (!p.type) throw new EpayError('支付方式(type)不能为空')
  if ((api === 'mapi' || api === 'v2create') && !p.clientip) throw new EpayError('用户IP地址(clientip)不能为空')
  if (api === 'v2create' && !isIP(p.clientip!)) throw new EpayError('用户IP地址不合法')
  const money = parseMoney(p.money)
  if (money === null) throw new EpayError('金额不合法')
  if (!OUT_TRADE_NO_RE.test(p.out_trade_no)) throw new EpayError('订单号(out_trade_no)格式不正确')
  if (!(EPAY_TYPES as readonly string[]).includes(p.type)) throw new EpayError(`支付方式(type)不存在: ${p.type}`)
  const notifyUrl = httpUrl(p.notify_url)
  if (!notifyUrl) throw new EpayError('通知地址(notify_url)格式不正确')
  const returnUrl = p.return_url ? httpUrl(p.return_url) : null
  if (p.return_url && !returnUrl) throw new EpayError('跳转地址(return_url)格式不正确')
  const device = api === 'mapi' || api === 'v2create' ? ((DEVICES as readonly string[]).includes(p.device ?? '') ? p.device! : 'pc') : null
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
    api: v2 ? ('v2' as const) : api,
  }
}

/** V2's request authentication (ApiHelper::api_verify): a fresh timestamp and the merchant's RSA signature. */
export function checkV2Sign(ctx: EpayContext, p: Params): void {
  if (!ctx.epay.v2) throw new EpayError('商户未开通V2接口', -3)
  if (!p.timestamp || !/^\d{1,12}$/.test(p.timestamp) || Math.abs(Date.now() / 1000 - Number(p.timestamp)) > 300)
    throw new EpayError('时间戳无效', -3)
  if (p.sign_type !== 'RSA' || !rsaVerify(p, ctx.epay.v2.merchantPublicKey)) throw new EpayError('签名校验失败', -3)
}

export function sendJson(reply: FastifyReply, body: Record<string, unknown>) {
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

/** The page jump (V1 submit.php, V2 api/pay/submit), GET or POST: the browser is sent to the cashier, refusals are a page. */
export function registerSubmit(app: FastifyInstance, ctx: EpayContext, path: string, api: 'submit' | 'v2') {
  const submit = async (req: { query: unknown; body: unknown }, reply: FastifyReply) => {
    try {
      const trade = await createOrReuseTrade(ctx.sql, checkPayRequest(ctx, requestParams(req), api))
      return reply.redirect(`/cashier/${encodeURIComponent(trade.id)}`, 302)
    } catch (err) {
      if (!(err instanceof EpayError)) throw err
      return sendHtml(reply, 400, messagePage('易支付 - 支付请求错误', err.msg, { error: true }))
    }
  }
  app.get(path, submit)
  app.post(path, submit)
}

export function registerEpayApi(app: FastifyInstance, ctx: EpayContext) {
  registerSubmit(app, ctx, '/submit.php', 'submit')

  const mapi = async (req: { query: unknown; body: unknown }, reply: FastifyReply) => {
    try {
      const params = requestParams(req)
      if (!params.pid) return sendJson(reply, { code: -4, msg: '未传入任何参数' })
      const checked = checkPayRequest(ctx, params, 'mapi')
      await checkIpLimit(ctx, checked.clientip!)
      let trade = await createOrReuseTrade(ctx.sql, checked)
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
        if (ctx.modes.refundBalanceInsufficient && trade.status === 1) return sendJson(reply, { code: -1, msg: BALANCE_INSUFFICIENT })
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
