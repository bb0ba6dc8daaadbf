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
  createdAt: Date
  updatedAt: Date
}

const COLUMNS = `id, order_no as "orderNo", user_id as "userId", product_id as "productId", kind, package_code as "packageCode",
  product_name as "productName", credits, quantity, amount_fen as "amountFen", status, payment_method as "paymentMethod",
  payment_channel as "paymentChannel", payment_id as "paymentId", trade_no as "tradeNo", paid_amount_fen as "paidAmountFen",
  paid_at as "paidAt", expire_at as "expireAt", credits_granted as "creditsGranted", late_payment as "latePayment",
  customer_email as "customerEmail", customer_name as "customerName", closed_at as "closedAt", created_at as "createdAt",
  updated_at as "updatedAt"`

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
}

export type PaidOutcome =
  | { outcome: 'PAID'; order: OrderRow; balanceAfter: number | null }
  | { outcome: 'ALREADY_PAID'; order: OrderRow }
  | { outcome: 'AMOUNT_MISMATCH'; order: OrderRow }
  | { outcome: 'NOT_FOUND' }

export function createOrdersRepo(sql: Sql) {
  async function findBy(column: 'id' | 'order_no', value: number | string, tx: Sql = sql): Promise<OrderRow | undefined> {
    const rows = await tx.unsafe<OrderRow[]>(`select ${COLUMNS} from orders where ${column} = $1`, [value])
    return rows[0]
  }

  return {
    async create(o: NewOrder): Promise<OrderRow> {
      const rows = await sql.unsafe<OrderRow[]>(
        `insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, quantity, amount_fen,
           expire_at, customer_email, customer_name, payment_method, client_info)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) returning ${COLUMNS}`,
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
        ] as never[],
      )
      return rows[0]!
    },

    findById: (id: number) => findBy('id', id),
    findByOrderNo: (orderNo: string) => findBy('order_no', orderNo),

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
