/**
 * Alipay's trade bill (业务明细), pure: the ZIP Alipay's download link serves, holding two
 * GBK-encoded CSVs — `{account}_{yyyyMMdd}_业务明细.csv` (one row per payment and per refund of the
 * day) and `{account}_{yyyyMMdd}_业务明细(汇总).csv` (the day's totals) — in the layout of the
 * real files: `#` comment lines around the table, every value followed by a tab, refunds as
 * negative amounts carrying the refund request number, the service fee (服务费) negative.
 */
import { zipSync } from 'fflate'
import iconv from 'iconv-lite'
import { chinaTime, fenToYuan } from '../util.ts'
import { compactDay, dayBounds, feeOf } from '../bills/day.ts'
import type { AlipayBillRefund, AlipayBillTrade } from './bills.ts'

export const ALIPAY_DETAIL_HEADER = [
  '支付宝交易号',
  '商户订单号',
  '业务类型',
  '商品名称',
  '创建时间',
  '完成时间',
  '门店编号',
  '门店名称',
  '操作员',
  '终端号',
  '对方账户',
  '订单金额（元）',
  '商家实收（元）',
  '支付宝红包（元）',
  '集分宝（元）',
  '支付宝优惠（元）',
  '商家优惠（元）',
  '券核销金额（元）',
  '券名称',
  '商家红包消费金额（元）',
  '卡消费金额（元）',
  '退款批次号/请求号',
  '服务费（元）',
  '分润（元）',
  '备注',
] as const

const SUMMARY_HEADER =
  '门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）,商户优惠净额（元）'

const DETAIL_START = '#-----------------------------------------业务明细列表----------------------------------------'
const DETAIL_END = '#-----------------------------------------业务明细列表结束------------------------------------'
const SUMMARY_START = '#-----------------------------------------业务汇总列表----------------------------------------'
const SUMMARY_END = '#----------------------------------------业务汇总列表结束-------------------------------------'

export interface AlipayBillInput {
  /** The merchant's account shown in the bill and its file names (partner id + 4 digits, as Alipay's). */
  account: string
  day: string
  exportedAt: Date
  trades: AlipayBillTrade[]
  refunds: AlipayBillRefund[]
  /** out_trade_no → amount (fen) its payment row shows instead of the real one (control API). */
  overrides: Map<string, number>
  /** The `corrupt` fault: no header line and garbled amounts. */
  corrupt?: boolean
}

/** A CSV value as Alipay writes it: the value, then a tab (quoted only when it holds a comma, quote or line break). */
function cell(v: string): string {
  const flat = v.replace(/[\r\n]+/g, ' ')
  return `${/[",]/.test(flat) ? `"${flat.replace(/"/g, '""')}"` : flat}\t`
}

const line = (values: string[]) => values.map(cell).join(',')

interface DetailRow {
  kind: '交易' | '退款'
  /** Signed fen: negative for refunds. */
  amount: number
  /** Signed fen as the bill shows it: negative when charged, positive when given back. */
  fee: number
  values: string[]
}

function detailRows(input: AlipayBillInput): DetailRow[] {
  const rows: DetailRow[] = []
  const money = (fen: number) => (input.corrupt ? '--' : fenToYuan(fen))
  for (const t of input.trades) {
    const amount = input.overrides.get(t.out_trade_no) ?? t.total_amount
    const fee = -feeOf(amount)
    rows.push({
      kind: '交易',
      amount,
      fee,
      values: [
        t.trade_no,
        t.out_trade_no,
        '交易',
        t.subject,
        chinaTime(t.created_at),
        chinaTime(t.paid_at),
        '',
        '',
        '',
        '',
        t.buyer_logon_id ?? '',
        money(amount),
        money(amount),
        '0.00',
        '0.00',
        '0.00',
        '0.00',
        '0.00',
        '',
        '0.00',
        '0.00',
        '',
        fenToYuan(fee),
        '0.00',
        '',
      ],
    })
  }
  for (const r of input.refunds) {
    // The fee on the refunded part is given back, in proportion.
    const fee = feeOf(r.refund_amount)
    rows.push({
      kind: '退款',
      amount: -r.refund_amount,
      fee,
      values: [
        r.trade_no,
        r.out_trade_no,
        '退款',
        r.subject,
        chinaTime(r.trade_created_at),
        chinaTime(r.created_at),
        '',
        '',
        '',
        '',
        r.buyer_logon_id ?? '',
        money(-r.refund_amount),
        money(-r.refund_amount),
        '0.00',
        '0.00',
        '0.00',
        '0.00',
        '0.00',
        '',
        '0.00',
        '0.00',
        r.out_request_no,
        fenToYuan(fee),
        '0.00',
        r.refund_reason ?? '',
      ],
    })
  }
  return rows
}

