/**
 * Payment attempts repository. Every state change is a guarded UPDATE (`… WHERE status = …`), so
 * it happens once however many notifies, polls and instances race; recording a payment and
 * enqueueing its event for main is one transaction.
 */
import { randomUUID } from 'node:crypto'
import type { Sql } from '@paysys/db'
import { failpoint } from '@paysys/server-kit'
import type { TransactionSql } from 'postgres'
import type { PaymentEvent, PaymentStatus } from '@paysys/contracts'
import type { ProviderName } from './providers/types.ts'
import { claimProviderEvent, providerEventProcessed, type ProviderEventRef } from './provider-events.ts'

export interface Attempt {
  id: string
  orderId: number
  orderNo: string
  /** The merchant trade number this attempt was sent to the provider with. */
  outTradeNo: string
  provider: ProviderName
  channel: string
  /** Integer fen. */
  amount: number
  subject: string
  status: PaymentStatus
  tradeNo: string | null
  paidAt: Date | null
  closedAt: Date | null
  expireAt: Date | null
  qrCode: string | null
  /** When the provider payment dies (the time_expire sent), when the adapter said. */
  providerExpireAt: Date | null
  /** The provider's own id of the payment it made for this attempt (CreatePaymentResult.providerRef). */
  providerRef: string | null
  /** CLOSED here, but the provider did not know the trade yet: payable until providerExpireAt. */
  closeUnconfirmed: boolean
  paidVia: string | null
  createdAt: Date
  updatedAt: Date
}

export interface NewAttempt {
  orderId: number
  orderNo: string
  provider: ProviderName
  channel: string
  amount: number
  subject: string
  expireAt: Date | null
}

export type PrepareOutcome =
  /** A new attempt row (a new provider trade): the provider payment must be created. */
  | { kind: 'CREATED'; attempt: Attempt }
  /** The same (orderNo, channel) is already pending: re-render it. */
  | { kind: 'EXISTING'; attempt: Attempt }
  | { kind: 'ALREADY_PAID'; attempt: Attempt }
  | { kind: 'AMOUNT_MISMATCH'; attempt: Attempt }
  | { kind: 'ORDER_MISMATCH'; attempt: Attempt }
  | { kind: 'NOT_PAYABLE'; attempt: Attempt }

/** A payment the provider proved (verified notify, or a signed query answer). */
export interface VerifiedPayment {
  /** The provider trade's merchant trade number: identifies the attempt. */
  outTradeNo: string
  provider: ProviderName
  tradeNo: string
  /** Integer fen the provider says was paid. */
  amount: number
  paidAt: Date | null
  via: 'NOTIFY' | 'QUERY' | 'CLOSE' | 'RECONCILIATION'
  /** The provider event that proved it (a notify naming its event): claimed in the recording transaction. */
  event?: ProviderEventRef
}

export type RecordOutcome =
  | {
      outcome: 'RECORDED'
      attempt: Attempt
      /** The event for main; null for a duplicate payment (refunded by pay, main never hears of it). */
      event: PaymentEvent | null
      afterClose: boolean
      /** The order's other paid (or refunded) attempts: when any, this payment is a duplicate. */
      otherPaid: Attempt[]
      /** A duplicate payment: the refund pay reserved for it (to be sent to the provider). */
      duplicateRefundNo: string | null
    }
  | { outcome: 'DUPLICATE'; attempt: Attempt }
  | { outcome: 'UNKNOWN_ORDER' }
  | { outcome: 'AMOUNT_MISMATCH'; attempt: Attempt }
  /** The order was already paid with another provider trade number for this provider. */
  | { outcome: 'TRADE_NO_CONFLICT'; attempt: Attempt }

export type NotifyVerdict = 'ACCEPTED' | 'REJECTED' | 'DUPLICATE' | 'IGNORED'

export interface NotifyLogEntry {
  provider: string
  outTradeNo: string | null
  rawBody: string
  contentType: string | null
  remoteIp: string | null
  verdict: NotifyVerdict
  reason: string | null
}

/** Trade numbers `orderNo_2` … `orderNo_99`: main's 29-character orderNo + 3 stays within the shortest provider limit (32). */
export const MAX_ATTEMPTS_PER_ORDER = 99

/** The refund number of the automatic refund of attempt `attemptId`'s duplicate payment (one per attempt). */
export const duplicateRefundNo = (attemptId: string) => `DUP${attemptId.replace(/-/g, '')}`

/** Reason stored on the automatic refund of a duplicate payment. */
export const DUPLICATE_REFUND_REASON = '重复支付自动退款'

