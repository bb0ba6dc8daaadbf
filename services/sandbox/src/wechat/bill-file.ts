/**
 * WeChat Pay's trade bill (交易账单), pure: UTF-8 text, a header line, one row per paid
 * transaction (SUCCESS) and per refund (REFUND) with every value prefixed by a backtick, then the
 * totals section (a header line and one line of backticked values). Amounts in yuan; the fee
 * (手续费) with five decimals, given back (negative) on refunds.
 */
import { createHash } from 'node:crypto'
import { chinaTime, fenToYuan } from '../util.ts'
import { FEE_PER_MILLE, feeOf } from '../bills/day.ts'
import type { WechatBillRefund, WechatBillTrade } from './bills.ts'

export const WECHAT_BILL_HEADER = [
  '交易时间',
  '公众账号ID',
  '商户号',
  '特约商户号',
  '设备号',
  '微信订单号',
  '商户订单号',
  '用户标识',
  '交易类型',
  '交易状态',
  '付款银行',
  '货币种类',
  '应结订单金额',
  '代金券金额',
  '微信退款单号',
  '商户退款单号',
  '退款金额',
  '充值券退款金额',
  '退款类型',
  '退款状态',
  '商品名称',
  '商户数据包',
  '手续费',
  '费率',
  '订单金额',
  '申请退款金额',
  '费率备注',
] as const

export const WECHAT_TOTALS_HEADER = [
  '总交易单数',
  '应结订单总金额',
  '退款总金额',
  '充值券退款总金额',
  '手续费总金额',
  '订单总金额',
  '申请退款总金额',
] as const

export type WechatBillType = 'ALL' | 'SUCCESS' | 'REFUND'

export interface WechatBillInput {
  billType: WechatBillType
  trades: WechatBillTrade[]
  refunds: WechatBillRefund[]
  /** out_trade_no → amount (fen) its SUCCESS row shows instead of the real one (control API). */
  overrides: Map<string, number>
  /** The `corrupt` fault: no header line and garbled amounts. */
  corrupt?: boolean
}

const RATE = `${(FEE_PER_MILLE / 10).toFixed(2)}%`
/** Fees have five decimals in WeChat's bills: 0.15 → "0.15000". */
const fee5 = (fen: number) => `${fenToYuan(fen)}000`
/** A backticked value; a line break or a comma followed by a backtick would split the row, so they cannot appear. */
const tick = (v: string) => `\`${v.replace(/[\r\n]+/g, ' ').replace(/,`/g, ', `')}`

interface Row {
  settle: number
  refund: number
  fee: number
  order: number
  applied: number
  values: string[]
}

function rows(input: WechatBillInput): Row[] {
  const out: { at: number; row: Row }[] = []
  const money = (fen: number) => (input.corrupt ? 'N/A' : fenToYuan(fen))
  if (input.billType !== 'REFUND') {
    for (const t of input.trades) {
      const amount = input.overrides.get(t.out_trade_no) ?? t.total
      const fee = feeOf(amount)
      out.push({
        at: t.paid_at.getTime(),
        row: {
          settle: amount,
          refund: 0,
          fee,
          order: amount,
          applied: 0,
          values: [
            chinaTime(t.paid_at),
            t.appid,
            t.mchid,
            '0',
            '',
            t.transaction_id,
            t.out_trade_no,
            t.payer_openid ?? '',
            t.trade_type,
            'SUCCESS',
            'OTHERS',
            'CNY',
            money(amount),
            '0.00',
            '0',
            '0',
            '0.00',
            '0.00',
            '',
            '',
            t.description,
            t.attach ?? '',
            fee5(fee),
            RATE,
            money(amount),
            '0.00',
            '',
          ],
        },
      })
    }
  }
  if (input.billType !== 'SUCCESS') {
    for (const r of input.refunds) {
      // The fee on the refunded part is given back, in proportion.
      const fee = -feeOf(r.refund)
      out.push({
        at: r.success_time.getTime(),
        row: {
          settle: 0,
          refund: r.refund,
          fee,
          order: 0,
          applied: r.refund,
          values: [
            chinaTime(r.success_time),
            r.appid,
            r.mchid,
            '0',
            '',
            r.transaction_id,
            r.out_trade_no,
            r.payer_openid ?? '',
            r.trade_type,
            'REFUND',
            'OTHERS',
            'CNY',
            '0.00',
            '0.00',
            r.refund_id,
            r.out_refund_no,
            money(r.refund),
            '0.00',
            'ORIGINAL',
            'SUCCESS',
            r.description,
            r.attach ?? '',
            fee5(fee),
            RATE,
            '0.00',
            money(r.refund),
            '',
          ],
        },
      })
    }
  }
  return out.sort((a, b) => a.at - b.at).map((o) => o.row)
}

/** Number of rows the bill would have (a bill without rows does not exist: NO_STATEMENT_EXIST). */
export const wechatBillRowCount = (input: WechatBillInput) => rows(input).length

/** The bill text. */
export function wechatBillText(input: WechatBillInput): string {
  const rs = rows(input)
  const sum = (f: (r: Row) => number) => rs.reduce((a, r) => a + f(r), 0)
  const totals = [
    String(rs.length),
    fenToYuan(sum((r) => r.settle)),
    fenToYuan(sum((r) => r.refund)),
    '0.00',
    fee5(sum((r) => r.fee)),
    fenToYuan(sum((r) => r.order)),
    fenToYuan(sum((r) => r.applied)),
  ]
  return [
    ...(input.corrupt ? [] : [WECHAT_BILL_HEADER.join(',')]),
    ...rs.map((r) => r.values.map(tick).join(',')),
    WECHAT_TOTALS_HEADER.join(','),
    totals.map(tick).join(','),
    '',
  ].join('\r\n')
}

export const sha1Hex = (data: Buffer | string) => createHash('sha1').update(data).digest('hex')
