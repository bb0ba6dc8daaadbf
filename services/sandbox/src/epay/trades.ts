/**
 * Epay orders, in PostgreSQL. Every transition is a guarded UPDATE, so concurrent clicks, control
 * calls and refunds take effect once.
 *
 * Epay's order status: 0 unpaid → 1 paid → 2 refunded (one refund per order, partial allowed, as
 * 彩虹易支付 does). Epay has no close API: the control API's close marks an unpaid order
 * unpayable (`closed_at`) while its status stays 0.
 */
import { randomInt } from 'node:crypto'
import type { Sql } from '@paysys/db'
import type { Q } from '../deliveries.ts'
import { chinaTime, randomDigits, randomToken } from '../util.ts'

export const EPAY_TYPES = ['alipay', 'wxpay', 'qqpay', 'bank'] as const
export type EpayType = (typeof EPAY_TYPES)[number]

export type MoneyStyle = 'fixed' | 'float'

export interface EpayTrade {
  id: string
  pid: string
  trade_no: string
  out_trade_no: string
  type: EpayType
  status: number
  money: number
  refunded_money: number
  name: string
  notify_url: string
  return_url: string | null
  param: string | null
  sitename: string | null
  clientip: string | null
  device: string | null
  api: 'submit' | 'mapi' | 'v2'
  qr_token: string | null
  money_style: MoneyStyle
  buyer: string | null
  created_at: Date
  paid_at: Date | null
  closed_at: Date | null
}

/** A refusal answered as `{code, msg}` (JSON APIs) or an error page (submit.php). */
export class EpayError extends Error {
  constructor(
    readonly msg: string,
    readonly code = -1,
  ) {
    super(msg)
  }
}

/** Epay trade numbers: yyyyMMddHHmmss (GMT+8) + 5 digits. */
export function newTradeNo(): string {
  return `${chinaTime().replace(/\D/g, '')}${randomInt(11111, 100000)}`
}

export interface NewTrade {
  pid: string
  outTradeNo: string
  type: EpayType
  money: number
  name: string
  notifyUrl: string
  returnUrl: string | null
  param: string | null
  sitename: string | null
  clientip: string | null
  device: string | null
  api: 'submit' | 'mapi' | 'v2'
}

/**
 * Creates the order, or reuses the unpaid one with the same out_trade_no when money, name, URLs and
 * param are unchanged (the type may change, as Epay allows). A paid order or changed parameters are
 * refused with Epay's messages.
 */
export async function createOrReuseTrade(sql: Sql, t: NewTrade): Promise<EpayTrade> {
  for (let i = 0; i < 5; i++) {
    const [created] = await sql<EpayTrade[]>`
      insert into epay_trades (id, pid, trade_no, out_trade_no, type, money, name, notify_url, return_url, param, sitename,
                               clientip, device, api)
      values (${`epay_${randomToken(24)}`}, ${t.pid}, ${newTradeNo()}, ${t.outTradeNo}, ${t.type}, ${t.money}, ${t.name},
              ${t.notifyUrl}, ${t.returnUrl}, ${t.param}, ${t.sitename}, ${t.clientip}, ${t.device}, ${t.api})
      on conflict do nothing
      returning *`
    if (created) return created
    const existing = await findTrade(sql, t.pid, { outTradeNo: t.outTradeNo })
    if (!existing) continue // a trade_no collision: draw again
    if (existing.status > 0) throw new EpayError(`该订单(${t.outTradeNo})已完成支付，请勿重复发起支付`)
    if (
      existing.money !== t.money ||
      existing.name !== t.name ||
      existing.notify_url !== t.notifyUrl ||
      existing.return_url !== t.returnUrl ||
      existing.param !== t.param
    ) {
      throw new EpayError(`该订单(${t.outTradeNo})支付参数有变化，请更换订单号重新发起支付`)
    }
    if (existing.closed_at) throw new EpayError(`该订单(${t.outTradeNo})已关闭，请更换订单号重新发起支付`)
    const [updated] = await sql<EpayTrade[]>`
      update epay_trades set type = ${t.type}, device = ${t.device}, clientip = coalesce(${t.clientip}, clientip),
                             sitename = coalesce(${t.sitename}, sitename), api = ${t.api}
      where id = ${existing.id} and status = 0 and closed_at is null
      returning *`
    if (!updated) throw new EpayError(`该订单(${t.outTradeNo})已完成支付，请勿重复发起支付`)
    return updated
  }
  throw new EpayError('创建订单失败，请返回重试！')
}

