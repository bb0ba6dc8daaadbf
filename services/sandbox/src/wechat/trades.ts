/**
 * WeChat Pay transactions and refunds, in PostgreSQL. Every transition is a guarded UPDATE, so
 * duplicate or concurrent requests (two cashier clicks, a control-API pay racing a close) take
 * effect once. An unpaid transaction past its time_expire is closed when it is next read.
 */
import type { Sql } from '@paysys/db'
import type { Q } from '../deliveries.ts'
import { chinaDate, randomDigits, randomToken } from '../util.ts'

export type TradeState = 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND'
export type TradeType = 'NATIVE' | 'JSAPI' | 'MWEB'

export interface WxTrade {
  id: string
  appid: string
  mchid: string
  out_trade_no: string
  transaction_id: string
  trade_type: TradeType
  trade_state: TradeState
  description: string
  attach: string | null
  notify_url: string
  total: number
  refunded: number
  payer_openid: string | null
  payer_client_ip: string | null
  code_url: string | null
  qr_token: string | null
  prepay_id: string | null
  redirect_url: string | null
  time_expire: Date | null
  created_at: Date
  paid_at: Date | null
  closed_at: Date | null
}

export interface WxRefund {
  trade_id: string
  out_refund_no: string
  refund_id: string
  refund: number
  total: number
  reason: string | null
  status: string
  notify_url: string | null
  created_at: Date
  success_time: Date | null
}

/** A v3 error answer: HTTP status + `{code, message}`. */
export class WxError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export const orderNotExist = () => new WxError(404, 'ORDER_NOT_EXIST', '订单不存在')

/** 28 digits, like WeChat's: 4200 + 6 digits + yyyyMMdd + 10 digits. */
export const newTransactionId = () => `4200${randomDigits(6)}${chinaDate()}${randomDigits(10)}`
/** `wx` + yyyyMMddHHmmss-ish digits + hex, like a real prepay_id. */
export const newPrepayId = () => `wx${chinaDate()}${randomDigits(6)}${randomToken(20)}`
export const newRefundId = () => `50${randomDigits(6)}${chinaDate()}${randomDigits(13)}`
/** An openid-looking id of the buyer (28 characters). */
export const newOpenid = () => `o${randomToken(27)}`

export interface NewTrade {
  appid: string
  mchid: string
  outTradeNo: string
  tradeType: TradeType
  description: string
  attach: string | null
  notifyUrl: string
  total: number
  payerOpenid: string | null
  payerClientIp: string | null
  timeExpire: Date | null
  codeUrl: (token: string) => string
}

/**
 * Creates the transaction, or answers the existing one for the same out_trade_no when it is unpaid
 * and every parameter is the first request's (WeChat: "同一商户订单号重复下单时，参数需与首次一致"
 * — the same prepay_id / code_url back). Any difference (amount, type, description, attach,
 * notify_url, time_expire, payer openid or client IP) is 400 INVALID_REQUEST 商户订单号重复.
 */
export async function createOrReuseTrade(sql: Sql, t: NewTrade): Promise<WxTrade> {
  return sql.begin(async (tx) => {
    await expireDue(tx, t.mchid, t.outTradeNo)
    const id = `wx_${randomToken(24)}`
    const token = t.tradeType === 'NATIVE' ? randomToken(24) : null
    const [created] = await tx<WxTrade[]>`
      insert into wechat_trades (id, appid, mchid, out_trade_no, transaction_id, trade_type, description, attach, notify_url, total,
                                 payer_openid, payer_client_ip, code_url, qr_token, prepay_id, time_expire)
      values (${id}, ${t.appid}, ${t.mchid}, ${t.outTradeNo}, ${newTransactionId()}, ${t.tradeType}, ${t.description}, ${t.attach},
              ${t.notifyUrl}, ${t.total}, ${t.payerOpenid}, ${t.payerClientIp}, ${token ? t.codeUrl(token) : null}, ${token},
              ${t.tradeType === 'NATIVE' ? null : newPrepayId()}, ${t.timeExpire})
      on conflict (mchid, out_trade_no) do nothing
      returning *`
    if (created) return created
    const [existing] = await tx<WxTrade[]>`
      select * from wechat_trades where mchid = ${t.mchid} and out_trade_no = ${t.outTradeNo} for update`
    if (!existing) throw new WxError(500, 'SYSTEM_ERROR', '系统异常，请稍后重试')
    if (existing.trade_state === 'SUCCESS' || existing.trade_state === 'REFUND') throw new WxError(400, 'ORDERPAID', '该订单已支付')
    if (existing.trade_state === 'CLOSED') throw new WxError(400, 'ORDER_CLOSED', '订单已关闭')
    const same =
      existing.total === t.total &&
      existing.trade_type === t.tradeType &&
      existing.appid === t.appid &&
      existing.description === t.description &&
      existing.attach === t.attach &&
      existing.notify_url === t.notifyUrl &&
      (existing.time_expire?.getTime() ?? null) === (t.timeExpire?.getTime() ?? null) &&
      existing.payer_openid === t.payerOpenid &&
      existing.payer_client_ip === t.payerClientIp
    if (!same) throw new WxError(400, 'INVALID_REQUEST', '201 商户订单号重复')
    return existing
  })
}

