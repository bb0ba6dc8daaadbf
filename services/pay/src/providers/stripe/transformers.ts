/**
 * Pure data mapping between Stripe's objects and ours: the one status mapping (Checkout Session →
 * TradeState), minor units, webhook signatures (`Stripe-Signature: t=…,v1=…`), events → trades, and
 * balance transactions → bill rows. No I/O here: everything is unit-tested without a network.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { ProviderTrade, TradeState } from '../types.ts'
import type { BillRow } from '../../reconciliation/types.ts'

/** Stripe accepts a Checkout Session's `expires_at` from 30 minutes to 24 hours after its creation. */
export const MIN_SESSION_SECONDS = 30 * 60
export const MAX_SESSION_SECONDS = 24 * 3600
/** Webhook signatures older (or newer) than this are refused, as Stripe's libraries do by default. */
export const WEBHOOK_TOLERANCE_SECONDS = 300

/**
 * The session's `expires_at` (unix seconds) for an order expiring at `expireAt`: the order's expiry when
 * Stripe accepts it; at least 30 minutes (plus a minute of clock skew) from now — an order expiring sooner
 * has its session expired explicitly by the close that follows its expiry; at most 24 hours.
 */
export function sessionExpiresAt(expireAt: Date | null, nowMs: number): number {
  const now = Math.floor(nowMs / 1000)
  const min = now + MIN_SESSION_SECONDS + 60
  const max = now + MAX_SESSION_SECONDS - 60
  if (!expireAt) return max
  const wanted = Math.floor(expireAt.getTime() / 1000)
  return Math.min(max, Math.max(min, wanted))
}

/** The parts of a Checkout Session we read (the SDK's type has many more). */
export interface SessionLike {
  id: string
  status: string | null
  payment_status: string
  client_reference_id: string | null
  metadata?: Record<string, string> | null
  amount_total: number | null
  currency: string | null
  payment_intent?: string | { id: string } | null
  created: number
  url?: string | null
}

export interface ChargeLike {
  id: string
  amount: number
  amount_refunded?: number
  currency: string
  paid?: boolean
  status: string
  payment_intent?: string | { id: string } | null
  metadata?: Record<string, string> | null
  created: number
}

const idOf = (v: string | { id: string } | null | undefined): string | null => (typeof v === 'string' ? v : (v?.id ?? null))

/** The session's merchant trade number: client_reference_id, else metadata.out_trade_no. */
export function sessionOutTradeNo(s: SessionLike): string | null {
  return s.client_reference_id || s.metadata?.out_trade_no || null
}

/**
 * The one mapping of a Checkout Session's (status, payment_status) to ours. `complete` + `unpaid` is an
 * asynchronous payment method still processing. Anything else is UNKNOWN, never SUCCEEDED.
 */
export function stripeSessionState(status: string | null, paymentStatus: string): TradeState {
  const key = `${status}/${paymentStatus}`
  switch (key) {
    case 'open/unpaid':
    case 'complete/unpaid':
      return 'PENDING'
    case 'complete/paid':
      return 'SUCCEEDED'
    case 'expired/unpaid':
      return 'CLOSED'
    default:
      return 'UNKNOWN'
  }
}

/** A session as our trade; null when it carries no trade number or another currency. */
export function tradeFromSession(s: SessionLike, currency: string): ProviderTrade | null {
  const outTradeNo = sessionOutTradeNo(s)
  if (!outTradeNo || (s.currency && s.currency.toLowerCase() !== currency)) return null
  const state = stripeSessionState(s.status, s.payment_status)
  const tradeNo = idOf(s.payment_intent)
  if (state === 'SUCCEEDED' && (!tradeNo || s.amount_total === null)) return null
  return { outTradeNo, state, providerStatus: `${s.status}/${s.payment_status}`, tradeNo, amount: s.amount_total, paidAt: null }
}

