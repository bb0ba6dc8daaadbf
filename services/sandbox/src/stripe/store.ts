/**
 * Stripe's objects in the sandbox's PostgreSQL, and every transition as one guarded statement in a
 * transaction: a session is paid or expired once, a refund never exceeds what is left (the session row
 * is locked), and the event each change causes is queued in the same transaction.
 */
import type { Sql } from '@paysys/db'
import type { Q } from '../deliveries.ts'
import { randomToken } from '../util.ts'

export interface SessionRow {
  id: string
  payment_id: string
  client_reference_id: string | null
  amount_total: number
  currency: string
  product_name: string
  status: 'open' | 'complete' | 'expired'
  payment_status: 'unpaid' | 'paid'
  success_url: string | null
  cancel_url: string | null
  metadata: Record<string, string>
  pi_metadata: Record<string, string>
  pi_description: string | null
  /** What the session offers (`card`, `alipay`, `wechat_pay`), in the order asked. */
  payment_method_types: string[]
  /** `payment_method_options[wechat_pay][client]` when wechat_pay is offered. */
  wechat_pay_client: string | null
  payment_intent: string | null
  charge: string | null
  expires_at: Date
  created_at: Date
  paid_at: Date | null
  expired_at: Date | null
}

export interface RefundRow {
  id: string
  session_id: string
  payment_intent: string
  charge: string
  amount: number
  currency: string
  status: string
  reason: string | null
  metadata: Record<string, string>
  created_at: Date
}

export interface BalanceTransactionRow {
  seq: number
  id: string
  type: 'charge' | 'refund'
  source: string
  amount: number
  fee: number
  currency: string
  created_at: Date
}

/** Stripe-looking ids: `cs_test_…`, `pi_…`, `ch_…`, `re_…`, `txn_…`, `evt_…` (letters and digits after the prefix). */
export function stripeId(prefix: string, length = 24): string {
  const t = randomToken(length)
  return `${prefix}_${t.slice(0, 1).toUpperCase()}${t.slice(1)}`
}

export interface NewSession {
  clientReferenceId: string | null
  amountTotal: number
  currency: string
  productName: string
  successUrl: string | null
  cancelUrl: string | null
  metadata: Record<string, string>
  piMetadata: Record<string, string>
  piDescription: string | null
  paymentMethodTypes: string[]
  wechatPayClient: string | null
  expiresAt: Date
}

export async function insertSession(sql: Q, s: NewSession): Promise<SessionRow> {
  const [row] = await sql<SessionRow[]>`
    insert into stripe_sessions (id, payment_id, client_reference_id, amount_total, currency, product_name, success_url, cancel_url,
                                 metadata, pi_metadata, pi_description, payment_method_types, wechat_pay_client, expires_at)
    values (${stripeId('cs_test', 40)}, ${`stripe_${randomToken(24)}`}, ${s.clientReferenceId}, ${s.amountTotal}, ${s.currency},
            ${s.productName}, ${s.successUrl}, ${s.cancelUrl}, ${sql.json(s.metadata)}, ${sql.json(s.piMetadata)}, ${s.piDescription},
            ${sql.json(s.paymentMethodTypes)}, ${s.wechatPayClient}, ${s.expiresAt})
    returning *`
  return row!
}

export async function findSession(
  sql: Q,
  by: { id?: string; paymentId?: string; paymentIntent?: string; charge?: string },
): Promise<SessionRow | null> {
  const [row] = by.id
    ? await sql<SessionRow[]>`select * from stripe_sessions where id = ${by.id}`
    : by.paymentId
      ? await sql<SessionRow[]>`select * from stripe_sessions where payment_id = ${by.paymentId}`
      : by.paymentIntent
        ? await sql<SessionRow[]>`select * from stripe_sessions where payment_intent = ${by.paymentIntent}`
        : await sql<SessionRow[]>`select * from stripe_sessions where charge = ${by.charge ?? ''}`
  return row ?? null
}

/** The newest session of a merchant trade number (`client_reference_id`). */
export async function findSessionByReference(sql: Q, ref: string): Promise<SessionRow | null> {
  const [row] = await sql<SessionRow[]>`
    select * from stripe_sessions where client_reference_id = ${ref} order by created_at desc, id desc limit 1`
  return row ?? null
}

export async function refundedTotal(sql: Q, sessionId: string): Promise<number> {
  const [row] = await sql<{ total: number }[]>`
    select coalesce(sum(amount), 0)::bigint as total from stripe_refunds where session_id = ${sessionId} and status = 'succeeded'`
  return Number(row!.total)
}

