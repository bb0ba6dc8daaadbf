/**
 * Orders and credits. Every transition is a guarded UPDATE … WHERE status = … in one
 * transaction, so it happens once however many notifies, polls and instances race.
 */
import type { Sql } from '@paysys/db'

export const ORDER_STATUSES = ['PENDING_PAYMENT', 'PAID', 'CANCELLED', 'EXPIRED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const
export type OrderStatus = (typeof ORDER_STATUSES)[number]

export interface OrderRow {
  id: number
  orderNo: string
  userId: number
  productId: number
  kind: 'credits' | 'goods'
  packageCode: string | null
  productName: string
  credits: number
  quantity: number
  amountFen: number
  status: OrderStatus
  paymentMethod: string | null
  paymentChannel: string | null
  paymentId: string | null
  tradeNo: string | null
  paidAmountFen: number | null
  paidAt: Date | null
  expireAt: Date
  creditsGranted: boolean
  latePayment: boolean
  customerEmail: string
  customerName: string
  closedAt: Date | null
  unitPriceFen: number | null
  deliveryMethod: string | null
  deliveryAddress: string | null
  contactName: string | null
  contactPhone: string | null
  deliveryFeeFen: number
  deliveryStatus: DeliveryStatus | null
  trackingNo: string | null
  shippedAt: Date | null
  deliveredAt: Date | null
  remark: string | null
  creditsSpent: number
  refundedAmountFen: number
  refundedAt: Date | null
  tradeClosePending: boolean
  createdAt: Date
  updatedAt: Date
}

export const DELIVERY_STATUSES = ['PENDING', 'SHIPPED', 'DELIVERED'] as const
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]

const COLUMNS = `id, order_no as "orderNo", user_id as "userId", product_id as "productId", kind, package_code as "packageCode",
  product_name as "productName", credits, quantity, amount_fen as "amountFen", status, payment_method as "paymentMethod",
  payment_channel as "paymentChannel", payment_id as "paymentId", trade_no as "tradeNo", paid_amount_fen as "paidAmountFen",
  paid_at as "paidAt", expire_at as "expireAt", credits_granted as "creditsGranted", late_payment as "latePayment",
  customer_email as "customerEmail", customer_name as "customerName", closed_at as "closedAt", unit_price_fen as "unitPriceFen",
  delivery_method as "deliveryMethod", delivery_address as "deliveryAddress", contact_name as "contactName",
  contact_phone as "contactPhone", delivery_fee_fen as "deliveryFeeFen", delivery_status as "deliveryStatus",
  tracking_no as "trackingNo", shipped_at as "shippedAt", delivered_at as "deliveredAt", remark, credits_spent as "creditsSpent",
  refunded_amount_fen as "refundedAmountFen", refunded_at as "refundedAt", trade_close_pending as "tradeClosePending",
  created_at as "createdAt", updated_at as "updatedAt"`
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
  | { outcome: 'ALREADY_PAID'; order: OrderRow }
  | { outcome: 'AMOUNT_MISMATCH'; order: OrderRow }
  | { outcome: 'NOT_FOUND' }

