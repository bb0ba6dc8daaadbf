/**
 * How the sandbox writes a provider's bill, set through the control API (bills/control.ts), so
 * tests can meet each variant real merchants get:
 * - WeChat `bom`: the file starts with a UTF-8 BOM (as files saved by some of WeChat's tools do).
 * - WeChat `layout`: CURRENT (27/20/29 columns for ALL/SUCCESS/REFUND) or LEGACY, the early layout
 *   WeChat's format page says a few merchants still get (24/18/26 columns: 总金额, 企业红包金额, no
 *   订单金额 / 申请退款金额 / 费率备注).
 * - Coupons: a trade's non-top-up coupon (免充值券) amount, which WeChat takes off 应结订单金额 and
 *   charges no fee on (the sandbox has no coupon flow of its own; the trade itself is unchanged).
 */
import type { Sql } from '@paysys/db'
import type { BillProvider } from '../bills/store.ts'

export const BILL_LAYOUTS = ['CURRENT', 'LEGACY'] as const
export type BillLayout = (typeof BILL_LAYOUTS)[number]

export interface BillFormat {
  bom: boolean
  layout: BillLayout
}

export async function billFormatOf(sql: Sql, provider: BillProvider): Promise<BillFormat> {
  const [row] = await sql<BillFormat[]>`select bom, layout from bill_formats where provider = ${provider}`
  return row ?? { bom: false, layout: 'CURRENT' }
}

export async function setBillFormat(sql: Sql, provider: BillProvider, f: BillFormat): Promise<void> {
  await sql`insert into bill_formats (provider, bom, layout) values (${provider}, ${f.bom}, ${f.layout})
            on conflict (provider) do update set bom = excluded.bom, layout = excluded.layout, updated_at = now()`
}

export async function setBillCoupon(sql: Sql, provider: BillProvider, outTradeNo: string, amount: number | null): Promise<void> {
  if (amount === null) await sql`delete from bill_coupons where provider = ${provider} and out_trade_no = ${outTradeNo}`
  else
    await sql`insert into bill_coupons (provider, out_trade_no, amount) values (${provider}, ${outTradeNo}, ${amount})
              on conflict (provider, out_trade_no) do update set amount = excluded.amount`
}

/** out_trade_no → the non-top-up coupon (fen) its bill row shows. */
export async function billCoupons(sql: Sql, provider: BillProvider): Promise<Map<string, number>> {
  const rows = await sql<{ out_trade_no: string; amount: number }[]>`
    select out_trade_no, amount from bill_coupons where provider = ${provider}`
  return new Map(rows.map((r) => [r.out_trade_no, Number(r.amount)]))
}
