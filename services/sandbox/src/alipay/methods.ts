/**
 * The openapi methods behind /gateway.do, after the common checks and the signature passed.
 * Each returns the fields of its response node (the gateway adds `code: "10000", msg: "Success"`)
 * or throws BizError (`40004 Business Failed` + sub_code).
 */
import { chinaTime, fenToYuan, httpUrl, parseChinaTime, randomToken, yuanToFen } from '../util.ts'
import type { AlipayContext } from './gateway.ts'
import { BILL_METHOD, billDownloadUrlQuery } from './bills.ts'
import type { Params } from './signing.ts'
import { scheduleRefundNotify } from './notify.ts'
import {
  BizError,
  closeTrade,
  createOrReuseTrade,
  findRefund,
  findTrade,
  markSeen,
  notExist,
  refundTrade,
  type Channel,
  type Trade,
} from './trades.ts'

type Biz = Record<string, unknown>
type Method = (ctx: AlipayContext, params: Params, biz: Biz) => Promise<Record<string, unknown>>

const invalidParam = (what: string) => new BizError('ACQ.INVALID_PARAMETER', `参数无效: ${what}`)

function optString(biz: Biz, key: string, max: number): string | null {
  const v = biz[key]
  if (v === undefined || v === null || v === '') return null
  if (typeof v !== 'string' && typeof v !== 'number') throw invalidParam(key)
  const s = String(v)
  if (s.length > max) throw invalidParam(`${key} 过长`)
  return s
}

function reqString(biz: Biz, key: string, max: number): string {
  const s = optString(biz, key, max)
  if (s === null) throw invalidParam(`缺少 ${key}`)
  return s
}

const OUT_NO_RE = /^[A-Za-z0-9_.\-]{1,64}$/

function outTradeNo(biz: Biz, key = 'out_trade_no'): string {
  const s = reqString(biz, key, 64)
  if (!OUT_NO_RE.test(s)) throw invalidParam(key)
  return s
}

function amount(biz: Biz, key: string): number {
  const fen = yuanToFen(biz[key])
  if (fen === null) throw invalidParam(`${key} 必须是 0.01 至 100000000.00 之间、最多两位小数的金额`)
  return fen
}

/**
 * The trade a query/close/refund refers to: trade_no (preferred) or out_trade_no. One the buyer has
 * not scanned or opened yet does not exist at Alipay (ACQ.TRADE_NOT_EXIST), though its QR is payable.
 */
async function referencedTrade(ctx: AlipayContext, biz: Biz): Promise<Trade> {
  const tradeNo = optString(biz, 'trade_no', 64) ?? undefined
  const outNo = optString(biz, 'out_trade_no', 64) ?? undefined
  if (!tradeNo && !outNo) throw invalidParam('out_trade_no 和 trade_no 不能同时为空')
  const trade = await findTrade(ctx.sql, ctx.alipay.appId, { tradeNo, outTradeNo: outNo })
  if (!trade?.seen_at) throw notExist()
  return trade
}

/** time_expire (`yyyy-MM-dd HH:mm:ss`, GMT+8) wins over timeout_express (`90m`, `2h`, `1d`, `1c` = end of today). */
export function parseExpiry(biz: Biz, now = Date.now()): Date | null {
  const timeExpire = optString(biz, 'time_expire', 32)
  if (timeExpire !== null) {
    const d = parseChinaTime(timeExpire)
    if (!d) throw invalidParam('time_expire')
    return d
  }
  const express = optString(biz, 'timeout_express', 8)
  if (express === null) return null
  const m = /^(\d{1,5})([mhdc])$/.exec(express)
  if (!m) throw invalidParam('timeout_express')
  const n = Number(m[1])
  const unit = m[2]
  if (unit === 'c') {
    const endOfChinaDay = Math.floor((now + 8 * 3600_000) / 86_400_000 + 1) * 86_400_000 - 8 * 3600_000
    return new Date(endOfChinaDay)
  }
  const minutes = unit === 'm' ? n : unit === 'h' ? n * 60 : n * 1440
  if (minutes < 1 || minutes > 15 * 1440) throw invalidParam('timeout_express 取值范围 1m～15d')
  return new Date(now + minutes * 60_000)
}

function tradeFields(ctx: AlipayContext, params: Params, biz: Biz, channel: Channel) {
  const notifyUrl = params.notify_url ? httpUrl(params.notify_url) : null
  if (params.notify_url && !notifyUrl) throw invalidParam('notify_url')
  const returnUrl = params.return_url ? httpUrl(params.return_url) : null
  if (params.return_url && !returnUrl) throw invalidParam('return_url')
  return {
    appId: ctx.alipay.appId,
    outTradeNo: outTradeNo(biz),
    totalAmount: amount(biz, 'total_amount'),
    subject: reqString(biz, 'subject', 256),
    body: optString(biz, 'body', 128),
    notifyUrl,
    returnUrl: channel === 'precreate' ? null : returnUrl,
    channel,
    expireAt: parseExpiry(biz),
  }
}

