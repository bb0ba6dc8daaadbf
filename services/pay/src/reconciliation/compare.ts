/**
 * The pure half of reconciliation (对账): a provider's bill rows of one day against our payment
 * attempts and refunds, every difference classified. No I/O; engine.ts gathers the inputs, asks the
 * provider about our paid trades its bill does not list, repairs what is safe and stores the run.
 */
import type { ProviderName } from '../providers/types.ts'
import type { BillRow } from './types.ts'

export const DIFFERENCE_CLASSES = [
  /** The provider took money for a trade we have no attempt for. */
  'PROVIDER_ONLY',
  /** We recorded a payment the provider does not know. */
  'LOCAL_ONLY',
  /** Paid there and pending/closed here, or paid here and not paid there. */
  'STATUS_MISMATCH',
  /** The provider's amount is not the attempt's. */
  'AMOUNT_MISMATCH',
  /** The provider's fee is not what the configured rate gives. */
  'FEE_MISMATCH',
  /** A refund the provider made that we did not record (or with another amount), or the reverse. */
  'REFUND_MISMATCH',
] as const
export type DifferenceClass = (typeof DIFFERENCE_CLASSES)[number]

/** What reconciliation needs of a payment attempt. Money in fen. */
export interface LocalAttempt {
  id: string
  orderNo: string
  outTradeNo: string
  provider: ProviderName
  amount: number
  status: string
  tradeNo: string | null
  paidAt: Date | null
  /** The provider's own id of the payment (see CreatePaymentResult.providerRef), for asking it. */
  providerRef?: string | null
}

export interface LocalRefund {
  refundNo: string
  outTradeNo: string
  amount: number
  status: string
  refundedAt: Date | null
}

export interface Difference {
  class: DifferenceClass
  outTradeNo: string
  /** '' unless the difference is about one refund. */
  refundNo: string
  tradeNo: string | null
  attempt: LocalAttempt | null
  billAmount: number | null
  localAmount: number | null
  billFee: number | null
  billStatus: string | null
  localStatus: string | null
  detail: string
  /** Safe to repair: the provider's bill proves a payment we have pending/closed, same amount. */
  repairable: boolean
  /** The bill row behind it (for the repair). */
  row: BillRow | null
}

export interface CompareInput {
  provider: ProviderName
  rows: readonly BillRow[]
  /** Every attempt whose out_trade_no appears in the bill, plus every attempt paid on the day. */
  attempts: readonly LocalAttempt[]
  /** Every refund whose refund_no appears in the bill, plus every refund the bill should list (refundedOnDay). */
  refunds: readonly LocalRefund[]
  /** Attempts we hold as paid on the day (paid_at within it). */
  paidOnDay: readonly LocalAttempt[]
  /**
   * Refunds the bill of the day should list: where the provider dates refunds by acceptance, every
   * refund we asked for that day that has not failed; otherwise those that succeeded that day.
   */
  refundedOnDay: readonly LocalRefund[]
  /** Fee rate to check bill fees against (e.g. 0.006); null = fees are summed, not checked. */
  feeRate: number | null
}

export interface CompareResult {
  differences: Difference[]
  /** Paid attempts of the day the bill does not list: engine.ts asks the provider before calling them LOCAL_ONLY. */
  unlisted: LocalAttempt[]
  matched: number
}

const PAID = new Set(['PAID', 'REFUNDED'])

