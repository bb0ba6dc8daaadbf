/**
 * WeChat Pay's trade bill (交易账单), pure: UTF-8 text (a BOM when asked), a header line, one row per
 * paid transaction (SUCCESS) and per refund (REFUND) with every value prefixed by a backtick, then
 * the totals section (a header line and one line of backticked values). Amounts in yuan; the fee
 * (手续费) with five decimals, given back (negative) on refunds.
 *
 * As WeChat's format page says (pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html):
 * - three bill types with their own columns: ALL 27, SUCCESS 20 (no refund columns), REFUND 29
 *   (退款申请时间 and 退款成功时间 added; its 交易时间 is the payment's), and totals of 7, 4 and 7;
 * - the early layout a few merchants still get: 24 / 18 / 26 columns, 总金额 for 应结订单金额,
 *   企业红包金额 for 代金券金额, no 订单金额 / 申请退款金额 / 费率备注, 5 totals (as in a real 2018
 *   bill of merchant 1488511392 quoted in public code);
 * - a refund is on the bill of the day it was accepted ("交易时间 … 发起退款成功时间，不是退款成功
 *   时间", "退款发起成功就会出账") with its 退款状态 as of when the bill was made ("出账后退款状态不会更
 *   新"). The sandbox makes a day's bill as of the end of that day (WeChat: from 09:00 the next
 *   morning), so a refund accepted before midnight and done after it is PROCESSING; one that failed
 *   is PROCESSING too (it failed after the bill, as far as the sandbox knows: it keeps no time of
 *   failure);
 * - 应结订单金额 = 订单金额 − 免充值券 (non-top-up coupons), and the fee is charged on it.
 */
import { createHash } from 'node:crypto'
import { chinaTime, fenToYuan } from '../util.ts'
import { FEE_PER_MILLE, dayBounds, feeOf } from '../bills/day.ts'
import type { BillLayout } from './bill-options.ts'
import type { WechatBillRefund, WechatBillTrade } from './bills.ts'

export type WechatBillType = 'ALL' | 'SUCCESS' | 'REFUND'

