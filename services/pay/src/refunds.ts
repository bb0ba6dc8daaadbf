/**
 * Refunds, asked for by main (`POST /api/pay/refund`, `GET /api/pay/refund/{refundNo}`).
 *
 * A refund is first reserved (a PENDING row, under a lock on the order's attempts, only when
 * paid − (pending + succeeded refunds) covers it), then sent to the provider outside any
 * transaction. The provider's answer settles it: SUCCEEDED (in one transaction with the
 * REFUND_SUCCEEDED event for main, and the attempt → REFUNDED once fully refunded) or FAILED.
 * ABNORMAL (the provider accepted it but holds the money until a person finishes it) is neither:
 * it keeps its amount reserved, shows on the console, and is asked about again like PENDING.
 * A network failure leaves it PENDING; the same refundNo asked again retries the provider call,
 * which the provider treats idempotently (its refund request number is our refundNo).
 *
 * Pay makes one kind of refund itself: DUPLICATE_PAYMENT, the full refund of an attempt paid after
 * another attempt of the same order (reserved with the payment, payments.ts). It is ledger-free: no
 * event for main, whose credits were granted once. Sent at once, and retried by the periodic sweep
 * (`retryDuplicates`) while PENDING; a refusal is logged as an error for a person.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '@paysys/db'
import { failpoint } from '@paysys/server-kit'
import { AppError, type RefundRequest, type RefundResponse, type RefundSucceededEvent } from '@paysys/contracts'
import { providerModule } from './providers/index.ts'
import { ProviderError, type ProviderName, type ProviderRegistry, type RefundNotice, type RefundResult } from './providers/types.ts'
import type { NotifyVerdict } from './payments.ts'

export interface RefundRow {
  id: string
  refundNo: string
  orderNo: string
  paymentAttemptId: string
  /** The provider trade number of the refunded attempt. */
  outTradeNo: string
  /** The refunded attempt's providerRef (its provider's own id of the payment), when there is one. */
  providerRef: string | null
  provider: ProviderName
  amount: number
  reason: string | null
  kind: 'REQUESTED' | 'DUPLICATE_PAYMENT'
  status: 'PENDING' | 'SUCCEEDED' | 'ABNORMAL' | 'FAILED'
  failureReason: string | null
  refundedAt: Date | null
  createdAt: Date
}

const COLUMNS = `id, refund_no as "refundNo", order_no as "orderNo", payment_attempt_id as "paymentAttemptId",
  (select pa.out_trade_no from payment_attempts pa where pa.id = payment_attempt_id) as "outTradeNo",
  (select pa.provider_ref from payment_attempts pa where pa.id = payment_attempt_id) as "providerRef", provider, amount,
  reason, kind, status, failure_reason as "failureReason", refunded_at as "refundedAt", created_at as "createdAt"`

interface PaidAttempt {
  id: string
  orderId: number
  provider: ProviderName
  amount: number
  status: string
}

/** A transition's outcome: the refund now, and whether this call changed it. */
interface Marked {
  row: RefundRow
  changed: boolean
}

/** Not final: the provider is asked again (same refund number). */
const unsettled = (r: RefundRow) => r.status === 'PENDING' || r.status === 'ABNORMAL'