/** By trade_no (takes precedence) or out_trade_no, within the merchant. */
export async function findTrade(sql: Sql, pid: string, ref: { outTradeNo?: string; tradeNo?: string }): Promise<EpayTrade | null> {
  if (ref.tradeNo) {
    const [row] = await sql<EpayTrade[]>`select * from epay_trades where pid = ${pid} and trade_no = ${ref.tradeNo}`
    return row ?? null
  }
  if (!ref.outTradeNo) return null
  const [row] = await sql<EpayTrade[]>`select * from epay_trades where pid = ${pid} and out_trade_no = ${ref.outTradeNo}`
  return row ?? null
}

export async function findTradeById(sql: Sql, id: string): Promise<EpayTrade | null> {
  const [row] = await sql<EpayTrade[]>`select * from epay_trades where id = ${id}`
  return row ?? null
}

export async function findTradeByQrToken(sql: Sql, token: string): Promise<EpayTrade | null> {
  const [row] = await sql<EpayTrade[]>`select * from epay_trades where qr_token = ${token}`
  return row ?? null
}

/** Gives the trade a QR token (kept once given). */
export async function ensureQrToken(sql: Sql, trade: EpayTrade): Promise<EpayTrade> {
  if (trade.qr_token) return trade
  const [row] = await sql<EpayTrade[]>`
    update epay_trades set qr_token = coalesce(qr_token, ${randomToken(24)}) where id = ${trade.id} returning *`
  return row ?? trade
}

export type PayResult =
  { outcome: 'paid'; trade: EpayTrade } | { outcome: 'already-paid'; trade: EpayTrade } | { outcome: 'closed'; trade: EpayTrade }

/**
 * Marks the order paid (once). `afterPaid` runs in the same transaction only when this call made
 * the transition (it schedules the notify), so the notify exists iff the payment does.
 */
export async function payTrade(
  sql: Sql,
  id: string,
  opts: { moneyStyle?: MoneyStyle },
  afterPaid: (tx: Q, trade: EpayTrade) => Promise<void>,
): Promise<PayResult | null> {
  return sql.begin(async (tx) => {
    const [paid] = await tx<EpayTrade[]>`
      update epay_trades set status = 1, paid_at = now(), buyer = ${`${randomDigits(3)}****${randomDigits(4)}`},
                             money_style = coalesce(${opts.moneyStyle ?? null}, money_style)
      where id = ${id} and status = 0 and closed_at is null
      returning *`
    if (paid) {
      await afterPaid(tx, paid)
      return { outcome: 'paid' as const, trade: paid }
    }
    const [row] = await tx<EpayTrade[]>`select * from epay_trades where id = ${id}`
    if (!row) return null
    return row.status > 0 ? { outcome: 'already-paid' as const, trade: row } : { outcome: 'closed' as const, trade: row }
  })
}

/** Control API close: an unpaid order becomes unpayable. Null when it is paid. */
export async function closeTrade(sql: Sql, trade: EpayTrade): Promise<EpayTrade | null> {
  const [closed] = await sql<EpayTrade[]>`
    update epay_trades set closed_at = coalesce(closed_at, now()) where id = ${trade.id} and status = 0 returning *`
  return closed ?? null
}

/** api.php?act=refund: a paid order, at most its money, once (the order becomes status 2). */
export async function refundTrade(sql: Sql, trade: EpayTrade, money: number): Promise<EpayTrade> {
  if (trade.status !== 1) throw new EpayError('只支持退款已支付状态的订单')
  if (money > trade.money) throw new EpayError('退款金额不能大于订单金额')
  const [refunded] = await sql<EpayTrade[]>`
    update epay_trades set status = 2, refunded_money = ${money} where id = ${trade.id} and status = 1 returning *`
  if (!refunded) throw new EpayError('只支持退款已支付状态的订单')
  return refunded
}
