/**
 * Alipay trade state, in PostgreSQL. Every transition is a guarded UPDATE, so duplicate or concurrent
 * requests (two cashier clicks, a control-API pay racing a close) take effect once.
 *
 * States: WAIT_BUYER_PAY → TRADE_SUCCESS (paid) | TRADE_CLOSED (closed, or expired unpaid);
 * TRADE_SUCCESS → TRADE_CLOSED once fully refunded (as Alipay does).
 *
 * A trade exists for query/close/refund only once the buyer has seen it (`seen_at`: scanned the QR,
 * opened the cashier, paid): before that Alipay answers ACQ.TRADE_NOT_EXIST and a close changes
 * nothing, so the QR stays payable until its time_expire. A QR code lives at most two hours.
 */
import type { Sql } from '@paysys/db'
import type { Q } from '../deliveries.ts'
import { chinaDate, randomDigits, randomToken } from '../util.ts'

export type TradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED'
export type Channel = 'page' | 'wap' | 'precreate'

export interface Trade {
  id: string
  app_id: string
  out_trade_no: string
  trade_no: string
  channel: Channel
  status: TradeStatus
  total_amount: number
  refunded_amount: number
  subject: string
  body: string | null
  notify_url: string | null
  return_url: string | null
  qr_code: string | null
  qr_token: string | null
  buyer_id: string | null
  buyer_logon_id: string | null
  expire_at: Date | null
  seen_at: Date | null
  created_at: Date
  paid_at: Date | null
  closed_at: Date | null
}

export interface Refund {
  out_request_no: string
  refund_amount: number
  refunded_total: number
  refund_reason: string | null
  created_at: Date
}

/** A business failure answered as `code 40004 Business Failed` with this sub_code. */
export class BizError extends Error {
  constructor(
    readonly subCode: string,
    readonly subMsg: string,
    readonly code = '40004',
    readonly msg = 'Business Failed',
  ) {
    super(`${subCode}: ${subMsg}`)
  }
}

export const notExist = () => new BizError('ACQ.TRADE_NOT_EXIST', '交易不存在')

/** An Alipay QR code (precreate) dies two hours after it was made, whatever time_expire says. */
export const QR_LIFETIME_MS = 2 * 3600_000

/** The buyer scanned the QR or opened the cashier: from now on the trade exists for the openapi methods. */
export async function markSeen(q: Q, id: string): Promise<void> {
  await q`update alipay_trades set seen_at = now() where id = ${id} and seen_at is null`
}

/** Trade numbers look like Alipay's: yyyyMMdd + "22001" + 15 digits (28 digits). */
export function newTradeNo(): string {
  return `${chinaDate()}22001${randomDigits(15)}`
}

export interface CreateTrade {
  appId: string
  outTradeNo: string
  totalAmount: number
  subject: string
  body: string | null
  notifyUrl: string | null
  returnUrl: string | null
  channel: Channel
  expireAt: Date | null
  /** For precreate: the QR content to assign when the trade has none (given its token). */
  qr?: { code: string; token: string }
}

/**
 * Creates the trade, or reuses the existing one for the same out_trade_no when it is unpaid and the
 * amount matches (notify/return URLs are updated to the latest request). A different amount is
 * ACQ.CONTEXT_INCONSISTENT; a paid or closed trade cannot be started again.
 */
