/**
 * What bills are made of, in PostgreSQL: the day's paid trades and refunds of each provider, the
 * control API's amount overrides and faults, and the generated bill files behind download links.
 */
import type { Sql } from '@paysys/db'
import { randomToken } from '../util.ts'
import { dayBounds } from './day.ts'

export type BillProvider = 'alipay' | 'wechat'
export const BILL_PROVIDERS: readonly BillProvider[] = ['alipay', 'wechat']

/**
 * - `download-error`: the download link answers HTTP 500.
 * - `query-error`: the download-URL query answers the provider's system error.
 * - `hash-mismatch` (WeChat): `hash_value` is not the file's.
 * - `corrupt`: the file cannot be parsed (header line gone, amounts garbled).
 * - `bad-signature`: the download-URL answer is signed with a key that is not the platform's.
 */
export const FAULT_MODES = ['none', 'download-error', 'query-error', 'hash-mismatch', 'corrupt', 'bad-signature'] as const
export type FaultMode = (typeof FAULT_MODES)[number]

/** How long a download link works (the real ones: 30 s for Alipay, a few minutes for WeChat). */
export const LINK_TTL_MS = 5 * 60_000

export async function faultOf(sql: Sql, provider: BillProvider): Promise<FaultMode> {
  const [row] = await sql<{ mode: FaultMode }[]>`select mode from bill_faults where provider = ${provider}`
  return row?.mode ?? 'none'
}

export async function setFault(sql: Sql, provider: BillProvider, mode: FaultMode): Promise<void> {
  if (mode === 'none') await sql`delete from bill_faults where provider = ${provider}`
  else
    await sql`insert into bill_faults (provider, mode) values (${provider}, ${mode})
              on conflict (provider) do update set mode = excluded.mode, updated_at = now()`
}

export async function setAmountOverride(sql: Sql, provider: BillProvider, outTradeNo: string, amount: number | null): Promise<void> {
  if (amount === null) await sql`delete from bill_amount_overrides where provider = ${provider} and out_trade_no = ${outTradeNo}`
  else
    await sql`insert into bill_amount_overrides (provider, out_trade_no, amount) values (${provider}, ${outTradeNo}, ${amount})
              on conflict (provider, out_trade_no) do update set amount = excluded.amount`
}

/** out_trade_no → the amount its bill row shows instead of the real one. */
export async function amountOverrides(sql: Sql, provider: BillProvider): Promise<Map<string, number>> {
  const rows = await sql<{ out_trade_no: string; amount: number }[]>`
    select out_trade_no, amount from bill_amount_overrides where provider = ${provider}`
  return new Map(rows.map((r) => [r.out_trade_no, r.amount]))
}

export interface StoredBill {
  provider: BillProvider
  billDate: string
  fileName: string
  contentType: string
  content: Buffer
}

/** Stores a generated bill behind a fresh unguessable token (and forgets links expired a day ago). */
export async function saveBillFile(sql: Sql, bill: StoredBill): Promise<string> {
  const token = randomToken(40)
  await sql`delete from bill_files where expires_at < now() - interval '1 day'`
  await sql`
    insert into bill_files (token, provider, bill_date, file_name, content_type, content, expires_at)
    values (${token}, ${bill.provider}, ${bill.billDate}, ${bill.fileName}, ${bill.contentType}, ${bill.content},
            ${new Date(Date.now() + LINK_TTL_MS)})`
  return token
}

/** The bill behind a download token, while its link works. */
export async function loadBillFile(sql: Sql, provider: BillProvider, token: unknown): Promise<StoredBill | null> {
  if (typeof token !== 'string' || !/^[a-z0-9]{40}$/.test(token)) return null
  const [row] = await sql<{ bill_date: string; file_name: string; content_type: string; content: Buffer }[]>`
    select bill_date, file_name, content_type, content from bill_files
    where token = ${token} and provider = ${provider} and expires_at > now()`
  if (!row) return null
  return { provider, billDate: row.bill_date, fileName: row.file_name, contentType: row.content_type, content: row.content }
}

// ---- the day's trades and refunds ----

export interface AlipayBillTrade {
  trade_no: string
  out_trade_no: string
  subject: string
  total_amount: number
  buyer_logon_id: string | null
  created_at: Date
  paid_at: Date
}

export interface AlipayBillRefund {
  trade_no: string
  out_trade_no: string
  subject: string
  buyer_logon_id: string | null
  trade_created_at: Date
  out_request_no: string
  refund_amount: number
  refund_reason: string | null
  created_at: Date
}

/** Alipay trades paid during the day and refunds made during it, in time order. */
export async function alipayDay(sql: Sql, appId: string, day: string) {
  const { start, end } = dayBounds(day)
  const trades = await sql<AlipayBillTrade[]>`
    select trade_no, out_trade_no, subject, total_amount, buyer_logon_id, created_at, paid_at
    from alipay_trades
    where app_id = ${appId} and paid_at >= ${start} and paid_at < ${end}
    order by paid_at, id`
  const refunds = await sql<AlipayBillRefund[]>`
    select t.trade_no, t.out_trade_no, t.subject, t.buyer_logon_id, t.created_at as trade_created_at,
           r.out_request_no, r.refund_amount, r.refund_reason, r.created_at
    from alipay_refunds r join alipay_trades t on t.id = r.trade_id
    where t.app_id = ${appId} and r.created_at >= ${start} and r.created_at < ${end}
    order by r.created_at, r.id`
  return { trades, refunds }
}

export interface WechatBillTrade {
  appid: string
  mchid: string
  transaction_id: string
  out_trade_no: string
  payer_openid: string | null
  trade_type: string
  description: string
  attach: string | null
  total: number
  paid_at: Date
}

export interface WechatBillRefund extends WechatBillTrade {
  refund_id: string
  out_refund_no: string
  refund: number
  /** SUCCESS | PROCESSING | ABNORMAL | CLOSED (now; a bill shows it as of the bill's making). */
  status: string
  /** When WeChat accepted the refund: the bill dates the refund by it. */
  created_at: Date
  success_time: Date | null
}

/**
 * WeChat transactions paid during the day and refunds accepted during it (whatever they became
 * since: the bill says as of when it was made), in time order.
 */
export async function wechatDay(sql: Sql, mchid: string, day: string) {
  const { start, end } = dayBounds(day)
  const trades = await sql<WechatBillTrade[]>`
    select appid, mchid, transaction_id, out_trade_no, payer_openid, trade_type, description, attach, total, paid_at
    from wechat_trades
    where mchid = ${mchid} and paid_at >= ${start} and paid_at < ${end}
    order by paid_at, id`
  const refunds = await sql<WechatBillRefund[]>`
    select t.appid, t.mchid, t.transaction_id, t.out_trade_no, t.payer_openid, t.trade_type, t.description, t.attach, t.total,
           t.paid_at, r.refund_id, r.out_refund_no, r.refund, r.status, r.created_at, r.success_time
    from wechat_refunds r join wechat_trades t on t.id = r.trade_id
    where r.mchid = ${mchid} and r.created_at >= ${start} and r.created_at < ${end}
    order by r.created_at, r.id`
  return { trades, refunds }
}
