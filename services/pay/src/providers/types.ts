/**
 * The one interface every payment provider adapter implements. An adapter is a flow file (HTTP, SDK
 * calls) plus a pure `transformers` file, in the provider's folder; the folder's `ProviderModule`
 * (./module.ts) builds it and is listed in the registry (./index.ts).
 *
 * Rules every adapter follows:
 * - Amounts cross this interface as integer fen; conversion to the provider's wire format
 *   (yuan strings, fen integers) happens only inside the adapter.
 * - Provider trade states are mapped to the closed `TradeState` enum in ONE exhaustive function;
 *   anything unknown maps to `UNKNOWN`, never to `SUCCEEDED`.
 * - Network and business failures of the provider are thrown as `ProviderError` (→ 502
 *   PROVIDER_ERROR in the one error handler); "the trade does not exist" is not an error but a
 *   result (`NOT_FOUND`), because callers treat it as "still pending".
 * - Notification verification is a pure function of the received request and the configured keys.
 *   It proves the provider sent it and that it was meant for our merchant account; the checks
 *   against our own records (known order, amount) are done by the caller, identically for every
 *   provider (see src/payments.ts).
 */
import { AppError, type InterfaceType } from '@paysys/contracts'
import type { BillDay, BillRow } from '../reconciliation/types.ts'

/** A provider's code as the registry (./index.ts) lists it. */
export type ProviderName = string

/** How the buyer is sent to pay: see CreatePaymentResponse.payType. */
export type PayType = 'form' | 'jump' | 'qrcode' | 'jsapi'

/** Our closed view of a provider trade. */
export type TradeState = 'PENDING' | 'SUCCEEDED' | 'CLOSED' | 'UNKNOWN'

export interface CreatePaymentInput {
  /** Our order number, sent as the provider's merchant trade number. */
  outTradeNo: string
  /** Integer fen. */
  amount: number
  subject: string
  channel: string
  expireAt: Date | null
  clientIp?: string
  openid?: string
  /** Where the buyer is: one of DEVICES in @paysys/contracts (seed 002); some providers pick QR or jump from it. */
  device?: string
  /** Seed 002's `method` (web, jump, …): passed to a provider whose API speaks it. */
  interfaceType?: InterfaceType
  /** The attempt's `providerRef` from an earlier create (the attempt asked again), when the provider gave one. */
  providerRef?: string | null
}

export interface CreatePaymentResult {
  payType: PayType
  /**
   * When the provider payment dies (the time_expire sent: never after the order's expiry, and capped
   * where the provider caps it, e.g. a QR code's lifetime). The attempt is not offered after it.
   */
  providerExpireAt?: Date
  formHtml?: string
  paymentUrl?: string
  qrCode?: string
  jsapiParams?: Record<string, string>
  /** The provider's own pay_type / pay_info when it answers in seed 002's vocabulary. */
  providerPayType?: string
  payInfo?: string
  /**
   * The provider's own id of the payment it made (e.g. a hosted checkout session's id), when it has one
   * and cannot find the payment by our trade number cheaply: stored on the attempt and passed back to
   * createPayment, query, close and refund as `providerRef`.
   */
  providerRef?: string
}

/** A trade as the provider reports it (query or notification), in our units. */
export interface ProviderTrade {
  outTradeNo: string
  state: TradeState
  /** The provider's own status string, kept for logs. */
  providerStatus: string
  tradeNo: string | null
  /** Integer fen, null when the provider did not say. */
  amount: number | null
  paidAt: Date | null
}

export type QueryResult = { found: false } | ({ found: true } & ProviderTrade)

export type CloseResult =
  /** The provider trade is closed (or was already). */
  | { outcome: 'CLOSED' }
  /**
   * The provider does not know the trade (e.g. the buyer never opened the cashier or scanned the QR).
   * Not a proof it cannot be paid: some providers create it on the scan, until its time_expire.
   */
  | { outcome: 'NOT_FOUND' }
  /** Too late: the buyer has paid. The caller records the payment from `trade`. */
  | { outcome: 'ALREADY_PAID'; trade: ProviderTrade }

export interface RefundInput {
  outTradeNo: string
  refundNo: string
  /** Integer fen. */
  amount: number
  reason?: string
  /** The paid attempt's `providerRef` (see CreatePaymentResult), when the provider gave one. */
  providerRef?: string | null
}

export interface RefundResult {
  refundNo: string
  /** Integer fen refunded by this request. */
  amount: number
  /**
   * ABNORMAL: accepted, but the money could not reach the buyer and waits at the provider for a
   * person to finish it; neither made nor given up, so nothing is given back meanwhile.
   */
  state: 'SUCCEEDED' | 'PENDING' | 'ABNORMAL' | 'FAILED'
  refundedAt: Date | null
  /** FAILED, ABNORMAL: the provider's reason (code and message), for logs and the admin. */
  failureReason?: string
}

/** A refund's outcome as the provider's refund notification reports it. */
export interface RefundNotice extends RefundResult {
  outTradeNo: string
}