export async function createOrReuseTrade(sql: Sql, t: CreateTrade): Promise<Trade> {
  return sql.begin(async (tx) => {
    await expireDue(tx, t.appId, t.outTradeNo)
    const id = `ali_${randomToken(24)}`
    const qrDeath = t.channel === 'precreate' ? new Date(Date.now() + QR_LIFETIME_MS) : null
    const expireAt = qrDeath && (!t.expireAt || t.expireAt > qrDeath) ? qrDeath : t.expireAt
    const [created] = await tx<Trade[]>`
      insert into alipay_trades (id, app_id, out_trade_no, trade_no, channel, total_amount, subject, body, notify_url, return_url,
                                 qr_code, qr_token, expire_at)
      values (${id}, ${t.appId}, ${t.outTradeNo}, ${newTradeNo()}, ${t.channel}, ${t.totalAmount}, ${t.subject}, ${t.body},
              ${t.notifyUrl}, ${t.returnUrl}, ${t.qr?.code ?? null}, ${t.qr?.token ?? null}, ${expireAt})
      on conflict (app_id, out_trade_no) do nothing
      returning *`
    if (created) return created
    const [existing] = await tx<Trade[]>`
      select * from alipay_trades where app_id = ${t.appId} and out_trade_no = ${t.outTradeNo} for update`
    if (!existing) throw new BizError('ACQ.SYSTEM_ERROR', '系统繁忙', '20000', 'Service Currently Unavailable')
    if (existing.total_amount !== t.totalAmount) throw new BizError('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改')
    if (existing.status === 'TRADE_SUCCESS') throw new BizError('ACQ.TRADE_HAS_SUCCESS', '交易已被支付')
    if (existing.status === 'TRADE_CLOSED') throw new BizError('ACQ.TRADE_HAS_CLOSE', '交易已经关闭')
    const [updated] = await tx<Trade[]>`
      update alipay_trades set
        notify_url = coalesce(${t.notifyUrl}, notify_url),
        return_url = coalesce(${t.returnUrl}, return_url),
        qr_code = coalesce(qr_code, ${t.qr?.code ?? null}),
        qr_token = coalesce(qr_token, ${t.qr?.token ?? null}),
        expire_at = case when channel = 'precreate'
                         then least(coalesce(${t.expireAt}, expire_at), created_at + ${QR_LIFETIME_MS / 1000} * interval '1 second')
                         else coalesce(${t.expireAt}, expire_at) end
      where id = ${existing.id}
      returning *`
    return updated!
  })
}

/** Closes unpaid trades whose time_expire has passed (all of them, or one). */
export async function expireDue(q: Q, appId?: string, outTradeNo?: string): Promise<void> {
  if (appId !== undefined && outTradeNo !== undefined) {
    await q`update alipay_trades set status = 'TRADE_CLOSED', closed_at = now()
            where app_id = ${appId} and out_trade_no = ${outTradeNo} and status = 'WAIT_BUYER_PAY' and expire_at <= now()`
  } else {
    await q`update alipay_trades set status = 'TRADE_CLOSED', closed_at = now()
            where status = 'WAIT_BUYER_PAY' and expire_at <= now()`
  }
}

/** By trade_no (takes precedence, as in Alipay) or out_trade_no. */
export async function findTrade(sql: Sql, appId: string, ref: { outTradeNo?: string; tradeNo?: string }): Promise<Trade | null> {
  if (ref.tradeNo) {
    const [row] = await sql<Trade[]>`select * from alipay_trades where app_id = ${appId} and trade_no = ${ref.tradeNo}`
    if (!row) return null
    if (ref.outTradeNo && row.out_trade_no !== ref.outTradeNo) return null
    await expireDue(sql, appId, row.out_trade_no)
    return (await sql<Trade[]>`select * from alipay_trades where id = ${row.id}`)[0] ?? null
  }
  if (!ref.outTradeNo) return null
  await expireDue(sql, appId, ref.outTradeNo)
  const [row] = await sql<Trade[]>`select * from alipay_trades where app_id = ${appId} and out_trade_no = ${ref.outTradeNo}`
  return row ?? null
}

export async function findTradeById(sql: Sql, id: string): Promise<Trade | null> {
  const [row] = await sql<Trade[]>`select * from alipay_trades where id = ${id}`
  if (row && row.status === 'WAIT_BUYER_PAY' && row.expire_at && row.expire_at <= new Date()) {
    await expireDue(sql, row.app_id, row.out_trade_no)
    return (await sql<Trade[]>`select * from alipay_trades where id = ${id}`)[0] ?? null
  }
  return row ?? null
}

export async function findTradeByQr(sql: Sql, ref: { code?: string; token?: string }): Promise<Trade | null> {
  if (ref.code) {
    const [row] = await sql<Trade[]>`select * from alipay_trades where qr_code = ${ref.code}`
    if (row) return row
  }
  if (ref.token) {
    const [row] = await sql<Trade[]>`select * from alipay_trades where qr_token = ${ref.token}`
    if (row) return row
  }
  return null
}

export type PayResult = { outcome: 'paid'; trade: Trade } | { outcome: 'already-paid'; trade: Trade } | { outcome: 'closed'; trade: Trade }

/**
 * Marks the trade paid (once). `afterPaid` runs inside the same transaction only when this call
 * made the transition (it schedules the notify), so the notify exists iff the payment does.
 */