export function createOrdersRepo(sql: Sql) {
  // Prepared once per connection: these run on every order read (payment-status polls above all).
  async function findBy(column: 'id' | 'order_no', value: number | string, tx: Sql = sql): Promise<OrderRow | undefined> {
    const rows = await tx.unsafe<OrderRow[]>(`select ${COLUMNS} from orders where ${column} = $1`, [value], { prepare: true })
    return rows[0]
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
      if (f.paymentMethod !== undefined) add('payment_method = ?', f.paymentMethod)
      if (f.orderNo !== undefined) add('order_no = ?', f.orderNo)
      if (f.from !== undefined) add('created_at >= ?', f.from)
      if (f.to !== undefined) add('created_at < ?', f.to)
      const cond = where.length ? `where ${where.join(' and ')}` : ''
      const [rows, count] = await Promise.all([
        sql.unsafe<OrderRow[]>(
          // Paging values are bound too, never spliced into the text.
          `select ${COLUMNS} from orders ${cond} order by created_at desc, id desc limit $${args.length + 1} offset $${args.length + 2}`,
          [...args, page.limit, page.offset] as never[],
        ),
        sql.unsafe<{ n: number }[]>(`select count(*)::int as n from orders ${cond}`, args as never[]),
      ])
      return { rows, total: count[0]!.n }
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
    async recordPaymentStarted(orderId: number, p: { method: string; channel: string; paymentId: string }): Promise<void> {
      await sql`update orders set payment_method = ${p.method}, payment_channel = ${p.channel}, payment_id = ${p.paymentId}, updated_at = now()
        where id = ${orderId} and status = 'PENDING_PAYMENT'`
    },

    /**
     * Marks an order PAID and grants its credits in the same transaction.
     * Accepted from PENDING_PAYMENT, and from CANCELLED/EXPIRED/FAILED as a late payment (the money was taken).
     * The paid amount must equal the order amount.
     */
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

    async markPaid(p: {
      orderNo: string
      amountFen: number
      tradeNo: string
      paidAt: Date
      method: string
      channel: string
    }): Promise<PaidOutcome> {
      return sql.begin(async (tx) => {
        const updated = await tx.unsafe<OrderRow[]>(
          `update orders set status = 'PAID', paid_at = $2, trade_no = $3, paid_amount_fen = $4,
             payment_method = $5, payment_channel = $6,
             late_payment = (status <> 'PENDING_PAYMENT'),
             credits_granted = (kind = 'credits'), updated_at = now()
           where order_no = $1 and amount_fen = $4 and status in ('PENDING_PAYMENT','CANCELLED','EXPIRED','FAILED')
           returning ${COLUMNS}`,
          [p.orderNo, p.paidAt, p.tradeNo, p.amountFen, p.method, p.channel] as never[],
        )
        const order = updated[0]
        if (!order) {
          const existing = await findBy('order_no', p.orderNo, tx as unknown as Sql)
          if (!existing) return { outcome: 'NOT_FOUND' } as const
          if (existing.amountFen !== p.amountFen) return { outcome: 'AMOUNT_MISMATCH', order: existing } as const
          return { outcome: 'ALREADY_PAID', order: existing } as const
        }
        let balanceAfter: number | null = null
        if (order.kind === 'credits' && order.credits > 0) {
          balanceAfter = await addCredits(tx as unknown as Sql, {
            userId: order.userId,
            type: 'PURCHASE',
            delta: order.credits,
            description: `购买${order.productName} ${order.credits}积分 (订单 ${order.orderNo})`,
            orderId: order.id,
          })
        }
        return { outcome: 'PAID', order, balanceAfter } as const
      })
    },
  }
}
export type OrdersRepo = ReturnType<typeof createOrdersRepo>

export interface OrderFilter {
  userId?: number
  /** How the order was paid (or is being paid): ALIPAY, WECHAT_PAY, EPAY, CREDITS. */
  paymentMethod?: string
  email?: string
  status?: OrderStatus
  kind?: 'credits' | 'goods'
  orderNo?: string
  from?: Date
  to?: Date
}

class Insufficient extends Error {}

/**
 * Appends a ledger row and moves the balance in the caller's transaction.
 * The balance update is guarded so it never goes negative; returns the new balance.
 */
export async function addCredits(
  tx: Sql,
  e: {
    userId: number
    type: 'PURCHASE' | 'CONSUME' | 'REFUND' | 'ADJUST'
    delta: number
    description: string
    orderId?: number
    idempotencyKey?: string
  },
): Promise<number | null> {
  const rows = await tx<{ creditBalance: number }[]>`
    update users set credit_balance = credit_balance + ${e.delta}, updated_at = now()
    where id = ${e.userId} and credit_balance + ${e.delta} >= 0
    returning credit_balance as "creditBalance"`
  const row = rows[0]
  if (!row) return null
  await tx`insert into credit_ledger (user_id, type, delta, balance_after, description, order_id, idempotency_key)
    values (${e.userId}, ${e.type}, ${e.delta}, ${row.creditBalance}, ${e.description}, ${e.orderId ?? null}, ${e.idempotencyKey ?? null})`
  return row.creditBalance
}
