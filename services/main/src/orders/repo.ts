/**
 * Orders and credits. Every transition is a guarded UPDATE … WHERE status = … in one
 * transaction, so it happens once however many notifies, polls and instances race.
 */
import type { Sql } from '@paysys/db'
import { failpoint } from '@paysys/server-kit'
import { selectList } from '../db/columns.ts'
import { orders as ordersTable, type DeliveryStatus, type OrderStatus } from '../db/schema.ts'
import { addCredits, addCreditsTogether } from '../ledger.ts'
import { DuplicateEvent, recordEvents } from '../processed-events.ts'

export { DELIVERY_STATUSES, ORDER_STATUSES, type DeliveryStatus, type OrderStatus } from '../db/schema.ts'

/** An order as stored (the drizzle schema is the one column list). */
export type OrderRow = typeof ordersTable.$inferSelect

const COLUMNS = selectList(ordersTable)
export const ORDER_COLUMNS = COLUMNS

export interface NewOrder {
  orderNo: string
  userId: number
  productId: number
  kind: 'credits' | 'goods'
  packageCode: string | null
  productName: string
  credits: number
  quantity: number
  amountFen: number
  expireAt: Date
  customerEmail: string
  customerName: string
  paymentMethod: string | null
  clientInfo: unknown
  unitPriceFen?: number
  /** Goods only. */
  delivery?: {
    method: string
    address: string | null
    contactName: string | null
    contactPhone: string | null
    feeFen: number
  }
  remark?: string | null
}

export type PaidOutcome =
  | { outcome: 'PAID'; order: OrderRow; balanceAfter: number | null }
  /** This event id was applied before (recorded in the same transaction as its effect): nothing done again. */
  | { outcome: 'DUPLICATE' }
  | { outcome: 'ALREADY_PAID'; order: OrderRow }
  | { outcome: 'AMOUNT_MISMATCH'; order: OrderRow }
  | { outcome: 'NOT_FOUND' }

/** What a payment event says of the order it pays. */
export interface PaymentFacts {
  orderNo: string
  amountFen: number
  tradeNo: string
  paidAt: Date
  provider: string
  channel: string
}

/**
 * `lookups`: a pool with cached generic plans (connect's `plans: 'generic'`) for the reads of one order by its key
 * outside a transaction; every other statement runs on `sql`, planned with its values.
 */