/** Closes unpaid transactions whose time_expire has passed (all of them, or one). */
export async function expireDue(q: Q, mchid?: string, outTradeNo?: string): Promise<void> {
  if (mchid !== undefined && outTradeNo !== undefined) {
    await q`update wechat_trades set trade_state = 'CLOSED', closed_at = now()
            where mchid = ${mchid} and out_trade_no = ${outTradeNo} and trade_state = 'NOTPAY' and time_expire <= now()`
  } else {
    await q`update wechat_trades set trade_state = 'CLOSED', closed_at = now() where trade_state = 'NOTPAY' and time_expire <= now()`
  }
}

export async function findByOutTradeNo(sql: Sql, mchid: string, outTradeNo: string): Promise<WxTrade | null> {
  await expireDue(sql, mchid, outTradeNo)
  const [row] = await sql<WxTrade[]>`select * from wechat_trades where mchid = ${mchid} and out_trade_no = ${outTradeNo}`
  return row ?? null
}

/** By transaction_id: only a paid transaction has one to the outside world. */
export async function findByTransactionId(sql: Sql, mchid: string, transactionId: string): Promise<WxTrade | null> {
  const [row] = await sql<WxTrade[]>`
    select * from wechat_trades where mchid = ${mchid} and transaction_id = ${transactionId} and paid_at is not null`
  return row ?? null
}

export async function findById(sql: Sql, id: string): Promise<WxTrade | null> {
  const [row] = await sql<WxTrade[]>`select * from wechat_trades where id = ${id}`
  if (row && row.trade_state === 'NOTPAY' && row.time_expire && row.time_expire <= new Date())
    return findByOutTradeNo(sql, row.mchid, row.out_trade_no)
  return row ?? null
}

export async function findByCode(sql: Sql, ref: { codeUrl?: string; token?: string; prepayId?: string }): Promise<WxTrade | null> {
  if (ref.codeUrl) {
    const [row] = await sql<WxTrade[]>`select * from wechat_trades where code_url = ${ref.codeUrl}`
    if (row) return row
  }
  if (ref.token) {
    const [row] = await sql<WxTrade[]>`select * from wechat_trades where qr_token = ${ref.token}`
    if (row) return row
  }
  if (ref.prepayId) {
    const [row] = await sql<WxTrade[]>`select * from wechat_trades where prepay_id = ${ref.prepayId}`
    if (row) return row
  }
  return null
}

export async function setRedirectUrl(sql: Sql, id: string, url: string): Promise<void> {
  await sql`update wechat_trades set redirect_url = ${url} where id = ${id} and trade_state = 'NOTPAY'`
}

export type PayResult =
  { outcome: 'paid'; trade: WxTrade } | { outcome: 'already-paid'; trade: WxTrade } | { outcome: 'closed'; trade: WxTrade }

/**
 * NOTPAY → SUCCESS, once. `afterPaid` runs in the same transaction only when this call made the
 * transition (it schedules the notify), so the notify exists iff the payment does.
 */
export async function payTrade(sql: Sql, id: string, afterPaid: (tx: Q, trade: WxTrade) => Promise<void>): Promise<PayResult | null> {
  return sql.begin(async (tx) => {
    const [paid] = await tx<WxTrade[]>`
      update wechat_trades set trade_state = 'SUCCESS', paid_at = now(), payer_openid = coalesce(payer_openid, ${newOpenid()})
      where id = ${id} and trade_state = 'NOTPAY' and (time_expire is null or time_expire > now())
      returning *`
    if (paid) {
      await afterPaid(tx, paid)
      return { outcome: 'paid' as const, trade: paid }
    }
    const [row] = await tx<WxTrade[]>`select * from wechat_trades where id = ${id}`
    if (!row) return null
    if (row.trade_state === 'NOTPAY') {
      const [closed] = await tx<WxTrade[]>`
        update wechat_trades set trade_state = 'CLOSED', closed_at = now() where id = ${id} and trade_state = 'NOTPAY' returning *`
      return { outcome: 'closed' as const, trade: closed ?? row }
    }
    if (row.paid_at) return { outcome: 'already-paid' as const, trade: row }
    return { outcome: 'closed' as const, trade: row }
  })
}

/** Close: NOTPAY → CLOSED; closing a closed transaction is a no-op; a paid one is ORDERPAID. */
export async function closeTrade(sql: Sql, trade: WxTrade): Promise<WxTrade> {
  const [closed] = await sql<WxTrade[]>`
    update wechat_trades set trade_state = 'CLOSED', closed_at = now() where id = ${trade.id} and trade_state = 'NOTPAY' returning *`
  if (closed) return closed
  const now = (await findById(sql, trade.id))!
  if (now.trade_state === 'CLOSED') return now
  throw new WxError(400, 'ORDERPAID', '订单已支付')
}

