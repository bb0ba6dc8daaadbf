/** The `refunds` table: its only reader and writer. The rules (how much, credits, pay) are in refunds.ts. */
import type { Sql } from '@paysys/db'
import { selectList } from './db/columns.ts'
import { refunds } from './db/schema.ts'

export type RefundRow = typeof refunds.$inferSelect

const COLUMNS = selectList(refunds)

export interface NewRefund {
  refundNo: string
  orderId: number
  userId: number
  amountFen: number
  reason: string
  status: RefundRow['status']
  via: RefundRow['via']
  creditsClawedBack: number
  creditsReturned: number
  forced: boolean
  adminId: number
  completedAt: Date | null
}

export function createRefundsRepo(sql: Sql) {
  return {
    async findByRefundNo(refundNo: string, tx: Sql = sql): Promise<RefundRow | undefined> {
      return (await tx.unsafe<RefundRow[]>(`select ${COLUMNS} from refunds where refund_no = $1`, [refundNo]))[0]
    },

    async listForOrder(orderId: number): Promise<RefundRow[]> {
      return sql.unsafe<RefundRow[]>(`select ${COLUMNS} from refunds where order_id = $1 order by id`, [orderId])
    },

    /** What the order's live refunds (PENDING or SUCCEEDED) already hold: fen, credits clawed back, credits returned. */
    async reservedFor(tx: Sql, orderId: number): Promise<{ amount: number; clawed: number; returned: number }> {
      const [sums] = await tx<{ amount: number; clawed: number; returned: number }[]>`
        select coalesce(sum(amount_fen), 0)::bigint as amount, coalesce(sum(credits_clawed_back), 0)::bigint as clawed,
               coalesce(sum(credits_returned), 0)::bigint as returned
          from refunds where order_id = ${orderId} and status in ('PENDING', 'SUCCEEDED')`
      return { amount: Number(sums!.amount), clawed: Number(sums!.clawed), returned: Number(sums!.returned) }
    },

    async insert(tx: Sql, r: NewRefund): Promise<RefundRow> {
      const [row] = await tx.unsafe<RefundRow[]>(
        `insert into refunds (refund_no, order_id, user_id, amount_fen, reason, status, via, credits_clawed_back, credits_returned,
           forced, admin_id, completed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning ${COLUMNS}`,
        [
          r.refundNo,
          r.orderId,
          r.userId,
          r.amountFen,
          r.reason,
          r.status,
          r.via,
          r.creditsClawedBack,
          r.creditsReturned,
          r.forced,
          r.adminId,
          r.completedAt,
        ] as never[],
      )
      return row!
    },

    /** PENDING → SUCCEEDED (guarded); undefined when it was no longer PENDING. */
    async markSucceeded(tx: Sql, refundNo: string, at: Date): Promise<RefundRow | undefined> {
      const [r] = await tx.unsafe<RefundRow[]>(
        `update refunds set status = 'SUCCEEDED', completed_at = $2, updated_at = now()
          where refund_no = $1 and status = 'PENDING' returning ${COLUMNS}`,
        [refundNo, at] as never[],
      )
      return r
    },

    /** PENDING → FAILED (guarded); undefined when it was no longer PENDING. */
    async markFailed(tx: Sql, refundNo: string, reason: string): Promise<RefundRow | undefined> {
      const [r] = await tx.unsafe<RefundRow[]>(
        `update refunds set status = 'FAILED', failure_reason = $2, completed_at = now(), updated_at = now()
          where refund_no = $1 and status = 'PENDING' returning ${COLUMNS}`,
        [refundNo, reason.slice(0, 500)],
      )
      return r
    },

    /**
     * A PENDING refund the provider holds as abnormal: it stays PENDING (the credits stay clawed back,
     * the sweep keeps asking) with the provider's word as its note, for the admin.
     */
    async noteAbnormal(refundNo: string, note: string): Promise<void> {
      await sql`update refunds set failure_reason = ${note.slice(0, 500)}, updated_at = now()
                 where refund_no = ${refundNo} and status = 'PENDING' and failure_reason is distinct from ${note.slice(0, 500)}`
    },

    /** The order number a refund belongs to. */
    async orderNoOf(refund: RefundRow): Promise<string | undefined> {
      const [o] = await sql<{ orderNo: string }[]>`select order_no as "orderNo" from orders where id = ${refund.orderId}`
      return o?.orderNo
    },

    /** PENDING provider refunds older than `olderThanS`, with their order numbers (the retry sweep). */
    async pendingProviderRefunds(olderThanS: number, batch: number): Promise<(RefundRow & { orderNo: string })[]> {
      return sql.unsafe<(RefundRow & { orderNo: string })[]>(
        `select ${selectList(refunds, 'r')}, o.order_no as "orderNo"
           from refunds r join orders o on o.id = r.order_id
          where r.status = 'PENDING' and r.via = 'PROVIDER' and r.created_at < now() - make_interval(secs => $1)
          order by r.id limit $2`,
        [olderThanS, batch],
      )
    },
  }
}
export type RefundsRepo = ReturnType<typeof createRefundsRepo>