/** A pool or a transaction: both run tagged-template queries the same way. */
type Tx = TransactionSql

function columns(sql: Tx) {
  return sql`
    id, order_id as "orderId", order_no as "orderNo", out_trade_no as "outTradeNo", provider, channel, amount, subject, status,
    trade_no as "tradeNo", paid_at as "paidAt", closed_at as "closedAt", expire_at as "expireAt",
    qr_code as "qrCode", provider_expire_at as "providerExpireAt", provider_ref as "providerRef", close_unconfirmed as "closeUnconfirmed",
    paid_via as "paidVia", created_at as "createdAt", updated_at as "updatedAt"`
}

/** Most recently changed first (a reopened attempt is newer than the one closed for it). */
const byRecency = (a: Attempt, b: Attempt) =>
  b.updatedAt.getTime() - a.updatedAt.getTime() || b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)

export function createPaymentsRepo(sql: Sql) {
  async function findByOrderNo(orderNo: string, tx: Tx = sql as unknown as Tx): Promise<Attempt[]> {
    return (await tx<
      Attempt[]
    >`select ${columns(tx)} from payment_attempts where order_no = ${orderNo} order by created_at, id`) as Attempt[]
  }

  /** The attempts sent to the provider under this merchant trade number (one, or several legacy rows). */
  async function findByOutTradeNo(outTradeNo: string, tx: Tx = sql as unknown as Tx): Promise<Attempt[]> {
    return (await tx<
      Attempt[]
    >`select ${columns(tx)} from payment_attempts where out_trade_no = ${outTradeNo} order by created_at, id`) as Attempt[]
  }

  function markProviderTradeClosed(outTradeNo: string, provider: ProviderName): Promise<Attempt[]>
  function markProviderTradeClosed(outTradeNo: string, provider: ProviderName, event?: ProviderEventRef): Promise<Attempt[] | null>
  async function markProviderTradeClosed(outTradeNo: string, provider: ProviderName, event?: ProviderEventRef) {
    return sql.begin(async (tx) => {
      if (event && !(await claimProviderEvent(tx, event))) return null
      return (await tx<Attempt[]>`
        update payment_attempts set status = 'CLOSED', closed_at = now(), updated_at = now()
         where out_trade_no = ${outTradeNo} and provider = ${provider} and status = 'PENDING'
        returning ${columns(tx)}`) as Attempt[]
    })
  }

  async function prepareAttempt(
    input: NewAttempt,
    closeOthersFirst: boolean,
  ): Promise<PrepareOutcome | { kind: 'CLOSE_FIRST'; pending: Attempt[] }> {
    return sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtextextended(${input.orderNo}, 7262101))`
      const existing = await findByOrderNo(input.orderNo, tx)
      const decided = decideAttempt(existing, input)
      if (decided) return decided
      const pending = existing.filter((a) => a.status === 'PENDING')
      if (closeOthersFirst && pending.length) return { kind: 'CLOSE_FIRST', pending } as const
      // A new provider trade: the order's first attempt is sent as the orderNo itself, later
      // ones (another channel, or this channel again after its trade was closed) get a suffix,
      // because a provider never reopens a closed trade number.
      if (existing.length >= MAX_ATTEMPTS_PER_ORDER) return { kind: 'NOT_PAYABLE', attempt: existing.at(-1)! } as const
      const outTradeNo = existing.length === 0 ? input.orderNo : `${input.orderNo}_${existing.length + 1}`
      const [created] = await tx<Attempt[]>`
        insert into payment_attempts (id, order_id, order_no, out_trade_no, provider, channel, amount, subject, status, expire_at)
        values (${randomUUID()}, ${input.orderId}, ${input.orderNo}, ${outTradeNo}, ${input.provider}, ${input.channel},
                ${input.amount}, ${input.subject}, 'PENDING', ${input.expireAt})
        returning ${columns(tx)}`
      return { kind: 'CREATED', attempt: created! } as const
    })
  }

  return {
    findByOrderNo,
    findByOutTradeNo,

    /**
     * Decides, under a per-order lock, whether `input` starts a new attempt, repeats a pending
     * one, or conflicts with what exists (paid, other amount). A closed attempt is never reopened:
     * paying again makes a new attempt (new provider trade). Provider calls happen outside, after
     * this commits.
     */
    prepareAttempt: (input: NewAttempt) => prepareAttempt(input, false) as Promise<PrepareOutcome>,

    /**
     * `prepareAttempt`, except that no new attempt is made while another channel's is pending: CLOSE_FIRST names
     * them, for the caller to close at the provider (outside the transaction) before it asks `prepareAttempt`.
     */
    prepareAttemptOrCloseFirst: (input: NewAttempt) => prepareAttempt(input, true),

    /**
     * What the provider made for a pending attempt: its QR content (reused while it lives), when it dies,
     * and the provider's own id of it.
     */
    async setProviderPayment(
      attemptId: string,
      made: { qrCode: string | null; providerExpireAt: Date | null; providerRef: string | null },
    ): Promise<void> {
      await sql`update payment_attempts set qr_code = coalesce(${made.qrCode}, qr_code),
                  provider_expire_at = coalesce(${made.providerExpireAt}, provider_expire_at),
                  provider_ref = coalesce(${made.providerRef}, provider_ref), updated_at = now()
                 where id = ${attemptId} and status = 'PENDING'`
    },

    /**
     * PENDING → CLOSED; returns the attempt when this call closed it. `unconfirmed`: the provider did
     * not know the trade (it may still be paid until its provider expiry; the stale sweep keeps asking).
     */
    async markClosed(attemptId: string, unconfirmed = false): Promise<Attempt | undefined> {
      const [row] = await sql<Attempt[]>`
        update payment_attempts set status = 'CLOSED', closed_at = now(), updated_at = now(), close_unconfirmed = ${unconfirmed}
         where id = ${attemptId} and status = 'PENDING'
        returning ${columns(sql as unknown as Tx)}`
      return row
    },

    /**
     * Every PENDING attempt behind this provider trade → CLOSED (the provider closed the trade). With the
     * provider `event` that said so, its id is claimed in the same transaction: null when it was processed
     * already (nothing is changed then).
     */
    markProviderTradeClosed,

    /** Records a provider event that changes nothing as processed; false when it already was. */
    rememberEvent: (e: ProviderEventRef) => claimProviderEvent(sql, e),
    /** True when the provider event was processed before (a replay). */
    eventProcessed: (e: ProviderEventRef) => providerEventProcessed(sql, e),

    /**
     * Records a proven payment: the attempt becomes PAID and a PAYMENT_SUCCEEDED event is queued
     * for main, in one transaction. Called identically for notifies and active queries.
     *
     * The payment goes to the attempt sent under `p.outTradeNo` (pending, or closed: a payment
     * after close is still recorded, the money was taken). Legacy rows may share one trade number
     * between channels; then the pending one, else the most recently closed one, takes it. All the
     * order's rows are locked first, so concurrent identical notifies serialise and all but one see
     * DUPLICATE. A second paid attempt of the order is a duplicate payment: recorded (the money was
     * taken), no event for main, and a DUPLICATE_PAYMENT refund of it is reserved in the same
     * transaction (`duplicateRefundNo`; the caller sends it to the provider).
     */
    async recordPayment(p: VerifiedPayment): Promise<RecordOutcome> {
      return sql.begin(async (tx): Promise<RecordOutcome> => {
        const rows = (await tx<Attempt[]>`
          select ${columns(tx)} from payment_attempts
           where order_no = (select order_no from payment_attempts where out_trade_no = ${p.outTradeNo} limit 1)
           order by id for update`) as Attempt[]
        const mine = rows.filter((a) => a.outTradeNo === p.outTradeNo && a.provider === p.provider).sort(byRecency)
        if (mine.length === 0) return { outcome: 'UNKNOWN_ORDER' }
        // A repeat of a recorded payment, also once refunded (the provider keeps notifying the paid trade after a refund).
        const duplicate = mine.find((a) => (a.status === 'PAID' || a.status === 'REFUNDED') && a.tradeNo === p.tradeNo)
        if (duplicate) {
          // A signed notify for the recorded trade but another amount is an anomaly, not a repeat.
          if (duplicate.amount !== p.amount) return { outcome: 'AMOUNT_MISMATCH', attempt: duplicate }
          // Its event changes nothing, and is processed: a replay of it is answered without a look here.
          if (p.event) await claimProviderEvent(tx, p.event)
          return { outcome: 'DUPLICATE', attempt: duplicate }
        }
        const target = mine.find((a) => a.status === 'PENDING') ?? mine.find((a) => a.status === 'CLOSED')
        if (!target) return { outcome: 'TRADE_NO_CONFLICT', attempt: mine[0]! }
        if (target.amount !== p.amount) return { outcome: 'AMOUNT_MISMATCH', attempt: target }
        // The proving event is processed with the payment it records, once (its replays serialise on the rows locked above).
        if (p.event && !(await claimProviderEvent(tx, p.event))) return { outcome: 'DUPLICATE', attempt: target }
        const paidAt = p.paidAt ?? new Date()
        const [updated] = await tx<Attempt[]>`
          update payment_attempts
             set status = 'PAID', trade_no = ${p.tradeNo}, paid_at = ${paidAt}, paid_via = ${p.via}, updated_at = now()
           where id = ${target.id} and status in ('PENDING', 'CLOSED')
          returning ${columns(tx)}`
        if (!updated) return { outcome: 'DUPLICATE', attempt: target }
        const afterClose = target.status === 'CLOSED'
        const otherPaid = rows.filter((a) => a.id !== updated.id && (a.status === 'PAID' || a.status === 'REFUNDED'))
        if (otherPaid.length) {
          // The order was paid already: this payment goes back to the buyer in full, by pay itself. A
          // ledger-free refund (no event for main, whose credits were granted once), one per attempt.
          const refundNo = duplicateRefundNo(updated.id)
          await tx`
            insert into refunds (id, refund_no, order_no, payment_attempt_id, provider, amount, reason, kind)
            values (${randomUUID()}, ${refundNo}, ${updated.orderNo}, ${updated.id}, ${updated.provider}, ${updated.amount},
                    ${DUPLICATE_REFUND_REASON}, 'DUPLICATE_PAYMENT')
            on conflict do nothing`
          return { outcome: 'RECORDED', attempt: updated, event: null, afterClose, otherPaid, duplicateRefundNo: refundNo }
        }
        const event: PaymentEvent = {
          eventId: randomUUID(),
          type: 'PAYMENT_SUCCEEDED',
          orderId: updated.orderId,
          orderNo: updated.orderNo,
          amount: updated.amount,
          provider: updated.provider,
          channel: updated.channel,
          tradeNo: p.tradeNo,
          paidAt: paidAt.toISOString(),
        }
        await tx`
          insert into outbox (event_id, event_type, payment_attempt_id, payload)
          values (${event.eventId}, ${event.type}, ${updated.id}, ${tx.json(event)})`
        failpoint('pay.afterProviderPaidBeforeCommit')
        return { outcome: 'RECORDED', attempt: updated, event, afterClose, otherPaid: [], duplicateRefundNo: null }
      })
    },

    async appendNotifyLog(e: NotifyLogEntry): Promise<void> {
      await sql`
        insert into notify_log (provider, out_trade_no, raw_body, content_type, remote_ip, verdict, reason)
        values (${e.provider}, ${e.outTradeNo}, ${e.rawBody}, ${e.contentType}, ${e.remoteIp}, ${e.verdict}, ${e.reason})`
    },
  }
}

export type PaymentsRepo = ReturnType<typeof createPaymentsRepo>

/**
 * What the existing attempts of an order say about a create request, when they settle it without
 * a new attempt: paid already, a conflicting amount or order id, or the same channel still pending.
 * Null when a new attempt may be made.
 */
export function decideAttempt(existing: Attempt[], input: NewAttempt): Exclude<PrepareOutcome, { kind: 'CREATED' }> | null {
  const paid = existing.find((a) => a.status === 'PAID' || a.status === 'REFUNDED')
  if (paid) return { kind: 'ALREADY_PAID', attempt: paid }
  const other = existing.find((a) => a.orderId !== input.orderId)
  if (other) return { kind: 'ORDER_MISMATCH', attempt: other }
  const differentAmount = existing.find((a) => a.amount !== input.amount)
  if (differentAmount) return { kind: 'AMOUNT_MISMATCH', attempt: differentAmount }
  const sameChannel = existing.filter((a) => a.provider === input.provider && a.channel === input.channel)
  const pending = sameChannel.find((a) => a.status === 'PENDING')
  if (pending) return { kind: 'EXISTING', attempt: pending }
  const blocked = sameChannel.find((a) => a.status !== 'CLOSED')
  if (blocked) return { kind: 'NOT_PAYABLE', attempt: blocked }
  return null
}

/**
 * Which attempt speaks for the order: the first paid one if any (a later one is a duplicate, refunded),
 * else a pending one, else the latest.
 */
export function currentAttempt(attempts: Attempt[]): Attempt | undefined {
  const sorted = [...attempts].sort(byRecency)
  const paid = sorted.filter((a) => a.status === 'PAID').sort((a, b) => (a.paidAt?.getTime() ?? 0) - (b.paidAt?.getTime() ?? 0))
  return paid[0] ?? sorted.find((a) => a.status === 'PENDING') ?? sorted[0]
}