export async function payTrade(sql: Sql, id: string, afterPaid: (tx: Q, trade: Trade) => Promise<void>): Promise<PayResult | null> {
  return sql.begin(async (tx) => {
    const buyerId = `2088${randomDigits(12)}`
    const logon = `${randomDigits(3)}****${randomDigits(4)}`
    const [paid] = await tx<Trade[]>`
      update alipay_trades set status = 'TRADE_SUCCESS', paid_at = now(), buyer_id = ${buyerId}, buyer_logon_id = ${logon},
        seen_at = coalesce(seen_at, now())
      where id = ${id} and status = 'WAIT_BUYER_PAY' and (expire_at is null or expire_at > now())
      returning *`
    if (paid) {
      await afterPaid(tx, paid)
      return { outcome: 'paid' as const, trade: paid }
    }
    const [row] = await tx<Trade[]>`select * from alipay_trades where id = ${id}`
    if (!row) return null
    if (row.status === 'WAIT_BUYER_PAY') {
      // Expired while unpaid: close it now.
      const [closed] = await tx<Trade[]>`
        update alipay_trades set status = 'TRADE_CLOSED', closed_at = now() where id = ${id} and status = 'WAIT_BUYER_PAY' returning *`
      return { outcome: 'closed' as const, trade: closed ?? row }
    }
    if (row.paid_at) return { outcome: 'already-paid' as const, trade: row }
    return { outcome: 'closed' as const, trade: row }
  })
}

/** alipay.trade.close: only an unpaid trade can be closed (else ACQ.TRADE_STATUS_ERROR). */
export async function closeTrade(sql: Sql, trade: Trade): Promise<Trade> {
  const [closed] = await sql<Trade[]>`
    update alipay_trades set status = 'TRADE_CLOSED', closed_at = now()
    where id = ${trade.id} and status = 'WAIT_BUYER_PAY' returning *`
  if (!closed) throw new BizError('ACQ.TRADE_STATUS_ERROR', '交易状态不合法')
  return closed
}

export interface RefundResult {
  trade: Trade
  refund: Refund
  /** false when this out_request_no had already been refunded (idempotent replay). */
  fundChange: boolean
}

/**
 * alipay.trade.refund: partial refunds allowed, never above paid − refunded; idempotent per
 * out_request_no (same amount → the earlier result, fund_change N; other amount → ACQ.DISCORDANT_REPEAT_REQUEST).
 * A full refund closes the trade.
 */
export async function refundTrade(
  sql: Sql,
  tradeId: string,
  req: { outRequestNo: string; amount: number; reason: string | null },
  afterRefund: (tx: Q, trade: Trade, refund: Refund) => Promise<void> = async () => {},
): Promise<RefundResult> {
  return sql.begin(async (tx) => {
    const [trade] = await tx<Trade[]>`select * from alipay_trades where id = ${tradeId} for update`
    if (!trade) throw notExist()
    const [prior] = await tx<Refund[]>`
      select out_request_no, refund_amount, refunded_total, refund_reason, created_at from alipay_refunds
      where trade_id = ${tradeId} and out_request_no = ${req.outRequestNo}`
    if (prior) {
      if (prior.refund_amount !== req.amount) throw new BizError('ACQ.DISCORDANT_REPEAT_REQUEST', '不一致的请求')
      return { trade, refund: prior, fundChange: false }
    }
    if (!trade.paid_at) throw new BizError('ACQ.TRADE_STATUS_ERROR', '交易状态不合法')
    if (req.amount > trade.total_amount - trade.refunded_amount) {
      throw new BizError('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限')
    }
    const total = trade.refunded_amount + req.amount
    const [refund] = await tx<Refund[]>`
      insert into alipay_refunds (trade_id, out_request_no, refund_amount, refunded_total, refund_reason)
      values (${tradeId}, ${req.outRequestNo}, ${req.amount}, ${total}, ${req.reason})
      returning out_request_no, refund_amount, refunded_total, refund_reason, created_at`
    const full = total === trade.total_amount
    const [updated] = await tx<Trade[]>`
      update alipay_trades set refunded_amount = ${total},
        status = ${full ? 'TRADE_CLOSED' : trade.status}, closed_at = ${full ? new Date() : trade.closed_at}
      where id = ${tradeId} returning *`
    await afterRefund(tx, updated!, refund!)
    return { trade: updated!, refund: refund!, fundChange: true }
  })
}

export async function findRefund(sql: Sql, tradeId: string, outRequestNo: string): Promise<Refund | null> {
  const [row] = await sql<Refund[]>`
    select out_request_no, refund_amount, refunded_total, refund_reason, created_at from alipay_refunds
    where trade_id = ${tradeId} and out_request_no = ${outRequestNo}`
  return row ?? null
}