/** alipay.trade.page.pay / alipay.trade.wap.pay: the trade behind the cashier page. */
export async function createPageTrade(ctx: AlipayContext, channel: 'page' | 'wap', params: Params, biz: Biz): Promise<Trade> {
  const trade = await createOrReuseTrade(ctx.sql, tradeFields(ctx, params, biz, channel))
  // The buyer's browser is at the cashier now.
  await markSeen(ctx.sql, trade.id)
  return trade
}

const precreate: Method = async (ctx, params, biz) => {
  const token = randomToken(24)
  const trade = await createOrReuseTrade(ctx.sql, {
    ...tradeFields(ctx, params, biz, 'precreate'),
    qr: { token, code: `${ctx.config.publicUrl}/qr/alipay/${token}` },
  })
  return { out_trade_no: trade.out_trade_no, qr_code: trade.qr_code }
}

const query: Method = async (ctx, _params, biz) => {
  const t = await referencedTrade(ctx, biz)
  const paid = t.paid_at ? fenToYuan(t.total_amount) : '0.00'
  const node: Record<string, unknown> = {
    trade_no: t.trade_no,
    out_trade_no: t.out_trade_no,
    trade_status: t.status,
    total_amount: fenToYuan(t.total_amount),
    buyer_pay_amount: paid,
    point_amount: '0.00',
    invoice_amount: paid,
    receipt_amount: paid,
  }
  if (t.paid_at) node.send_pay_date = chinaTime(t.paid_at)
  if (t.buyer_logon_id) node.buyer_logon_id = t.buyer_logon_id
  if (t.buyer_id) node.buyer_user_id = t.buyer_id
  return node
}

const close: Method = async (ctx, _params, biz) => {
  const t = await closeTrade(ctx.sql, await referencedTrade(ctx, biz))
  return { trade_no: t.trade_no, out_trade_no: t.out_trade_no }
}

const refund: Method = async (ctx, _params, biz) => {
  const t = await referencedTrade(ctx, biz)
  const refundAmount = amount(biz, 'refund_amount')
  const outRequestNo = optString(biz, 'out_request_no', 64) ?? t.out_trade_no
  if (!OUT_NO_RE.test(outRequestNo)) throw invalidParam('out_request_no')
  const r = await refundTrade(
    ctx.sql,
    t.id,
    { outRequestNo, amount: refundAmount, reason: optString(biz, 'refund_reason', 256) },
    async (tx, trade, refund) => {
      await scheduleRefundNotify(tx, ctx.deliveries, ctx.config, ctx.keys.platformPrivate, trade, refund)
    },
  )
  if (r.fundChange) ctx.deliveries.kick()
  const node: Record<string, unknown> = {
    trade_no: r.trade.trade_no,
    out_trade_no: r.trade.out_trade_no,
    fund_change: r.fundChange ? 'Y' : 'N',
    refund_fee: fenToYuan(r.refund.refunded_total),
    gmt_refund_pay: chinaTime(r.refund.created_at),
    send_back_fee: fenToYuan(r.refund.refund_amount),
  }
  if (r.trade.buyer_logon_id) node.buyer_logon_id = r.trade.buyer_logon_id
  if (r.trade.buyer_id) node.buyer_user_id = r.trade.buyer_id
  return node
}

/** alipay.trade.fastpay.refund.query: an unknown out_request_no answers Success without refund fields (= not refunded). */
const refundQuery: Method = async (ctx, _params, biz) => {
  const t = await referencedTrade(ctx, biz)
  const outRequestNo = optString(biz, 'out_request_no', 64) ?? t.out_trade_no
  const r = await findRefund(ctx.sql, t.id, outRequestNo)
  const node: Record<string, unknown> = { trade_no: t.trade_no, out_trade_no: t.out_trade_no, out_request_no: outRequestNo }
  if (r) {
    Object.assign(node, {
      total_amount: fenToYuan(t.total_amount),
      refund_amount: fenToYuan(r.refund_amount),
      refund_status: 'REFUND_SUCCESS',
      gmt_refund_pay: chinaTime(r.created_at),
    })
    if (r.refund_reason) node.refund_reason = r.refund_reason
  }
  return node
}

export const API_METHODS: Record<string, Method> = {
  'alipay.trade.precreate': precreate,
  'alipay.trade.query': query,
  'alipay.trade.close': close,
  'alipay.trade.refund': refund,
  'alipay.trade.fastpay.refund.query': refundQuery,
  [BILL_METHOD]: billDownloadUrlQuery,
}