/**
 * What a notification proved, before our own cross-checks: a trade (payment notifies) or a refund's
 * outcome (refund notifies, applied like the answer of a refund re-query).
 */
export type NotificationVerdict =
  | {
      ok: true
      trade: ProviderTrade
      /**
       * The provider's own id (at most 255 characters) and type of this event, when its notifications
       * have one: the event is then processed once by its id (../provider-events.ts), a replay is a DUPLICATE.
       */
      event?: { id: string; type: string }
    }
  | { ok: true; refund: RefundNotice }
  | { ok: false; reason: NotificationRejection; outTradeNo: string | null }

export type NotificationRejection =
  | 'MALFORMED'
  | 'BAD_SIGNATURE'
  | 'APP_ID_MISMATCH'
  // signature headers, encrypted resource, merchant/app cross-checks
  | 'SERIAL_MISMATCH'
  | 'TIMESTAMP_EXPIRED'
  | 'DECRYPT_FAILED'
  | 'MCHID_MISMATCH'
  | 'APPID_MISMATCH'
  | 'UNSUPPORTED_EVENT'
  // merchant id of a key-signed notify
  | 'PID_MISMATCH'

export interface ReceivedNotification {
  /** The body exactly as received. */
  rawBody: string
  contentType: string | undefined
  headers: Record<string, string | string[] | undefined>
}

/** The body (and status/content type) a provider expects in answer to a notification. */
export interface NotifyAcknowledgement {
  status: number
  contentType: string
  body: string
}

export interface PaymentProvider {
  readonly name: ProviderName
  /** Channels this provider offers (the codes of its module's `channels`). */
  readonly channels: readonly string[]
  /** Starts a payment; for redirect/form flows no network call may be needed. */
  createPayment(input: CreatePaymentInput): Promise<CreatePaymentResult>
  /**
   * Optional: refuses a create request the provider could never accept (e.g. a channel that
   * needs the buyer's `openid` without one) by throwing an AppError, before any attempt is recorded.
   */
  validateCreate?(input: Pick<CreatePaymentInput, 'channel' | 'openid' | 'clientIp'>): void
  /** Asks the provider for the trade's current state; `providerRef`: the attempt's, when the provider gave one at create. */
  query(outTradeNo: string, providerRef?: string | null): Promise<QueryResult>
  /** Closes an unpaid trade so it can no longer be paid. `providerRef`: as for query. */
  close(outTradeNo: string, providerRef?: string | null): Promise<CloseResult>
  /**
   * Refunds part or all of a paid trade; idempotent per `refundNo` at the provider. A business
   * refusal is `state: 'FAILED'`; a network failure or a retryable answer throws ProviderError
   * (the caller keeps the refund PENDING and asks again with the same refundNo).
   */
  refund(input: RefundInput): Promise<RefundResult>
  /** Verifies origin and merchant of a notification. Pure: no I/O. */
  verifyNotification(received: ReceivedNotification): NotificationVerdict
  /**
   * Optional: a second proof for a verified "paid" notification, asked of the provider before the
   * payment is recorded (a re-query of the order, where a leaked shared key
   * would let anyone sign a notify). Called only for a known order and amount; `reason` goes to notify_log.
   */
  confirmPayment?(trade: ProviderTrade): Promise<{ ok: true } | { ok: false; reason: string }>
  /**
   * Optional: the provider's bill (对账单) of one day (UTC+8), downloaded, verified (response signature,
   * file hash where the provider gives one) and parsed into rows in fen. A day without trades is `[]`.
   * Throws BillError: UNAVAILABLE (network, provider error, no bill yet), VERIFICATION_FAILED (bad
   * signature or hash), MALFORMED (the file could not be parsed). Never a partial result.
   */
  fetchBill?(day: BillDay): Promise<BillRow[]>
  /**
   * Which day the bill puts a refund on: ACCEPTED (the day the refund was asked for and accepted;
   * its state frozen then, possibly PROCESSING) or COMPLETED (the day it was made; the default).
   */
  readonly billRefundDay?: 'ACCEPTED' | 'COMPLETED'
  /** What to answer the provider: `success` stops its retries, `failure` asks it to retry. */
  readonly acknowledge: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement }
}

/** The configured providers' adapters by name; an unconfigured provider is absent. */
export type ProviderRegistry = Partial<Record<ProviderName, PaymentProvider>>

/** A failed call to a provider (network, timeout, bad response signature, business error). */
export class ProviderError extends AppError {
  constructor(
    message: string,
    readonly provider: ProviderName,
    /** The provider's answer, for logs only (never sent to clients). */
    readonly raw?: unknown,
    readonly retryable = true,
  ) {
    super(502, 'PROVIDER_ERROR', message)
    this.name = 'ProviderError'
  }
}

/**
 * The provider refuses to start a trade under a number it already holds with other parameters (a
 * pending attempt asked again from another network, …): that number is done with; the caller opens a
 * new attempt under a new number.
 */
export class TradeNumberTakenError extends ProviderError {
  constructor(message: string, provider: ProviderName, raw?: unknown) {
    super(message, provider, raw, false)
    this.name = 'TradeNumberTakenError'
  }
}
