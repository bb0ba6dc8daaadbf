/**
 * What bills are made of, in PostgreSQL: the day's paid trades and refunds of each provider, the
 * control API's amount overrides and faults, and the generated bill files behind download links.
 */
import type { Sql } from '@paysys/db'
import { randomToken } from '../util.ts'
import type { BillFaultMode } from '../provider.ts'

/** A provider's name (see ../providers.ts). */
export type BillProvider = string

/**
 * Bill faults (`BILL_FAULT_MODES` in ../provider.ts; each provider says which apply to its bills):
 * - `download-error`: the download link answers HTTP 500.
 * - `query-error`: the download-URL query answers the provider's system error.
 * - `hash-mismatch`: the answered hash is not the file's (providers whose bills carry a hash).
 * - `corrupt`: the file cannot be parsed (header line gone, amounts garbled).
 * - `bad-signature`: the download-URL answer is signed with a key that is not the platform's.
 */
export type FaultMode = BillFaultMode

/** How long a download link works (the real ones: from 30 s to a few minutes). */
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