export function createOrdersRepo(sql: Sql, lookups: Sql = sql) {
  // Prepared once per connection: these run on every order read (payment-status polls above all).
  async function findBy(column: 'id' | 'order_no', value: number | string, tx: Sql = lookups): Promise<OrderRow | undefined> {
    const rows = await tx.unsafe<OrderRow[]>(`select ${COLUMNS} from orders where ${column} = $1`, [value], { prepare: true })
    return rows[0]
  }

  async function userHistory(userId: number, page: { limit: number; offset: number }): Promise<{ rows: OrderRow[]; total: number }> {
    const [c] = await sql.unsafe<{ n: string; seq: string }[]>(
      'select orders as n, orders_seq as seq from user_counters where user_id = $1',
      [userId],
      { prepare: true },
    )
    const total = Number(c?.n ?? 0)
    if (!c || page.offset >= total) return { rows: [], total }
    const rows =
      total === Number(c.seq)
        ? // Numbered 1..total without a gap: the page is the numbers total - offset downwards.
          await sql.unsafe<OrderRow[]>(
            `select ${COLUMNS} from orders where user_id = $1 and user_seq <= $2 order by user_seq desc limit $3`,
            [userId, total - page.offset, page.limit],
            { prepare: true },
          )
        : // An order was moved or deleted since: the same order, by offset.
          await sql.unsafe<OrderRow[]>(
            `select ${COLUMNS} from orders where id in (select id from orders where user_id = $1 order by user_seq desc
               limit $2 offset $3) order by user_seq desc`,
            [userId, page.limit, page.offset],
          )
    return { rows, total }
  }

  /**
   * Payments in one transaction (`markPaid` is one of them; a bulk delivery passes its several): for each the guarded
   * UPDATE, its credits and its event id recorded, all committed together. Each buyer's row is locked once for all of
   * theirs, for one statement and the commit (applied one transaction each, a buyer's payments queue on that row,
   * commit after commit). Payments of distinct orders are applied set-wise (`markPaidAtOnce`: a handful of statements
   * whatever their number); the same order twice is applied in turn, as separate deliveries would be. undefined when
   * one event was applied before (nothing of the group is kept): the caller applies them in smaller turns instead,
   * where a duplicate is answered as such.
   */
  async function markPaidTogether(
    items: [PaymentFacts, { eventId: string; type: string }?][],
  ): Promise<Exclude<PaidOutcome, { outcome: 'DUPLICATE' }>[] | undefined> {
    try {
      return await sql.begin(async (tx) => {
        const t = tx as unknown as Sql
        const facts = items.map(([p]) => p)
        /** The events of the payments applied (PAID, ALREADY_PAID) recorded as processed; one seen before undoes all. */
        const record = async (outcomes: Exclude<PaidOutcome, { outcome: 'DUPLICATE' }>[]) => {
          const processed = items.flatMap(([p, event], k) => {
            const { outcome } = outcomes[k]!
            return event && (outcome === 'PAID' || outcome === 'ALREADY_PAID') ? [{ ...event, orderNo: p.orderNo, outcome }] : []
          })
          if (!(await recordEvents(t, processed))) throw new DuplicateEvent()
          processed.forEach(() => failpoint('main.applyingPayEvent'))
        }
        if (facts.length > 1 && new Set(facts.map((p) => p.orderNo)).size === facts.length) return markPaidAtOnce(t, facts, record)
        const outcomes: Exclude<PaidOutcome, { outcome: 'DUPLICATE' }>[] = []
        for (const p of facts) outcomes.push(await markPaidIn(t, p))
        await record(outcomes)
        return outcomes
      })
    } catch (err) {
      if (err instanceof DuplicateEvent) return undefined
      throw err
    }
  }

  return {
    async create(o: NewOrder): Promise<OrderRow> {
      const rows = await sql.unsafe<OrderRow[]>(
        `insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, quantity, amount_fen,
           expire_at, customer_email, customer_name, payment_method, client_info, unit_price_fen, delivery_method,
           delivery_address, contact_name, contact_phone, delivery_fee_fen, delivery_status, remark)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22) returning ${COLUMNS}`,
        [
          o.orderNo,
          o.userId,
          o.productId,
          o.kind,
          o.packageCode,
          o.productName,
          o.credits,
          o.quantity,
          o.amountFen,
          o.expireAt,
          o.customerEmail,
          o.customerName,
          o.paymentMethod,
          o.clientInfo === undefined ? null : sql.json(o.clientInfo as never),
          o.unitPriceFen ?? o.amountFen,
          o.delivery?.method ?? null,
          o.delivery?.address ?? null,
          o.delivery?.contactName ?? null,
          o.delivery?.contactPhone ?? null,
          o.delivery?.feeFen ?? 0,
          o.kind === 'goods' ? 'PENDING' : null,
          o.remark ?? null,
        ] as never[],
        { prepare: true },
      )
      return rows[0]!
    },

    findById: (id: number) => findBy('id', id),
    findByOrderNo: (orderNo: string) => findBy('order_no', orderNo),

    /** Orders matching `f`, newest first, with the total count (user history and admin search). */
    async search(f: OrderFilter, page: { limit: number; offset: number }): Promise<{ rows: OrderRow[]; total: number }> {
      const where: string[] = []
      const args: unknown[] = []
      const add = (clause: string, value: unknown) => {
        args.push(value)
        where.push(clause.replace('?', `$${args.length}`))
      }
      if (f.userId !== undefined) add('user_id = ?', f.userId)
      if (f.email !== undefined) add('customer_email = ?', f.email)
      if (f.status !== undefined) add('status = ?', f.status)
      if (f.kind !== undefined) add('kind = ?', f.kind)
      // The provider that took the payment, or the buyer's method (a balance payment has no provider).
      if (f.paymentMethod !== undefined) {
        args.push(f.paymentMethod)
        where.push(`(payment_provider = $${args.length} or payment_method = $${args.length})`)
      }
      if (f.orderNo !== undefined) add('order_no = ?', f.orderNo)
      if (f.from !== undefined) add('created_at >= ?', f.from)
      if (f.to !== undefined) add('created_at < ?', f.to)
      const cond = where.length ? `where ${where.join(' and ')}` : ''
      const only = (key: keyof OrderFilter) => Object.entries(f).every(([k, v]) => v === undefined || k === key)
      // A user's whole history: in the order it was numbered (orders.user_seq, assigned at insert), its count kept
      // with the rows (user_counters), page N a key range while the numbering has no gap (migration 0009).
      if (f.userId !== undefined && only('userId')) return userHistory(f.userId, page)
      // Counts kept with the rows where the filter is one they are kept by: an address, or whole China days.
      const wholeDays = (d?: Date) => d !== undefined && (d.getTime() + 8 * 3_600_000) % 86_400_000 === 0
      const total =
        f.email !== undefined && only('email')
          ? sql.unsafe<{ n: string }[]>('select orders as n from email_order_counts where email = $1', [f.email])
          : wholeDays(f.from) && wholeDays(f.to) && Object.entries(f).every(([k, v]) => v === undefined || k === 'from' || k === 'to')
            ? sql.unsafe<{ n: string }[]>(
                `select coalesce(sum(created), 0) as n from daily_stats
                  where day >= ($1::timestamptz at time zone 'Asia/Shanghai')::date and day < ($2::timestamptz at time zone 'Asia/Shanghai')::date`,
                [f.from, f.to] as never[],
              )
            : sql.unsafe<{ n: string }[]>(`select count(*)::int as n from orders ${cond}`, args as never[])
      const [rows, count] = await Promise.all([
        sql.unsafe<OrderRow[]>(
          // The page's ids first, then only those rows: a deep page skips index entries (an index-only scan of
          // orders_user_created_idx / orders_customer_email_created_idx), not whole rows read from the table.
          // Paging values are bound too, never spliced into the text.
          `select ${COLUMNS} from orders where id in (select id from orders ${cond} order by created_at desc, id desc
             limit $${args.length + 1} offset $${args.length + 2}) order by created_at desc, id desc`,
          [...args, page.limit, page.offset] as never[],
        ),
        total,
      ])
      return { rows, total: Number(count[0]?.n ?? 0) }
    },

    /** PENDING_PAYMENT → CANCELLED (guarded). Undefined when the order was no longer pending. */
    async cancel(id: number, tradeClosePending = false): Promise<OrderRow | undefined> {
      const rows = await sql.unsafe<OrderRow[]>(
        `update orders set status = 'CANCELLED', closed_at = now(), updated_at = now(), trade_close_pending = $2
          where id = $1 and status = 'PENDING_PAYMENT' returning ${COLUMNS}`,
        [id, tradeClosePending] as never[],
      )
      return rows[0]
    },

    /**
     * Overdue PENDING_PAYMENT orders → EXPIRED, a batch at a time. Rows locked by another sweeper
     * are skipped. Orders that had a payment started keep `trade_close_pending` until pay closed the trade.
     */
    async expireDue(batch: number): Promise<OrderRow[]> {
      return sql.unsafe<OrderRow[]>(
        `with due as (
           select id as due_id from orders where status = 'PENDING_PAYMENT' and expire_at <= now()
            order by expire_at limit $1 for update skip locked)
         update orders set status = 'EXPIRED', closed_at = now(), updated_at = now(),
           trade_close_pending = (payment_id is not null or payment_method is not null)
           from due where id = due.due_id and status = 'PENDING_PAYMENT'
         returning ${COLUMNS}`,
        [batch],
      )
    },

    /** Expired/cancelled orders whose provider trade may still be open. */
    async tradeClosePending(batch: number): Promise<OrderRow[]> {
      return sql.unsafe<OrderRow[]>(`select ${COLUMNS} from orders where trade_close_pending order by id limit $1`, [batch])
    },

    async markTradeClosed(id: number): Promise<void> {
      await sql`update orders set trade_close_pending = false, updated_at = now() where id = ${id} and trade_close_pending`
    },

    /**
     * Pays a goods order from the credit balance: PENDING_PAYMENT → PAID and the CONSUME ledger row
     * in one transaction. INSUFFICIENT when the balance does not cover it (nothing changes).
     */
    async payWithCredits(
      orderId: number,
      credits: number,
    ): Promise<{ outcome: 'PAID'; order: OrderRow; balanceAfter: number } | { outcome: 'INSUFFICIENT' | 'NOT_PAYABLE' }> {
      try {
        return await sql.begin(async (tx) => {
          const t = tx as unknown as Sql
          const rows = await t.unsafe<OrderRow[]>(
            `update orders set status = 'PAID', paid_at = now(), paid_amount_fen = amount_fen, payment_method = 'CREDITS',
               payment_channel = 'balance', credits_spent = $2, updated_at = now()
              where id = $1 and kind = 'goods' and status = 'PENDING_PAYMENT' and expire_at > now() returning ${COLUMNS}`,
            [orderId, credits],
          )
          const order = rows[0]
          if (!order) return { outcome: 'NOT_PAYABLE' } as const
          const balanceAfter = await addCredits(t, {
            userId: order.userId,
            type: 'CONSUME',
            delta: -credits,
            description: `积分支付订单 ${order.orderNo}（${order.productName} × ${order.quantity}）`,
            orderId: order.id,
            idempotencyKey: `order-pay:${order.id}`,
          })
          if (balanceAfter === null) throw new Insufficient()
          return { outcome: 'PAID', order, balanceAfter } as const
        })
      } catch (err) {
        if (err instanceof Insufficient) return { outcome: 'INSUFFICIENT' }
        throw err
      }
    },

    /** Moves a goods order's delivery status forward only (guarded on the current one). */
    async advanceDelivery(id: number, from: DeliveryStatus, to: DeliveryStatus, trackingNo: string | null): Promise<OrderRow | undefined> {
      const rows = await sql.unsafe<OrderRow[]>(
        `update orders set delivery_status = $3, tracking_no = coalesce($4, tracking_no),
           shipped_at = case when $3 in ('SHIPPED','DELIVERED') then coalesce(shipped_at, now()) else shipped_at end,
           delivered_at = case when $3 = 'DELIVERED' then now() else delivered_at end, updated_at = now()
          where id = $1 and kind = 'goods' and delivery_status = $2 returning ${COLUMNS}`,
        [id, from, to, trackingNo] as never[],
      )
      return rows[0]
    },

    /** Remembers the payment attempt pay created (only while still pending). */
    async recordPaymentStarted(
      orderId: number,
      p: { method: string; provider: string; channel: string; paymentId: string },
    ): Promise<void> {
      await sql`update orders set payment_method = ${p.method}, payment_provider = ${p.provider}, payment_channel = ${p.channel},
          payment_id = ${p.paymentId}, updated_at = now()
        where id = ${orderId} and status = 'PENDING_PAYMENT'`
    },

    /**
     * Pending orders whose payment started more than `afterS` seconds ago, least recently reconciled
     * first; claimed (reconciled_at = now) so several instances share the work.
     */
    async claimStalePending(afterS: number, batch: number): Promise<OrderRow[]> {
      return sql.unsafe<OrderRow[]>(
        `update orders set reconciled_at = now()
         where id in (select id from orders
           where status = 'PENDING_PAYMENT' and payment_id is not null and created_at < now() - make_interval(secs => $1)
             and (reconciled_at is null or reconciled_at < now() - make_interval(secs => greatest($1 / 4.0, 5)))
           order by reconciled_at nulls first, id limit $2 for update skip locked)
         returning ${COLUMNS}`,
        [afterS, batch],
      )
    },

    /**
     * Marks an order PAID and grants its credits in the same transaction.
     * Accepted from PENDING_PAYMENT, and from CANCELLED/EXPIRED/FAILED as a late payment (the money was taken).
     * The paid amount must equal the order amount. The buyer's `payment_method` stays as chosen (the provider
     * goes to `payment_provider`); it is filled from the provider only when no payment start was recorded.
     * With `event`, the event id is recorded in processed_events in this same transaction: a delivery seen
     * before (or racing this one) is DUPLICATE and changes nothing. NOT_FOUND and AMOUNT_MISMATCH record
     * nothing, so pay delivers the event again.
     */
    async markPaid(p: PaymentFacts, event?: { eventId: string; type: string }): Promise<PaidOutcome> {
      return (await markPaidTogether([[p, event]]))?.[0] ?? { outcome: 'DUPLICATE' }
    },

    markPaidTogether,

    /** Who bought each of these orders (unknown order numbers are left out). */
    async buyersOf(orderNos: string[]): Promise<Map<string, number>> {
      const rows = await sql<{ orderNo: string; userId: number }[]>`
        select order_no as "orderNo", user_id as "userId" from orders where order_no = any(${orderNos}::text[])`
      return new Map(rows.map((r) => [r.orderNo, r.userId]))
    },

    /** The order, locked for the caller's transaction (refunds reserve against it). */
    async lockForUpdate(tx: Sql, id: number): Promise<OrderRow | undefined> {
      return (await tx.unsafe<OrderRow[]>(`select ${COLUMNS} from orders where id = $1 for update`, [id]))[0]
    },

    /** The order side of a succeeded refund, in the caller's transaction (guarded: never above what was paid). */
    async applyRefund(tx: Sql, orderId: number, amountFen: number, at: Date): Promise<boolean> {
      const rows = await tx`
        update orders set refunded_amount_fen = refunded_amount_fen + ${amountFen}, refunded_at = ${at},
          status = case when refunded_amount_fen + ${amountFen} >= paid_amount_fen then 'REFUNDED' else 'PARTIALLY_REFUNDED' end,
          updated_at = now()
        where id = ${orderId} and status in ('PAID', 'PARTIALLY_REFUNDED') and refunded_amount_fen + ${amountFen} <= paid_amount_fen
        returning id`
      return rows.length > 0
    },
  }

  async function markPaidIn(tx: Sql, p: PaymentFacts): Promise<Exclude<PaidOutcome, { outcome: 'DUPLICATE' }>> {
    const updated = await tx.unsafe<OrderRow[]>(
      `update orders set status = 'PAID', paid_at = $2, trade_no = $3, paid_amount_fen = $4,
         payment_method = coalesce(payment_method, $5), payment_provider = $5, payment_channel = $6,
         late_payment = (status <> 'PENDING_PAYMENT'),
         credits_granted = (kind = 'credits'), updated_at = now()
       where order_no = $1 and amount_fen = $4 and status in (${PAYABLE})
       returning ${COLUMNS}`,
      [p.orderNo, p.paidAt, p.tradeNo, p.amountFen, p.provider, p.channel] as never[],
    )
    const order = updated[0]
    if (!order) return notPaid(tx, p)
    const grant = purchaseGrant(order)
    return { outcome: 'PAID', order, balanceAfter: grant ? await addCredits(tx, grant) : null }
  }

  /**
   * Payments of distinct orders, each as `markPaidIn` would apply it (the orders are distinct, so no payment's
   * UPDATE sees another's): one guarded UPDATE for all, `record` (their events), the credits of those paid granted
   * together.
   */
  async function markPaidAtOnce(
    tx: Sql,
    ps: PaymentFacts[],
    record: (outcomes: Exclude<PaidOutcome, { outcome: 'DUPLICATE' }>[]) => Promise<void>,
  ): Promise<Exclude<PaidOutcome, { outcome: 'DUPLICATE' }>[]> {
    const updated = await tx.unsafe<OrderRow[]>(
      `update orders set status = 'PAID', paid_at = e.e_paid_at, trade_no = e.e_trade_no, paid_amount_fen = e.e_fen,
         payment_method = coalesce(payment_method, e.e_provider), payment_provider = e.e_provider, payment_channel = e.e_channel,
         late_payment = (status <> 'PENDING_PAYMENT'),
         credits_granted = (kind = 'credits'), updated_at = now()
         from unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], $5::text[], $6::text[])
              as e(e_no, e_paid_at, e_trade_no, e_fen, e_provider, e_channel)
       where order_no = e.e_no and amount_fen = e.e_fen and status in (${PAYABLE})
       returning ${COLUMNS}`,
      [
        ps.map((p) => p.orderNo),
        ps.map((p) => p.paidAt.toISOString()),
        ps.map((p) => p.tradeNo),
        ps.map((p) => p.amountFen),
        ps.map((p) => p.provider),
        ps.map((p) => p.channel),
      ] as never[],
    )
    const paid = new Map(updated.map((o) => [o.orderNo, o]))
    // The ones the UPDATE left alone, read in one statement (a redelivered batch can be all of them).
    const missed = ps.filter((p) => !paid.has(p.orderNo)).map((p) => p.orderNo)
    const rows = missed.length
      ? await tx.unsafe<OrderRow[]>(`select ${COLUMNS} from orders where order_no = any($1::text[])`, [missed] as never[])
      : []
    const found = new Map(rows.map((o) => [o.orderNo, o]))
    const outcomes = ps.map((p): Exclude<PaidOutcome, { outcome: 'DUPLICATE' }> => {
      const order = paid.get(p.orderNo)
      return order ? { outcome: 'PAID', order, balanceAfter: null } : whyNotPaid(found.get(p.orderNo), p)
    })
    // Before the credits: the buyers' rows are locked last, for one statement and the commit.
    await record(outcomes)
    const granted = outcomes.flatMap((o) => {
      if (o.outcome !== 'PAID') return []
      const grant = purchaseGrant(o.order)
      return grant ? [{ o, grant }] : []
    })
    const balances = await addCreditsTogether(
      tx,
      granted.map((x) => x.grant),
    )
    granted.forEach(({ o }, k) => (o.balanceAfter = balances[k]!))
    return outcomes
  }

  /** Why a payment's guarded UPDATE changed nothing: no such order, another amount, or paid already. */
  async function notPaid(tx: Sql, p: PaymentFacts): Promise<Exclude<PaidOutcome, { outcome: 'PAID' | 'DUPLICATE' }>> {
    return whyNotPaid(await findBy('order_no', p.orderNo, tx), p)
  }
}

