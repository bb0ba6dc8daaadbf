/**
 * Admin refunds, full or partial, never above paid − refunded.
 *
 * 1. Reserve (one transaction, the order row locked): the refund row PENDING and, for a credits
 *    order, the credits clawed back in proportion (cumulative floor, so partial refunds add up to
 *    the whole). When the buyer no longer holds them: 409 CREDITS_ALREADY_SPENT, unless forced
 *    (then what is left is taken, never below zero).
 * 2. Ask pay (which asks the provider), outside any transaction, idempotent by refundNo.
 * 3. Settle: SUCCEEDED → order PARTIALLY_REFUNDED / REFUNDED (guarded); FAILED → the clawed-back
 *    credits are given back. Unknown (pay down, timeout) stays PENDING: the sweep asks again, and
 *    pay's REFUND_SUCCEEDED event settles it too — whichever comes first, once.
 * A goods order paid with credits is refunded locally: its credits go back to the buyer.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { AppError, type RefundResponse, type RefundSucceededEvent } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { fenToYuanNumber, fenToYuanString } from '@paysys/money'
import { addCredits, lockedBalance } from './ledger.ts'
import type { PayClient } from './pay-client.ts'
import type { OrderRow, OrdersRepo } from './orders/repo.ts'
import { DuplicateEvent, recordEvent } from './processed-events.ts'
import type { RefundRow, RefundsRepo } from './refunds-repo.ts'

export type { RefundRow } from './refunds-repo.ts'

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
/** `R` + yyyyMMddHHmmss (GMT+8) + 12 random base32 chars. */
export function newRefundNo(now = new Date()): string {
  const stamp = new Date(now.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, '')
  const bytes = randomBytes(12)
  let tail = ''
  for (let i = 0; i < 12; i++) tail += BASE32[bytes[i]! & 31]
  return `R${stamp}${tail}`
}

export const REFUNDABLE_STATUSES = ['PAID', 'PARTIALLY_REFUNDED'] as const

export interface RefundRequestInput {
  /** Fen; undefined = everything that is left. */
  amountFen?: number
  reason: string
  force: boolean
  adminId: number
}

export type RefundEventOutcome = 'REFUNDED' | 'ALREADY_APPLIED' | 'NOT_FOUND' | 'MISMATCH' | 'DUPLICATE'

class Refused extends Error {
  constructor(readonly appError: AppError) {
    super(appError.message)
  }
}