/** A paid charge as our trade (a `charge.refunded` event: the payment it refunds was made). */
export function tradeFromCharge(c: ChargeLike, currency: string): ProviderTrade | null {
  const outTradeNo = c.metadata?.out_trade_no
  const tradeNo = idOf(c.payment_intent)
  if (!outTradeNo || !tradeNo || c.currency.toLowerCase() !== currency) return null
  const paid = c.status === 'succeeded' && c.paid !== false
  return {
    outTradeNo,
    state: paid ? 'SUCCEEDED' : 'UNKNOWN',
    providerStatus: `charge:${c.status}`,
    tradeNo,
    amount: c.amount,
    paidAt: new Date(c.created * 1000),
  }
}

// ---- webhooks ----

export type SignatureCheck = { ok: true } | { ok: false; reason: 'BAD_SIGNATURE' | 'TIMESTAMP_EXPIRED' | 'MALFORMED' }

/** `t=…,v1=…[,v1=…][,v0=…]` → the timestamp and the v1 signatures; null when it is not one. */
export function parseSignatureHeader(header: string): { t: number; v1: string[] } | null {
  let t: number | null = null
  const v1: string[] = []
  for (const part of header.split(',')) {
    const at = part.indexOf('=')
    if (at <= 0) return null
    const k = part.slice(0, at).trim()
    const v = part.slice(at + 1).trim()
    if (k === 't') {
      if (!/^\d{1,12}$/.test(v) || t !== null) return null
      t = Number(v)
    } else if (k === 'v1') v1.push(v)
  }
  return t === null || v1.length === 0 ? null : { t, v1 }
}

/** HMAC-SHA256 of `${t}.${payload}` with the whole `whsec_…` secret, hex: Stripe's `v1` scheme. */
export function webhookSignature(payload: string, t: number, secret: string): string {
  return createHmac('sha256', secret).update(`${t}.${payload}`, 'utf8').digest('hex')
}

/**
 * Verifies `Stripe-Signature` over the raw body: a timestamp within the tolerance (either way: a replay
 * of an old delivery and a forged future one are both refused) and one matching `v1`.
 */
export function verifyWebhookSignature(payload: string, header: string | undefined, secret: string, nowMs: number): SignatureCheck {
  if (!header) return { ok: false, reason: 'BAD_SIGNATURE' }
  const parsed = parseSignatureHeader(header)
  if (!parsed) return { ok: false, reason: 'BAD_SIGNATURE' }
  const expected = Buffer.from(webhookSignature(payload, parsed.t, secret), 'hex')
  const match = parsed.v1.some((s) => /^[0-9a-f]{64}$/.test(s) && timingSafeEqual(Buffer.from(s, 'hex'), expected))
  if (!match) return { ok: false, reason: 'BAD_SIGNATURE' }
  if (Math.abs(Math.floor(nowMs / 1000) - parsed.t) > WEBHOOK_TOLERANCE_SECONDS) return { ok: false, reason: 'TIMESTAMP_EXPIRED' }
  return { ok: true }
}

/** The trade number an (unverified) event names, for the notify log only; null when none. */
export function claimedOutTradeNo(body: string): string | null {
  try {
    const obj = (JSON.parse(body) as { data?: { object?: SessionLike } }).data?.object
    const ref = obj?.client_reference_id ?? obj?.metadata?.out_trade_no
    return typeof ref === 'string' && ref.length > 0 && ref.length <= 128 ? ref : null
  } catch {
    return null
  }
}

/** The events we act on. Others (the endpoint should not be subscribed to them) are UNSUPPORTED_EVENT. */
export const HANDLED_EVENTS = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded',
] as const

export type EventTrade =
  | { ok: true; eventId: string; type: string; trade: ProviderTrade }
  | { ok: false; reason: 'MALFORMED' | 'UNSUPPORTED_EVENT'; outTradeNo: string | null }