/** The answer to a payment whose guarded UPDATE changed nothing, from the order as it is now (if any). */
function whyNotPaid(existing: OrderRow | undefined, p: PaymentFacts): Exclude<PaidOutcome, { outcome: 'PAID' | 'DUPLICATE' }> {
  if (!existing) return { outcome: 'NOT_FOUND' }
  if (existing.amountFen !== p.amountFen) return { outcome: 'AMOUNT_MISMATCH', order: existing }
  return { outcome: 'ALREADY_PAID', order: existing }
}

/** The statuses a payment is accepted from: PENDING_PAYMENT, and the closed ones as a late payment. */
const PAYABLE = `'PENDING_PAYMENT','CANCELLED','EXPIRED','FAILED'`

/** The credits a paid credits order grants its buyer (none for goods). */
function purchaseGrant(order: OrderRow) {
  if (order.kind !== 'credits' || order.credits <= 0) return null
  return {
    userId: order.userId,
    type: 'PURCHASE' as const,
    delta: order.credits,
    description: `购买${order.productName} ${order.credits}积分 (订单 ${order.orderNo})`,
    orderId: order.id,
  }
}
export type OrdersRepo = ReturnType<typeof createOrdersRepo>

export interface OrderFilter {
  userId?: number
  /** The provider that took (or is taking) the payment, or the buyer's method (as pay's methods list names them). */
  paymentMethod?: string
  email?: string
  status?: OrderStatus
  kind?: 'credits' | 'goods'
  orderNo?: string
  from?: Date
  to?: Date
}

class Insufficient extends Error {}