export function createRefundFlows(deps: {
  sql: Sql
  providers: ProviderRegistry
  log: FastifyBaseLogger
  /** Called with the event id after an event for main was queued (server.ts wakes the delivery loop). */
  onEventQueued?: (eventId: string) => void
}) {
  const { sql, providers, log } = deps

  async function findByRefundNo(refundNo: string, tx: Sql = sql): Promise<RefundRow | undefined> {
    return (await tx.unsafe<RefundRow[]>(`select ${COLUMNS} from refunds where refund_no = $1`, [refundNo]))[0]
  }

  async function succeededTotal(attemptId: string, tx: Sql = sql): Promise<number> {
    const [r] = await tx<{ n: number }[]>`
      select coalesce(sum(amount), 0)::bigint as n from refunds where payment_attempt_id = ${attemptId} and status = 'SUCCEEDED'`
    return Number(r!.n)
  }

  async function toResponse(r: RefundRow): Promise<RefundResponse> {
    return {
      refundNo: r.refundNo,
      orderNo: r.orderNo,
      amount: r.amount,
      status: r.status,
      totalRefunded: await succeededTotal(r.paymentAttemptId),
      refundedAt: r.refundedAt ? r.refundedAt.toISOString() : null,
      failureReason: r.failureReason,
      provider: r.provider,
    }
  }

  /** Reserves the refund (PENDING) or finds the earlier request with this refundNo. */
  async function reserve(req: RefundRequest): Promise<RefundRow> {
    return sql.begin(async (tx) => {
      const t = tx as unknown as Sql
      // The same per-order lock as payment creation: refunds and new attempts of one order serialise.
      await t`select pg_advisory_xact_lock(hashtextextended(${req.orderNo}, 7262101))`
      const existing = await findByRefundNo(req.refundNo, t)
      if (existing) {
        if (existing.orderNo !== req.orderNo || existing.amount !== req.amount) {
          throw new AppError(409, 'REFUND_CONFLICT', `退款单号 ${req.refundNo} 已用于另一笔退款`)
        }
        return existing
      }
      const attempts = await t<PaidAttempt[]>`
        select id, order_id as "orderId", provider, amount, status from payment_attempts
         where order_no = ${req.orderNo} order by updated_at desc, id for update`
      if (!attempts.length) throw new AppError(404, 'PAYMENT_NOT_FOUND', `支付记录不存在: ${req.orderNo}`)
      const paid = attempts.filter((a) => a.status === 'PAID' || a.status === 'REFUNDED')
      if (!paid.length) throw new AppError(409, 'ORDER_NOT_REFUNDABLE', '订单未支付，不能退款')
      // Paid twice (two channels) is possible: refund from the attempt with the most left.
      let best: { attempt: PaidAttempt; left: number } | undefined
      for (const a of paid) {
        const [r] = await t<{ n: number }[]>`
          select coalesce(sum(amount), 0)::bigint as n from refunds where payment_attempt_id = ${a.id} and status in ('PENDING', 'ABNORMAL', 'SUCCEEDED')`
        const left = a.amount - Number(r!.n)
        if (!best || left > best.left) best = { attempt: a, left }
      }
      if (req.amount > best!.left) {
        throw new AppError(409, 'REFUND_AMOUNT_EXCEEDED', `退款金额超过可退金额（可退 ${best!.left} 分）`)
      }
      // A provider that refunds a trade once and has no refund number to tell two refunds apart: a
      // second one would be refused there, and a retried first one could not be recognised.
      const module = providerModule(best!.attempt.provider)
      if (module?.capabilities.oneRefundPerAttempt && best!.left < best!.attempt.amount) {
        throw new AppError(409, 'ORDER_NOT_REFUNDABLE', `${module.displayName}订单只能退款一次，该订单已有退款`)
      }
      if (!providers[best!.attempt.provider]) {
        throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `支付方式未启用: ${best!.attempt.provider}`)
      }
      const [row] = await t.unsafe<RefundRow[]>(
        `insert into refunds (id, refund_no, order_no, payment_attempt_id, provider, amount, reason)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
        [randomUUID(), req.refundNo, req.orderNo, best!.attempt.id, best!.attempt.provider, req.amount, req.reason ?? null] as never[],
      )
      log.info({ orderNo: req.orderNo, refundNo: req.refundNo, amount: req.amount }, 'refund reserved')
      return row!
    })
  }

  /** PENDING → SUCCEEDED with the event for main, once; the attempt is REFUNDED when nothing is left. */
  async function markSucceeded(r: RefundRow, refundedAt: Date): Promise<Marked> {
    const done = await sql.begin(async (tx) => {
      const t = tx as unknown as Sql
      const [attempt] = await t<PaidAttempt[]>`
        select id, order_id as "orderId", provider, amount, status from payment_attempts where id = ${r.paymentAttemptId} for update`
      const [updated] = await t.unsafe<RefundRow[]>(
        `update refunds set status = 'SUCCEEDED', refunded_at = $2, updated_at = now()
          where id = $1 and status in ('PENDING', 'ABNORMAL') returning ${COLUMNS}`,
        [r.id, refundedAt] as never[],
      )
      if (!updated) return undefined
      const total = await succeededTotal(r.paymentAttemptId, t)
      if (total >= attempt!.amount) {
        await t`update payment_attempts set status = 'REFUNDED', updated_at = now() where id = ${attempt!.id} and status = 'PAID'`
      }
      // A duplicate payment's refund is pay's own: main's ledger never saw that payment.
      if (updated.kind === 'DUPLICATE_PAYMENT') return { updated, eventId: null }
      const event: RefundSucceededEvent = {
        eventId: randomUUID(),
        type: 'REFUND_SUCCEEDED',
        orderId: attempt!.orderId,
        orderNo: updated.orderNo,
        refundNo: updated.refundNo,
        amount: updated.amount,
        totalRefunded: total,
        provider: updated.provider,
        refundedAt: refundedAt.toISOString(),
      }
      await t`
        insert into outbox (event_id, event_type, refund_id, payload)
        values (${event.eventId}, ${event.type}, ${updated.id}, ${t.json(event as never)})`
      return { updated, eventId: event.eventId }
    })
    if (!done) return { row: (await findByRefundNo(r.refundNo))!, changed: false }
    const { updated } = done
    log.info({ orderNo: updated.orderNo, refundNo: updated.refundNo, amount: updated.amount, kind: updated.kind }, 'refund succeeded')
    if (done.eventId) deps.onEventQueued?.(done.eventId)
    return { row: updated, changed: true }
  }

  async function markFailed(r: RefundRow, reason: string): Promise<Marked> {
    const [updated] = await sql.unsafe<RefundRow[]>(
      `update refunds set status = 'FAILED', failure_reason = $2, updated_at = now()
        where id = $1 and status in ('PENDING', 'ABNORMAL') returning ${COLUMNS}`,
      [r.id, reason.slice(0, 500)],
    )
    if (updated && r.kind === 'DUPLICATE_PAYMENT') {
      log.error({ orderNo: r.orderNo, refundNo: r.refundNo, reason }, 'duplicate payment refund refused by the provider: needs a person')
    } else if (updated) log.warn({ orderNo: r.orderNo, refundNo: r.refundNo, reason }, 'refund refused by the provider')
    return updated ? { row: updated, changed: true } : { row: (await findByRefundNo(r.refundNo))!, changed: false }
  }

  /** PENDING → ABNORMAL: a person must finish it at the provider; the amount stays reserved. */
  async function markAbnormal(r: RefundRow, reason: string): Promise<Marked> {
    const [updated] = await sql.unsafe<RefundRow[]>(
      `update refunds set status = 'ABNORMAL', failure_reason = $2, updated_at = now()
        where id = $1 and status = 'PENDING' returning ${COLUMNS}`,
      [r.id, reason.slice(0, 500)],
    )
    if (updated) log.error({ orderNo: r.orderNo, refundNo: r.refundNo, reason }, 'refund ABNORMAL at the provider: needs a person')
    return updated ? { row: updated, changed: true } : { row: (await findByRefundNo(r.refundNo))!, changed: false }
  }

  /**
   * The provider's word on a refund (its answer to the refund call or re-query, or its refund notify),
   * applied through the guarded transitions above: each takes effect once, whichever path comes first.
   */
  async function applyResult(r: RefundRow, result: RefundResult): Promise<Marked> {
    if (result.state === 'SUCCEEDED') return markSucceeded(r, result.refundedAt ?? new Date())
    if (result.state === 'FAILED') return markFailed(r, result.failureReason ?? 'FAILED')
    if (result.state === 'ABNORMAL') return markAbnormal(r, result.failureReason ?? 'ABNORMAL')
    return { row: r, changed: false }
  }

  /** Sends a PENDING refund to its provider and records the answer. */
  async function sendToProvider(r: RefundRow): Promise<RefundRow> {
    const adapter = providers[r.provider]
    if (!adapter) return r
    try {
      const result = await adapter.refund({
        outTradeNo: r.outTradeNo,
        providerRef: r.providerRef,
        refundNo: r.refundNo,
        amount: r.amount,
        reason: r.reason ?? undefined,
      })
      // The provider took the refund; a crash here leaves it PENDING, and asking again finds it done there.
      if (result.state === 'SUCCEEDED') failpoint('pay.afterProviderRefundedBeforeCommit')
      return (await applyResult(r, result)).row
    } catch (err) {
      // The provider refused it for good (an adapter may throw instead of answering FAILED).
      if (err instanceof ProviderError && !err.retryable) return (await markFailed(r, err.message)).row
      // Unknown outcome (network, timeout, retryable answer): stays PENDING, asking again retries.
      log.warn({ orderNo: r.orderNo, refundNo: r.refundNo, err: { message: (err as Error).message } }, 'refund not confirmed yet')
      return r
    }
  }

  /** Sends a pending duplicate-payment refund to the provider (again); an error is logged, it stays PENDING. */
  async function sendDuplicate(refundNo: string): Promise<RefundRow | undefined> {
    const r = await findByRefundNo(refundNo)
    if (!r || r.kind !== 'DUPLICATE_PAYMENT' || r.status !== 'PENDING') return r
    return sendToProvider(r)
  }

  return {
    sendDuplicate,

    /**
     * A verified refund notify (the provider's word that a refund succeeded, is abnormal or closed): believed only for a
     * refund of ours, on that provider's trade, for its amount; then applied as a re-query's answer
     * would be. A notify that changes nothing (a duplicate, or late after another path settled it) is
     * DUPLICATE or IGNORED: acknowledged, so the provider stops sending it.
     */
    async applyNotice(provider: ProviderName, notice: RefundNotice): Promise<{ verdict: NotifyVerdict; reason: string | null }> {
      const r = await findByRefundNo(notice.refundNo)
      if (!r || r.provider !== provider || r.outTradeNo !== notice.outTradeNo) return { verdict: 'REJECTED', reason: 'UNKNOWN_REFUND' }
      if (r.amount !== notice.amount) return { verdict: 'REJECTED', reason: 'AMOUNT_MISMATCH' }
      const target = notice.state
      if (target === 'PENDING') return { verdict: 'IGNORED', reason: 'REFUND_PENDING' }
      const { row, changed } = await applyResult(r, notice)
      if (changed) return { verdict: 'ACCEPTED', reason: `REFUND_${row.status}` }
      if (row.status === target) return { verdict: 'DUPLICATE', reason: `REFUND_${row.status}` }
      if (row.status === 'SUCCEEDED' || row.status === 'FAILED')
        log.warn({ refundNo: r.refundNo, notified: target, status: row.status }, 'refund notify contradicts a final refund: ignored')
      return { verdict: 'IGNORED', reason: `REFUND_${row.status}_NOT_${target}` }
    },

    /**
     * The periodic retry of duplicate-payment refunds still PENDING (a provider outage, a crash before
     * sending): each at most once per `olderThanSeconds`. Returns how many were sent.
     */
    async retryDuplicates(olderThanSeconds: number, batchSize = 20): Promise<number> {
      const due = await sql<{ refundNo: string }[]>`
        update refunds set updated_at = now()
         where id in (select id from refunds
                       where kind = 'DUPLICATE_PAYMENT' and status = 'PENDING'
                         and updated_at <= now() - make_interval(secs => ${olderThanSeconds})
                       order by updated_at limit ${batchSize} for update skip locked)
        returning refund_no as "refundNo"`
      for (const { refundNo } of due) await sendDuplicate(refundNo)
      return due.length
    },

    async refund(req: RefundRequest): Promise<RefundResponse> {
      const reserved = await reserve(req)
      return toResponse(unsettled(reserved) ? await sendToProvider(reserved) : reserved)
    },

    /** A refund's state; a PENDING or ABNORMAL one is sent to the provider again first (idempotent there). */
    async status(refundNo: string): Promise<RefundResponse> {
      const r = /^[A-Za-z0-9_-]{6,64}$/.test(refundNo) ? await findByRefundNo(refundNo) : undefined
      if (!r) throw new AppError(404, 'REFUND_NOT_FOUND', `退款记录不存在: ${refundNo.slice(0, 64)}`)
      return toResponse(unsettled(r) ? await sendToProvider(r) : r)
    },
  }
}

export type RefundFlows = ReturnType<typeof createRefundFlows>
