/**
 * What a live stream says about an order: the fields a waiting page needs (the same for SSE and
 * WebSocket), read in one query for any number of orders. `version` is a digest of the state, used as
 * the SSE event id: a client that resumes with `Last-Event-ID` equal to the current version is told
 * nothing new, on whichever instance it reconnects to.
 */
import { createHash } from 'node:crypto'
import { fenToYuanNumber } from '@paysys/money'
import type { Sql } from '@paysys/db'
import { paymentStatusOf } from '../present.ts'
import type { OrderRow } from '../orders/repo.ts'

export interface LiveRefund {
  refundNo: string
  amount: number
  status: string
  refundedAt: string | null
}

export interface LiveOrderState {
  id: number
  orderNo: string
  /** The order's own status (PENDING_PAYMENT, PAID, EXPIRED, …). */
  status: OrderRow['status']
  /** Seed 003's mapping: PENDING | PAID | FAILED. */
  paymentStatus: 'PENDING' | 'PAID' | 'FAILED'
  paid: boolean
  paidAt: string | null
  credits: number
  creditsGranted: boolean
  latePayment: boolean
  refundedAmount: number
  deliveryStatus: string | null
  refunds: LiveRefund[]
  /** Nothing more is awaited: the payment is decided and no refund is pending. The stream ends after this message. */
  final: boolean
}

/** The one message shape of both transports (SSE `data:` and WebSocket text frames). */
export type LiveMessage =
  | { type: 'order'; id: string; order: LiveOrderState }
  | { type: 'heartbeat' }
  | { type: 'end'; reason: 'final' | 'idle' | 'shutdown' | 'gone' | 'slow' }

export interface VersionedState {
  state: LiveOrderState
  version: string
}

interface Row {
  id: number
  orderNo: string
  status: OrderRow['status']
  paidAt: Date | null
  credits: number
  creditsGranted: boolean
  latePayment: boolean
  refundedAmountFen: number
  deliveryStatus: string | null
  refunds: { refundNo: string; amountFen: number; status: string; completedAt: string | null }[]
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString())

export function toLiveState(r: Row): VersionedState {
  const paymentStatus = paymentStatusOf(r.status)
  const refunds = r.refunds.map((x) => ({
    refundNo: x.refundNo,
    amount: fenToYuanNumber(Number(x.amountFen)),
    status: x.status,
    refundedAt: x.status === 'SUCCEEDED' ? iso(x.completedAt) : null,
  }))
  const state: LiveOrderState = {
    id: r.id,
    orderNo: r.orderNo,
    status: r.status,
    paymentStatus,
    paid: paymentStatus === 'PAID',
    paidAt: iso(r.paidAt),
    credits: r.credits,
    creditsGranted: r.creditsGranted,
    latePayment: r.latePayment,
    refundedAmount: fenToYuanNumber(r.refundedAmountFen),
    deliveryStatus: r.deliveryStatus,
    refunds,
    final: r.status !== 'PENDING_PAYMENT' && !refunds.some((x) => x.status === 'PENDING'),
  }
  const version = createHash('sha256').update(JSON.stringify(state)).digest('base64url').slice(0, 16)
  return { state, version }
}

/** The live state of each order that exists, by id. */
export async function readLiveStates(sql: Sql, ids: readonly number[]): Promise<Map<number, VersionedState>> {
  const out = new Map<number, VersionedState>()
  if (!ids.length) return out
  const rows = await sql<Row[]>`
    select o.id, o.order_no as "orderNo", o.status, o.paid_at as "paidAt", o.credits, o.credits_granted as "creditsGranted",
      o.late_payment as "latePayment", o.refunded_amount_fen as "refundedAmountFen", o.delivery_status as "deliveryStatus",
      coalesce((select json_agg(json_build_object('refundNo', r.refund_no, 'amountFen', r.amount_fen, 'status', r.status,
        'completedAt', r.completed_at) order by r.id) from refunds r where r.order_id = o.id), '[]'::json) as refunds
    from orders o where o.id = any(${ids as number[]})`
  for (const r of rows) out.set(Number(r.id), toLiveState(r))
  return out
}