export function compareBill(input: CompareInput): CompareResult {
  const byTrade = new Map<string, LocalAttempt[]>()
  for (const a of input.attempts) {
    if (a.provider !== input.provider) continue
    const list = byTrade.get(a.outTradeNo) ?? []
    list.push(a)
    byTrade.set(a.outTradeNo, list)
  }
  const refundsByNo = new Map(input.refunds.map((r) => [r.refundNo, r]))
  const differences: Difference[] = []
  const listedTrades = new Set<string>()
  const listedRefunds = new Set<string>()
  let matched = 0

  const diff = (d: Omit<Difference, 'repairable' | 'row' | 'refundNo'> & Partial<Pick<Difference, 'repairable' | 'row' | 'refundNo'>>) =>
    differences.push({ repairable: false, row: null, refundNo: '', ...d })

  for (const row of input.rows) {
    if (row.kind === 'PAYMENT') {
      listedTrades.add(row.outTradeNo)
      const mine = byTrade.get(row.outTradeNo) ?? []
      // Legacy rows may share a trade number between channels: the paid one speaks, else the newest.
      const attempt =
        mine.find((a) => PAID.has(a.status) && a.tradeNo === row.tradeNo) ?? mine.find((a) => PAID.has(a.status)) ?? mine.at(-1)
      const base = {
        outTradeNo: row.outTradeNo,
        tradeNo: row.tradeNo,
        billAmount: row.amount,
        billFee: row.fee,
        billStatus: row.providerStatus,
      }
      if (!attempt) {
        diff({
          ...base,
          class: 'PROVIDER_ONLY',
          attempt: null,
          localAmount: null,
          localStatus: null,
          detail: '渠道账单有此交易，本地没有支付记录',
        })
        continue
      }
      const local = { attempt, localAmount: attempt.amount, localStatus: attempt.status }
      if (attempt.amount !== row.amount) {
        diff({ ...base, ...local, class: 'AMOUNT_MISMATCH', detail: `金额不一致：账单 ${row.amount} 分，本地 ${attempt.amount} 分` })
        continue
      }
      if (!PAID.has(attempt.status)) {
        diff({
          ...base,
          ...local,
          class: 'STATUS_MISMATCH',
          detail: `渠道已支付，本地为 ${attempt.status}`,
          repairable: Boolean(row.tradeNo),
          row,
        })
        continue
      }
      if (row.tradeNo && attempt.tradeNo && row.tradeNo !== attempt.tradeNo) {
        diff({ ...base, ...local, class: 'STATUS_MISMATCH', detail: `渠道交易号不一致：账单 ${row.tradeNo}，本地 ${attempt.tradeNo}` })
        continue
      }
      if (input.feeRate !== null) {
        // On the amount the provider charges its fee on (the row's feeBase, when its bill says one).
        const feeBase = row.feeBase ?? row.amount
        const expected = Math.round(feeBase * input.feeRate)
        if (Math.abs(row.fee - expected) > 1) {
          const on = feeBase === row.amount ? '' : `（费基 ${feeBase} 分）`
          diff({ ...base, ...local, class: 'FEE_MISMATCH', detail: `手续费不一致：账单 ${row.fee} 分，按费率应为 ${expected} 分${on}` })
          continue
        }
      }
      matched++
    } else {
      const refundNo = row.refundNo ?? ''
      listedRefunds.add(refundNo)
      const mine = refundsByNo.get(refundNo)
      const state = row.refundState ?? 'SUCCEEDED'
      const billStatus = row.refundStatus ? `${row.providerStatus}/${row.refundStatus}` : row.providerStatus
      const base = {
        outTradeNo: row.outTradeNo,
        refundNo,
        tradeNo: row.tradeNo,
        attempt: null,
        billAmount: row.amount,
        billFee: row.fee,
        billStatus,
      }
      const refundDiff = (detail: string) =>
        diff({ ...base, class: 'REFUND_MISMATCH', localAmount: mine?.amount ?? null, localStatus: mine?.status ?? null, detail })
      const seen = row.refundStatus ? `（退款状态 ${row.refundStatus}）` : ''
      if (!mine) refundDiff(`渠道账单有此退款${seen}，本地没有退款记录`)
      else if (mine.amount !== row.amount) refundDiff(`退款金额不一致：账单 ${row.amount} 分，本地 ${mine.amount} 分`)
      else if (mine.status === 'FAILED')
        // The provider took the refund in (and counts it in the day's refunds) but it did not go through.
        refundDiff(`渠道已受理此退款${seen}，本地退款已失败：款项是否退回买家需人工核实`)
      else if (state === 'FAILED') refundDiff(`渠道退款失败${seen}，本地为 ${mine.status}`)
      else if (mine.status === 'SUCCEEDED')
        matched++ // PROCESSING in a bill frozen at acceptance, done since: no difference
      else if (state === 'SUCCEEDED') refundDiff(`渠道已退款，本地为 ${mine.status}`)
      // Both still processing: not done, and not known to have failed; a later run of the day sees how it ended.
      else refundDiff(`退款处理中${seen}，本地为 ${mine.status}：尚未完成，重新对账该日可复核结果`)
    }
  }

  for (const r of input.refundedOnDay) {
    if (listedRefunds.has(r.refundNo)) continue
    const detail = r.status === 'SUCCEEDED' ? '本地已退款，渠道账单没有此退款' : `本地退款为 ${r.status}，渠道账单没有此退款`
    differences.push({
      class: 'REFUND_MISMATCH',
      outTradeNo: r.outTradeNo,
      refundNo: r.refundNo,
      tradeNo: null,
      attempt: null,
      billAmount: null,
      localAmount: r.amount,
      billFee: null,
      billStatus: null,
      localStatus: r.status,
      detail,
      repairable: false,
      row: null,
    })
  }

  const unlisted = input.paidOnDay.filter((a) => a.provider === input.provider && !listedTrades.has(a.outTradeNo))
  return { differences, unlisted, matched }
}

/** Sums of a bill, in fen. */
export function billTotals(rows: readonly BillRow[]) {
  let payments = 0
  let refunds = 0
  let fees = 0
  for (const r of rows) {
    if (r.kind === 'PAYMENT') payments += r.amount
    else refunds += r.amount
    fees += r.fee
  }
  return { payments, refunds, fees }
}