const ALL_HEADER = [
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

/** The columns of each bill type and layout, by header name. */
export const WECHAT_HEADERS: Record<BillLayout, Record<WechatBillType, readonly string[]>> = {
  CURRENT: {
    ALL: ALL_HEADER,
    SUCCESS: [...ALL_HEADER.slice(0, 14), '商品名称', '商户数据包', '手续费', '费率', '订单金额', '费率备注'],
    REFUND: [...ALL_HEADER.slice(0, 14), '退款申请时间', '退款成功时间', ...ALL_HEADER.slice(14)],
  },
  LEGACY: {
    ALL: [...early(ALL_HEADER.slice(0, 24))],
    SUCCESS: [...early([...ALL_HEADER.slice(0, 14), '商品名称', '商户数据包', '手续费', '费率'])],
    REFUND: [...early([...ALL_HEADER.slice(0, 14), '退款申请时间', '退款成功时间', ...ALL_HEADER.slice(14, 24)])],
  },
}
/** Today's names → the early layout's. */
function early(names: readonly string[]): string[] {
  const renamed: Record<string, string> = {
    特约商户号: '子商户号',
    应结订单金额: '总金额',
    代金券金额: '企业红包金额',
    充值券退款金额: '企业红包退款金额',
  }
  return names.map((n) => renamed[n] ?? n)
}

export const WECHAT_TOTALS_HEADERS: Record<BillLayout, Record<WechatBillType, readonly string[]>> = {
  CURRENT: {
    ALL: ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'],
    SUCCESS: ['总交易单数', '应结订单总金额', '手续费总金额', '订单总金额'],
    REFUND: ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'],
  },
  LEGACY: {
    ALL: ['总交易单数', '总交易额', '总退款金额', '总企业红包退款金额', '手续费总金额'],
    SUCCESS: ['总交易单数', '总交易额', '总退款金额', '总企业红包退款金额', '手续费总金额'],
    REFUND: ['总交易单数', '总交易额', '总退款金额', '总企业红包退款金额', '手续费总金额'],
  },
}

export interface WechatBillInput {
  billType: WechatBillType
  /** The bill day (`yyyy-MM-dd`, China time): refunds' states are as of its end (or `now`, if earlier). */
  day: string
  now: Date
  trades: WechatBillTrade[]
  /** Refunds accepted during the day, as they are now. */
  refunds: WechatBillRefund[]
  /** out_trade_no → amount (fen) its SUCCESS row shows instead of the real one (control API). */
  overrides: Map<string, number>
  /** out_trade_no → its non-top-up coupon (fen): 应结订单金额 is the amount less it (control API). */
  coupons?: Map<string, number>
  layout?: BillLayout
  /** A UTF-8 BOM before the header. */
  bom?: boolean
  /** The `corrupt` fault: no header line and garbled amounts. */
  corrupt?: boolean
}

const RATE = `${(FEE_PER_MILLE / 10).toFixed(2)}%`
/** Fees have five decimals in WeChat's bills: 0.15 → "0.15000". */
const fee5 = (fen: number) => `${fenToYuan(fen)}000`
/** A backticked value; a line break or a comma followed by a backtick would split the row, so they cannot appear. */
const tick = (v: string) => `\`${v.replace(/[\r\n]+/g, ' ').replace(/,`/g, ', `')}`

interface Row {
  at: number
  /** Totals: 应结订单金额, 退款金额, 手续费, 订单金额, 申请退款金额 (fen). */
  settle: number
  refund: number
  fee: number
  order: number
  applied: number
  /** Value by today's header name (the early layout's names map onto them). */
  values: Record<string, string>
}

/** The refund's 退款状态 as of `cut`: SUCCESS only if it had succeeded by then. */
export function refundStatusAt(r: Pick<WechatBillRefund, 'status' | 'success_time'>, cut: Date): 'SUCCESS' | 'PROCESSING' {
  return r.status === 'SUCCESS' && r.success_time && r.success_time.getTime() <= cut.getTime() ? 'SUCCESS' : 'PROCESSING'
}

function rows(input: WechatBillInput): Row[] {
  const out: Row[] = []
  const money = (fen: number) => (input.corrupt ? 'N/A' : fenToYuan(fen))
  const legacy = input.layout === 'LEGACY'
  const cut = new Date(Math.min(input.now.getTime(), dayBounds(input.day).end.getTime()))
  const common = (t: WechatBillTrade) => ({
    公众账号ID: t.appid,
    商户号: t.mchid,
    特约商户号: '0',
    设备号: '',
    微信订单号: t.transaction_id,
    商户订单号: t.out_trade_no,
    用户标识: t.payer_openid ?? '',
    交易类型: t.trade_type,
    付款银行: 'OTHERS',
    货币种类: 'CNY',
    商品名称: t.description,
    商户数据包: t.attach ?? '',
    费率: RATE,
    费率备注: '',
  })
  if (input.billType !== 'REFUND') {
    for (const t of input.trades) {
      const amount = input.overrides.get(t.out_trade_no) ?? t.total
      // The early layout predates 免充值券: merchants who have them get today's layout.
      const coupon = legacy ? 0 : Math.min(input.coupons?.get(t.out_trade_no) ?? 0, amount)
      const settle = amount - coupon
      const fee = feeOf(settle)
      out.push({
        at: t.paid_at.getTime(),
        settle,
        refund: 0,
        fee,
        order: amount,
        applied: 0,
        values: {
          ...common(t),
          交易时间: chinaTime(t.paid_at),
          交易状态: 'SUCCESS',
          应结订单金额: money(legacy ? amount : settle),
          代金券金额: fenToYuan(coupon),
          微信退款单号: '0',
          商户退款单号: '0',
          退款金额: '0.00',
          充值券退款金额: '0.00',
          退款类型: '',
          退款状态: '',
          手续费: fee5(fee),
          订单金额: money(amount),
          申请退款金额: '0.00',
        },
      })
    }
  }
  if (input.billType !== 'SUCCESS') {
    for (const r of input.refunds) {
      // The fee on the refunded part is given back, in proportion.
      const fee = -feeOf(r.refund)
      const status = refundStatusAt(r, cut)
      out.push({
        at: r.created_at.getTime(),
        settle: 0,
        refund: r.refund,
        fee,
        order: 0,
        applied: r.refund,
        values: {
          ...common(r),
          // ALL: the refund's acceptance; REFUND: the payment's time, the acceptance in 退款申请时间.
          交易时间: chinaTime(input.billType === 'REFUND' ? r.paid_at : r.created_at),
          交易状态: 'REFUND',
          应结订单金额: '0.00',
          代金券金额: '0.00',
          退款申请时间: chinaTime(r.created_at),
          退款成功时间: status === 'SUCCESS' ? chinaTime(r.success_time!) : '',
          微信退款单号: r.refund_id,
          商户退款单号: r.out_refund_no,
          退款金额: money(r.refund),
          充值券退款金额: '0.00',
          退款类型: 'ORIGINAL',
          退款状态: status,
          手续费: fee5(fee),
          订单金额: '0.00',
          申请退款金额: money(r.refund),
        },
      })
    }
  }
  return out.sort((a, b) => a.at - b.at)
}

/** Number of rows the bill would have (a bill without rows does not exist: NO_STATEMENT_EXIST). */
export const wechatBillRowCount = (input: WechatBillInput) => rows(input).length

const TODAYS_NAME: Record<string, string> = {
  子商户号: '特约商户号',
  总金额: '应结订单金额',
  企业红包金额: '代金券金额',
  企业红包退款金额: '充值券退款金额',
}

/** The bill text. */
export function wechatBillText(input: WechatBillInput): string {
  const layout = input.layout ?? 'CURRENT'
  const header = WECHAT_HEADERS[layout][input.billType]
  const rs = rows(input)
  const sum = (f: (r: Row) => number) => rs.reduce((a, r) => a + f(r), 0)
  const figures: Record<string, string> = {
    总交易单数: String(rs.length),
    应结订单总金额: fenToYuan(sum((r) => r.settle)),
    总交易额: fenToYuan(sum((r) => r.settle)),
    退款总金额: fenToYuan(sum((r) => r.refund)),
    总退款金额: fenToYuan(sum((r) => r.refund)),
    充值券退款总金额: '0.00',
    总企业红包退款金额: '0.00',
    手续费总金额: fee5(sum((r) => r.fee)),
    订单总金额: fenToYuan(sum((r) => r.order)),
    申请退款总金额: fenToYuan(sum((r) => r.applied)),
  }
  const totalsHeader = WECHAT_TOTALS_HEADERS[layout][input.billType]
  const text = [
    ...(input.corrupt ? [] : [header.join(',')]),
    ...rs.map((r) => header.map((name) => tick(r.values[TODAYS_NAME[name] ?? name] ?? '')).join(',')),
    totalsHeader.join(','),
    totalsHeader.map((name) => tick(figures[name]!)).join(','),
    '',
  ].join('\r\n')
  return input.bom ? `\uFEFF${text}` : text
}

export const sha1Hex = (data: Buffer | string) => createHash('sha1').update(data).digest('hex')