function heading(title: string, input: AlipayBillInput): string[] {
  const { start, end } = dayBounds(input.day)
  return [title, `#账号：[${input.account}]`, `#起始日期：[${chineseDateTime(start)}]   终止日期：[${chineseDateTime(end)}]`]
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

/** The detail CSV (业务明细) as text. */
export function alipayDetailCsv(input: AlipayBillInput): string {
  const rows = detailRows(input)
  const trades = rows.filter((r) => r.kind === '交易')
  const refunds = rows.filter((r) => r.kind === '退款')
  return [
    ...heading('#支付宝业务明细查询', input),
    DETAIL_START,
    ...(input.corrupt ? [] : [ALIPAY_DETAIL_HEADER.join(',')]),
    ...rows.map((r) => line(r.values)),
    DETAIL_END,
    `#交易合计：${trades.length}笔，商家实收共${fenToYuan(sum(trades.map((r) => r.amount)))}元，商家优惠共0.00元`,
    `#退款合计：${refunds.length}笔，商家实收退款共${fenToYuan(sum(refunds.map((r) => r.amount)))}元，商家优惠退款共0.00元`,
    `#导出时间：[${chineseDateTime(input.exportedAt)}]`,
    '',
  ].join('\r\n')
}

/** The summary CSV (业务明细(汇总)) as text. */
export function alipaySummaryCsv(input: AlipayBillInput): string {
  const rows = detailRows(input)
  const total = sum(rows.map((r) => r.amount))
  const fees = sum(rows.map((r) => r.fee))
  const counts = [String(rows.filter((r) => r.kind === '交易').length), String(rows.filter((r) => r.kind === '退款').length)]
  const totals = (label: string) =>
    line([
      label,
      '',
      ...counts,
      fenToYuan(total),
      fenToYuan(total),
      '0.00',
      '0.00',
      '0.00',
      fenToYuan(fees),
      '0.00',
      fenToYuan(total + fees),
      '0.00',
    ])
  return [
    ...heading('#支付宝业务汇总查询', input),
    SUMMARY_START,
    SUMMARY_HEADER,
    totals('合计'),
    SUMMARY_END,
    `#导出时间：[${chineseDateTime(input.exportedAt)}]`,
    '',
  ].join('\r\n')
}

export function alipayBillNames(account: string, day: string) {
  const base = `${account}_${compactDay(day)}`
  return { zip: `${base}.csv.zip`, detail: `${base}_业务明细.csv`, summary: `${base}_业务明细(汇总).csv` }
}

/** The ZIP the download link serves: both CSVs, GBK-encoded (file names in UTF-8, flagged as such in the ZIP). */
export function alipayBillZip(input: AlipayBillInput): { fileName: string; content: Buffer } {
  const names = alipayBillNames(input.account, input.day)
  const gbk = (text: string) => new Uint8Array(iconv.encode(text, 'gbk'))
  const zip = zipSync(
    { [names.detail]: gbk(alipayDetailCsv(input)), [names.summary]: gbk(alipaySummaryCsv(input)) },
    { level: 6, mtime: input.exportedAt },
  )
  return { fileName: names.zip, content: Buffer.from(zip) }
}

/** `yyyy年MM月dd日 HH:mm:ss` (China time), as Alipay's bill headers write times. */
export function chineseDateTime(d: Date | number): string {
  const t = chinaTime(d)
  return `${t.slice(0, 4)}年${t.slice(5, 7)}月${t.slice(8, 10)}日 ${t.slice(11)}`
}
