/**
 * Provider bills (对账单), normalised. Every adapter that can download its provider's daily bill
 * turns it into these rows; the reconciliation engine (src/reconciliation/engine.ts) matches them
 * with our payment attempts and refunds. Money is integer fen, as everywhere inside.
 */
import type { ProviderName } from '../providers/types.ts'

export interface BillRow {
  /** PAYMENT: the provider took money for a trade. REFUND: it gave some back. */
  kind: 'PAYMENT' | 'REFUND'
  /** Our merchant trade number (商户订单号). */
  outTradeNo: string
  /** The provider's own trade id (the provider's 交易号 / 订单号), when the bill has it. */
  tradeNo: string | null
  /** Integer fen, always positive: the trade amount (PAYMENT) or the amount refunded (REFUND). */
  amount: number
  /** Integer fen, the provider's service fee on this row (手续费/服务费): positive when charged, negative when given back (refund rows), 0 when none. */
  fee: number
  /** REFUND rows: our refund number (退款请求号 / 商户退款单号). */
  refundNo: string | null
  /** When the provider completed the payment or refund. */
  time: Date
  /** The provider's status text on the row (e.g. SUCCESS / REFUND, 交易 / 退款), for display. */
  providerStatus: string
}

/**
 * A bill that could not be had or could not be trusted. The run that asked for it fails visibly
 * and is retried later; nothing is repaired from it.
 */
export class BillError extends Error {
  constructor(
    message: string,
    readonly provider: ProviderName,
    /** UNAVAILABLE: download/query failed (network, provider error, no bill yet). VERIFICATION_FAILED:
     * bad response signature or hash mismatch. MALFORMED: the file could not be parsed. */
    readonly reason: 'UNAVAILABLE' | 'VERIFICATION_FAILED' | 'MALFORMED',
  ) {
    super(message)
    this.name = 'BillError'
  }
}

/** A bill day is a calendar day in China Standard Time (UTC+8), written `YYYY-MM-DD`, as both providers use. */
export type BillDay = string