export interface RefundOutcome {
  trade: WxTrade
  refund: WxRefund
}

/**
 * Refund `status`: SUCCESS (refunded), PROCESSING (accepted, not yet made), ABNORMAL (the money is
 * parked in WeChat's intermediate account: the buyer's card or balance could not take it; finished by
 * hand or the abnormal-refund API), CLOSED (given up: the money stays with the merchant).
 */
export const REFUND_STATUSES = ['SUCCESS', 'PROCESSING', 'ABNORMAL', 'CLOSED'] as const
export type RefundStatus = (typeof REFUND_STATUSES)[number]

/**
 * Called inside the transaction that makes a refund final (SUCCESS, CLOSED) or ABNORMAL: where the
 * refund notify is scheduled, so it is sent exactly when the state it reports was committed.
 */
export type RefundSettled = (tx: Q, refund: WxRefund, trade: WxTrade) => Promise<void>

/**
 * A refund: partial allowed, never above paid − refunded; `total` must be the transaction's amount;
 * idempotent per out_refund_no (same request → the earlier refund; another amount → INVALID_REQUEST).
 * Any refund turns the transaction into REFUND, as WeChat reports it. `status` is what a new refund
 * becomes (the control API's refund mode); a CLOSED one gives the amount back to the refundable rest.
 */
export async function refundTrade(
  sql: Sql,
  tradeId: string,
  req: { outRefundNo: string; refund: number; total: number; reason: string | null; notifyUrl?: string | null; status?: RefundStatus },
  onSettled?: RefundSettled,
): Promise<RefundOutcome> {
  const status = req.status ?? 'SUCCESS'
  return sql.begin(async (tx) => {
    const [trade] = await tx<WxTrade[]>`select * from wechat_trades where id = ${tradeId} for update`
    if (!trade) throw orderNotExist()
    const [prior] = await tx<WxRefund[]>`
      select * from wechat_refunds where mchid = ${trade.mchid} and out_refund_no = ${req.outRefundNo}`
    if (prior) {
      if (prior.trade_id !== trade.id || prior.refund !== req.refund)
        throw new WxError(400, 'INVALID_REQUEST', '请求参数与之前的退款请求不一致')
      return { trade, refund: prior }
    }
    if (!trade.paid_at) throw new WxError(400, 'INVALID_REQUEST', '订单未支付，不能退款')
    if (req.total !== trade.total) throw new WxError(400, 'PARAM_ERROR', '订单金额 amount.total 与原订单金额不一致')
    if (req.refund > trade.total - trade.refunded) throw new WxError(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额')
    const [refund] = await tx<WxRefund[]>`
      insert into wechat_refunds (trade_id, mchid, out_refund_no, refund_id, refund, total, reason, status, notify_url, success_time)
      values (${trade.id}, ${trade.mchid}, ${req.outRefundNo}, ${newRefundId()}, ${req.refund}, ${req.total}, ${req.reason}, ${status},
              ${req.notifyUrl ?? null}, ${status === 'SUCCESS' ? new Date() : null})
      returning *`
    const held = status === 'CLOSED' ? 0 : req.refund
    const [updated] = await tx<WxTrade[]>`
      update wechat_trades set refunded = refunded + ${held}, trade_state = 'REFUND' where id = ${trade.id} returning *`
    if (status !== 'PROCESSING') await onSettled?.(tx, refund!, updated!)
    return { trade: updated!, refund: refund! }
  })
}

export async function findRefund(sql: Sql, mchid: string, outRefundNo: string): Promise<(WxRefund & { trade: WxTrade }) | null> {
  const [refund] = await sql<WxRefund[]>`select * from wechat_refunds where mchid = ${mchid} and out_refund_no = ${outRefundNo}`
  if (!refund) return null
  const [trade] = await sql<WxTrade[]>`select * from wechat_trades where id = ${refund.trade_id}`
  return { ...refund, trade: trade! }
}

/**
 * Moves a refund that is not final (PROCESSING, ABNORMAL) to `status`, once (guarded); CLOSED gives
 * its amount back to the trade's refundable rest. null when there is no such refund or it is final.
 */
export async function settleRefund(
  sql: Sql,
  mchid: string,
  outRefundNo: string,
  status: Exclude<RefundStatus, 'PROCESSING'>,
  onSettled?: RefundSettled,
): Promise<WxRefund | null> {
  return sql.begin(async (tx) => {
    const [r] = await tx<WxRefund[]>`
      update wechat_refunds set status = ${status}, success_time = ${status === 'SUCCESS' ? new Date() : null}
       where mchid = ${mchid} and out_refund_no = ${outRefundNo} and status in ('PROCESSING', 'ABNORMAL') and status <> ${status}
      returning *`
    if (!r) return null
    const [trade] =
      status === 'CLOSED'
        ? await tx<WxTrade[]>`update wechat_trades set refunded = refunded - ${r.refund} where id = ${r.trade_id} returning *`
        : await tx<WxTrade[]>`select * from wechat_trades where id = ${r.trade_id}`
    await onSettled?.(tx, r, trade!)
    return r
  })
}
