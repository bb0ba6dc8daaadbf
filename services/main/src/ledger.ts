/**
 * The credits ledger: append-only rows (PURCHASE, CONSUME, REFUND, ADJUST), each moving the
 * account balance in the same transaction (`addCredits`, guarded so it never goes negative).
 * Spending is idempotent by key: the (user, key) pair is unique in the ledger.
 */
import type { Sql } from '@paysys/db'
import { addCredits } from './orders/repo.ts'

export interface LedgerRow {
  id: number
  userId: number
  type: 'PURCHASE' | 'CONSUME' | 'REFUND' | 'ADJUST'
  delta: number
  balanceAfter: number
  description: string
  orderId: number | null
  idempotencyKey: string | null
  createdAt: Date
}

const COLUMNS = `id, user_id as "userId", type, delta, balance_after as "balanceAfter", description, order_id as "orderId",
  idempotency_key as "idempotencyKey", created_at as "createdAt"`

export type ConsumeOutcome =
  | { outcome: 'CONSUMED'; row: LedgerRow }
  /** This key was used before for the same request: its row (nothing spent again). */
  | { outcome: 'REPLAYED'; row: LedgerRow }
  /** This key was used before for another amount or description. */
  | { outcome: 'KEY_REUSED'; row: LedgerRow }
  | { outcome: 'INSUFFICIENT'; balance: number }

/** Consume keys live in their own namespace, apart from the keys the system writes (`order-pay:`, `refund:`). */
const consumeKey = (key: string) => `consume:${key}`

class Rollback extends Error {}

export function createLedger(sql: Sql) {
  async function byKey(userId: number, key: string, tx: Sql = sql): Promise<LedgerRow | undefined> {
    return (
      await tx.unsafe<LedgerRow[]>(`select ${COLUMNS} from credit_ledger where user_id = $1 and idempotency_key = $2`, [userId, key])
    )[0]
  }

  function replayOf(existing: LedgerRow, credits: number, description: string): ConsumeOutcome {
    const same = existing.type === 'CONSUME' && existing.delta === -credits && existing.description === description
    return same ? { outcome: 'REPLAYED', row: existing } : { outcome: 'KEY_REUSED', row: existing }
  }

  return {
    async consume(userId: number, credits: number, description: string, key: string): Promise<ConsumeOutcome> {
      const k = consumeKey(key)
      const earlier = await byKey(userId, k)
      if (earlier) return replayOf(earlier, credits, description)
      try {
        return await sql.begin(async (tx) => {
          const t = tx as unknown as Sql
          const balanceAfter = await addCredits(t, { userId, type: 'CONSUME', delta: -credits, description, idempotencyKey: k })
          if (balanceAfter === null) throw new Rollback()
          return { outcome: 'CONSUMED', row: (await byKey(userId, k, t))! } as const
        })
      } catch (err) {
        if (err instanceof Rollback) {
          const [u] = await sql<{ b: number }[]>`select credit_balance as b from users where id = ${userId}`
          return { outcome: 'INSUFFICIENT', balance: u?.b ?? 0 }
        }
        // Two requests with the same key raced: the other one's row stands (unique (user, key)).
        if ((err as { code?: string }).code === '23505') {
          const row = await byKey(userId, k)
          if (row) return replayOf(row, credits, description)
        }
        throw err
      }
    },

    /** An admin correction with a reason; null when it would take the balance below zero. */
    async adjust(userId: number, delta: number, description: string): Promise<LedgerRow | null> {
      return sql.begin(async (tx) => {
        const t = tx as unknown as Sql
        const balanceAfter = await addCredits(t, { userId, type: 'ADJUST', delta, description })
        if (balanceAfter === null) return null
        const [row] = await t.unsafe<LedgerRow[]>(`select ${COLUMNS} from credit_ledger where user_id = $1 order by id desc limit 1`, [
          userId,
        ])
        return row!
      })
    },
  }
}
export type Ledger = ReturnType<typeof createLedger>

export function presentLedgerRow(r: LedgerRow) {
  return {
    id: r.id,
    type: r.type,
    delta: r.delta,
    balanceAfter: r.balanceAfter,
    description: r.description,
    orderId: r.orderId,
    createdAt: r.createdAt.toISOString(),
  }
}