export type PayResult = { outcome: 'paid' | 'already-paid' | 'closed'; session: SessionRow }

/**
 * The buyer paid: open (and not past expires_at) → complete/paid with a PaymentIntent, a Charge and its
 * balance transaction (fee `feeBps`/10000 of the amount). `onPaid` runs in the same transaction.
 */
export async function paySession(
  sql: Sql,
  id: string,
  feeBps: number,
  onPaid: (tx: Q, s: SessionRow) => Promise<void>,
): Promise<PayResult | null> {
  return sql.begin(async (tx) => {
    const [paid] = await tx<SessionRow[]>`
      update stripe_sessions
         set status = 'complete', payment_status = 'paid', payment_intent = ${stripeId('pi')}, charge = ${stripeId('ch')}, paid_at = now()
       where id = ${id} and status = 'open' and expires_at > now()
       returning *`
    if (paid) {
      const fee = Math.round((paid.amount_total * feeBps) / 10_000)
      await tx`
        insert into stripe_balance_transactions (id, type, source, amount, fee, currency, created_at)
        values (${stripeId('txn')}, 'charge', ${paid.charge!}, ${paid.amount_total}, ${fee}, ${paid.currency}, ${paid.paid_at!})`
      await onPaid(tx, paid)
      return { outcome: 'paid' as const, session: paid }
    }
    const s = await findSession(tx, { id })
    if (!s) return null
    if (s.payment_status === 'paid') return { outcome: 'already-paid' as const, session: s }
    return { outcome: 'closed' as const, session: s }
  })
}

/** Expires an open session (the merchant's expire, or its `expires_at` passing); `onExpired` in the same transaction. */
export async function expireSession(sql: Sql, id: string, onExpired: (tx: Q, s: SessionRow) => Promise<void>): Promise<SessionRow | null> {
  return sql.begin(async (tx) => {
    const [s] = await tx<SessionRow[]>`
      update stripe_sessions set status = 'expired', expired_at = now() where id = ${id} and status = 'open' returning *`
    if (s) await onExpired(tx, s)
    return s ?? null
  })
}

/** Open sessions whose `expires_at` has passed. */
export async function overdueSessions(sql: Q): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from stripe_sessions where status = 'open' and expires_at <= now() limit 100`
  return rows.map((r) => r.id)
}

export type RefundOutcome =
  | { ok: true; refund: RefundRow; session: SessionRow; refunded: number }
  | {
      ok: false
      code: 'resource_missing' | 'charge_already_refunded' | 'amount_too_large' | 'payment_intent_unexpected_state'
      left: number
    }

/** A refund of a paid session, at most what is left; `onRefunded` (the charge.refunded event) in the same transaction. */
export async function createRefund(
  sql: Sql,
  paymentIntent: string,
  amount: number | null,
  fields: { reason: string | null; metadata: Record<string, string> },
  onRefunded: (tx: Q, r: { refund: RefundRow; session: SessionRow; refunded: number }) => Promise<void>,
): Promise<RefundOutcome> {
  return sql.begin(async (tx): Promise<RefundOutcome> => {
    const [s] = await tx<SessionRow[]>`select * from stripe_sessions where payment_intent = ${paymentIntent} for update`
    if (!s) return { ok: false, code: 'resource_missing', left: 0 }
    if (s.payment_status !== 'paid') return { ok: false, code: 'payment_intent_unexpected_state', left: 0 }
    const before = await refundedTotal(tx, s.id)
    const left = s.amount_total - before
    if (left <= 0) return { ok: false, code: 'charge_already_refunded', left }
    const value = amount ?? left
    if (value > left) return { ok: false, code: 'amount_too_large', left }
    const [refund] = await tx<RefundRow[]>`
      insert into stripe_refunds (id, session_id, payment_intent, charge, amount, currency, status, reason, metadata)
      values (${stripeId('re')}, ${s.id}, ${paymentIntent}, ${s.charge!}, ${value}, ${s.currency}, 'succeeded', ${fields.reason}, ${tx.json(fields.metadata)})
      returning *`
    await tx`
      insert into stripe_balance_transactions (id, type, source, amount, fee, currency, created_at)
      values (${stripeId('txn')}, 'refund', ${refund!.id}, ${-value}, 0, ${s.currency}, ${refund!.created_at})`
    const result = { refund: refund!, session: s, refunded: before + value }
    await onRefunded(tx, result)
    return { ok: true, ...result }
  })
}

export async function findRefund(sql: Q, id: string): Promise<RefundRow | null> {
  const [row] = await sql<RefundRow[]>`select * from stripe_refunds where id = ${id}`
  return row ?? null
}