/** A verified event's body → the trade it reports. */
export function tradeFromEvent(body: string, currency: string): EventTrade {
  let event: { id?: unknown; object?: unknown; type?: unknown; data?: { object?: unknown } }
  try {
    event = JSON.parse(body) as typeof event
  } catch {
    return { ok: false, reason: 'MALFORMED', outTradeNo: null }
  }
  if (
    !event ||
    typeof event !== 'object' ||
    event.object !== 'event' ||
    typeof event.id !== 'string' ||
    !/^evt_[A-Za-z0-9_]{1,250}$/.test(event.id)
  )
    return { ok: false, reason: 'MALFORMED', outTradeNo: null }
  const obj = event.data?.object
  if (!obj || typeof obj !== 'object') return { ok: false, reason: 'MALFORMED', outTradeNo: null }
  const type = typeof event.type === 'string' ? event.type : ''
  if (!(HANDLED_EVENTS as readonly string[]).includes(type)) return { ok: false, reason: 'UNSUPPORTED_EVENT', outTradeNo: null }
  if (type === 'charge.refunded') {
    const charge = obj as ChargeLike
    const trade = typeof charge.amount === 'number' && typeof charge.currency === 'string' ? tradeFromCharge(charge, currency) : null
    return trade
      ? { ok: true, eventId: event.id, type, trade }
      : { ok: false, reason: 'MALFORMED', outTradeNo: charge.metadata?.out_trade_no ?? null }
  }
  const session = obj as SessionLike
  if ((session as { object?: unknown }).object !== 'checkout.session') return { ok: false, reason: 'MALFORMED', outTradeNo: null }
  const trade = tradeFromSession(session, currency)
  if (!trade) return { ok: false, reason: 'MALFORMED', outTradeNo: sessionOutTradeNo(session) }
  // A failed asynchronous payment ends the session's chance to be paid.
  if (type === 'checkout.session.async_payment_failed')
    return { ok: true, eventId: event.id, type, trade: { ...trade, state: 'CLOSED', providerStatus: type } }
  return { ok: true, eventId: event.id, type, trade }
}

// ---- bills ----

export interface BalanceTransactionLike {
  id: string
  type: string
  amount: number
  fee: number
  currency: string
  created: number
  source:
    | string
    | { id: string; object?: string; metadata?: Record<string, string> | null; payment_intent?: string | { id: string } | null }
    | null
}

/**
 * One balance transaction (with `source` expanded) → a bill row: charges and payments are PAYMENT,
 * refunds REFUND (Stripe writes them negative; ours are positive); payouts, adjustments and others
 * are not trades (null). `invalid` when a trade row lacks what we match on.
 */
export function billRowFromBalanceTransaction(bt: BalanceTransactionLike, currency: string): BillRow | null | 'invalid' {
  const kind =
    bt.type === 'charge' || bt.type === 'payment' ? 'PAYMENT' : bt.type === 'refund' || bt.type === 'payment_refund' ? 'REFUND' : null
  if (!kind) return null
  if (bt.currency.toLowerCase() !== currency || typeof bt.source !== 'object' || !bt.source) return 'invalid'
  const outTradeNo = bt.source.metadata?.out_trade_no
  if (!outTradeNo || !Number.isInteger(bt.amount) || !Number.isInteger(bt.fee)) return 'invalid'
  const time = new Date(bt.created * 1000)
  if (kind === 'PAYMENT')
    return {
      kind,
      outTradeNo,
      tradeNo: idOf(bt.source.payment_intent),
      amount: bt.amount,
      fee: bt.fee,
      refundNo: null,
      time,
      providerStatus: bt.type,
    }
  const refundNo = bt.source.metadata?.refund_no ?? null
  return {
    kind,
    outTradeNo,
    tradeNo: idOf(bt.source.payment_intent),
    amount: Math.abs(bt.amount),
    // Stripe keeps its fee on a refund (0 here); a fee it charges is positive, as on payments.
    fee: bt.fee,
    refundNo,
    time,
    providerStatus: bt.type,
  }
}