export function createRefundService(deps: {
  sql: Sql
  refunds: RefundsRepo
  orders: Pick<OrdersRepo, 'lockForUpdate' | 'applyRefund'>
  pay: PayClient
  log: FastifyBaseLogger
}) {
  const { sql, refunds, orders, pay, log } = deps
  const findByRefundNo = refunds.findByRefundNo

  /** Step 1, see the file comment. For a credits-paid goods order it settles at once. */
  async function reserve(orderId: number, input: RefundRequestInput): Promise<RefundRow> {
    try {
      return await sql.begin(async (tx) => {
        const t = tx as unknown as Sql
        const order = await orders.lockForUpdate(t, orderId)
        if (!order) throw new Refused(new AppError(404, 'ORDER_NOT_FOUND', '订单不存在'))
        if (!(REFUNDABLE_STATUSES as readonly string[]).includes(order.status)) {
          throw new Refused(new AppError(409, 'ORDER_NOT_REFUNDABLE', `订单状态为 ${order.status}，不能退款`))
        }
        const paid = order.paidAmountFen ?? 0
        const sums = await refunds.reservedFor(t, orderId)
        const reserved = sums.amount
        const left = paid - reserved
        const amount = input.amountFen ?? left
        if (left <= 0) throw new Refused(new AppError(409, 'REFUND_AMOUNT_EXCEEDED', '该订单已无可退金额（含处理中的退款）'))
        if (amount > left) {
          throw new Refused(new AppError(409, 'REFUND_AMOUNT_EXCEEDED', `退款金额超过可退金额 ${fenToYuanString(left)} 元`))
        }
        const refundNo = newRefundNo()
        const byCredits = order.paymentMethod === 'CREDITS'
        // Cumulative floor: the refunds of one order together claw back exactly floor(credits × refunded / paid).
        const share = (total: number) => Math.floor((total * (reserved + amount)) / paid)
        let clawed = 0
        let returned = 0
        if (byCredits) {
          returned = share(order.creditsSpent) - sums.returned
          if (returned > 0) {
            const b = await addCredits(t, {
              userId: order.userId,
              type: 'REFUND',
              delta: returned,
              description: `订单 ${order.orderNo} 退款，返还 ${returned} 积分`,
              orderId: order.id,
              idempotencyKey: `refund:${refundNo}`,
            })
            if (b === null) throw new Error('crediting a refund cannot fail')
          }
        } else if (order.kind === 'credits' && order.creditsGranted) {
          const due = share(order.credits) - sums.clawed
          if (due > 0) {
            const balance = await lockedBalance(t, order.userId)
            if (balance < due && !input.force) {
              throw new Refused(
                new AppError(409, 'CREDITS_ALREADY_SPENT', `用户积分余额 ${balance} 不足以扣回 ${due} 积分（可强制退款 force: true）`),
              )
            }
            clawed = Math.min(due, balance)
            if (clawed > 0) {
              await addCredits(t, {
                userId: order.userId,
                type: 'REFUND',
                delta: -clawed,
                description: `订单 ${order.orderNo} 退款，扣回 ${clawed} 积分${clawed < due ? `（应扣 ${due}，余额不足，强制退款）` : ''}`,
                orderId: order.id,
                idempotencyKey: `refund:${refundNo}`,
              })
            }
          }
        }
        const row = await refunds.insert(t, {
          refundNo,
          orderId: order.id,
          userId: order.userId,
          amountFen: amount,
          reason: input.reason,
          status: byCredits ? 'SUCCEEDED' : 'PENDING',
          via: byCredits ? 'CREDITS' : 'PROVIDER',
          creditsClawedBack: clawed,
          creditsReturned: returned,
          forced: input.force,
          adminId: input.adminId,
          completedAt: byCredits ? new Date() : null,
        })
        if (byCredits) await applyToOrder(t, order.id, amount, new Date())
        return row
      })
    } catch (err) {
      if (err instanceof Refused) throw err.appError
      throw err
    }
  }

  /** The order side of a succeeded refund (guarded: never above what was paid). */
  async function applyToOrder(t: Sql, orderId: number, amountFen: number, at: Date): Promise<void> {
    if (!(await orders.applyRefund(t, orderId, amountFen, at)))
      log.error({ orderId, amountFen }, 'refund succeeded but the order could not take it: needs a person')
  }

  /** PENDING → SUCCEEDED and the order updated, once; with `event`, recorded as applied in the same transaction. */
  async function markSucceeded(
    refundNo: string,
    at: Date,
    event?: { eventId: string; orderNo: string; type: string },
  ): Promise<'REFUNDED' | 'ALREADY_APPLIED'> {
    return sql.begin(async (tx) => {
      const t = tx as unknown as Sql
      const r = await refunds.markSucceeded(t, refundNo, at)
      const outcome = r ? 'REFUNDED' : 'ALREADY_APPLIED'
      if (event && !(await recordEvent(t, { ...event, outcome }))) throw new DuplicateEvent()
      if (!r) return outcome
      await applyToOrder(t, r.orderId, r.amountFen, at)
      log.info({ refundNo, orderId: r.orderId, amount: r.amountFen, credits: r.creditsClawedBack }, 'refund succeeded')
      return outcome
    })
  }

  /** PENDING → FAILED; the credits clawed back for it go back to the buyer. */
  async function markFailed(refundNo: string, reason: string): Promise<boolean> {
    return sql.begin(async (tx) => {
      const t = tx as unknown as Sql
      const r = await refunds.markFailed(t, refundNo, reason)
      if (!r) return false
      if (r.creditsClawedBack > 0) {
        await addCredits(t, {
          userId: r.userId,
          type: 'ADJUST',
          delta: r.creditsClawedBack,
          description: `退款 ${refundNo} 失败，返还扣回的 ${r.creditsClawedBack} 积分`,
          orderId: r.orderId,
          idempotencyKey: `refund-failed:${refundNo}`,
        })
      }
      log.warn({ refundNo, orderId: r.orderId, reason }, 'refund failed')
      return true
    })
  }

  async function settle(refundNo: string, res: RefundResponse): Promise<void> {
    if (res.status === 'SUCCEEDED') await markSucceeded(refundNo, res.refundedAt ? new Date(res.refundedAt) : new Date())
    else if (res.status === 'FAILED') await markFailed(refundNo, res.failureReason ?? 'FAILED')
    else if (res.status === 'ABNORMAL') {
      // Neither made nor given up: nothing is given back; the admin sees the note, the sweep keeps asking.
      await refunds.noteAbnormal(refundNo, `ABNORMAL 退款异常，待人工处理: ${res.failureReason ?? ''}`.trim())
      log.error({ refundNo }, 'refund ABNORMAL at the provider: needs a person')
    }
  }

  /** Step 2 + 3 for a PENDING provider refund. Errors from pay that prove it did nothing fail the refund. */
  async function sendToPay(r: RefundRow, orderNo: string, requestId?: string): Promise<void> {
    try {
      const res = await pay.refund({ orderNo, refundNo: r.refundNo, amount: r.amountFen, reason: r.reason || undefined }, requestId)
      await settle(r.refundNo, res)
    } catch (err) {
      if (err instanceof AppError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 429) {
        // Pay refused it before asking the provider (nothing paid there, over the limit, …).
        await markFailed(r.refundNo, `${err.error}: ${err.message}`)
        throw err
      }
      log.warn({ refundNo: r.refundNo, err: { message: (err as Error).message } }, 'refund not confirmed yet; the sweep retries')
    }
  }

  return {
    findByRefundNo,

    listForOrder: refunds.listForOrder,

    async refund(order: OrderRow, input: RefundRequestInput, requestId?: string): Promise<RefundRow> {
      const r = await reserve(order.id, input)
      if (r.status === 'PENDING') await sendToPay(r, order.orderNo, requestId)
      return (await findByRefundNo(r.refundNo))!
    },

    /**
     * pay's REFUND_SUCCEEDED event (idempotent: the transition is guarded, and the event id is recorded in
     * the same transaction: DUPLICATE when seen before). NOT_FOUND and MISMATCH record nothing.
     */
    async applyEvent(e: RefundSucceededEvent): Promise<RefundEventOutcome> {
      const r = await findByRefundNo(e.refundNo)
      if (!r) return 'NOT_FOUND'
      const orderNo = await refunds.orderNoOf(r)
      if (orderNo !== e.orderNo || r.amountFen !== e.amount) {
        log.error({ refundNo: e.refundNo, orderNo: e.orderNo, amount: e.amount }, 'refund event does not match the refund: not applied')
        return 'MISMATCH'
      }
      if (r.status === 'FAILED') {
        // We gave up on it (pay refused), yet the provider refunded: the money is gone, a person must look.
        log.error({ refundNo: e.refundNo, orderNo: e.orderNo }, 'refund event for a refund marked FAILED: needs a person')
      }
      try {
        return await markSucceeded(e.refundNo, new Date(e.refundedAt), { eventId: e.eventId, orderNo: e.orderNo, type: e.type })
      } catch (err) {
        if (err instanceof DuplicateEvent) return 'DUPLICATE'
        throw err
      }
    },

    /** Sweep: PENDING provider refunds older than `olderThanS` are sent to pay again (same refundNo). */
    async retryPending(olderThanS: number, batch = 20): Promise<number> {
      const rows = await refunds.pendingProviderRefunds(olderThanS, batch)
      for (const r of rows) {
        try {
          await sendToPay(r, r.orderNo)
        } catch {
          // refused by pay: already marked FAILED in sendToPay
        }
      }
      return rows.length
    },
  }
}
export type RefundService = ReturnType<typeof createRefundService>

export function presentRefund(r: RefundRow) {
  return {
    id: r.id,
    refundNo: r.refundNo,
    orderId: r.orderId,
    amount: fenToYuanNumber(r.amountFen),
    reason: r.reason,
    status: r.status,
    via: r.via,
    creditsClawedBack: r.creditsClawedBack,
    creditsReturned: r.creditsReturned,
    forced: r.forced,
    failureReason: r.failureReason,
    completedAt: r.completedAt ? r.completedAt.toISOString() : null,
    createdAt: r.createdAt.toISOString(),
  }
}
