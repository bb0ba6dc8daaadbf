/**
 * The credits ledger: append-only rows (PURCHASE, CONSUME, REFUND, ADJUST), each moving the
 * account balance in the same transaction (`addCredits`, guarded so it never goes negative).
 * Spending is idempotent by key: the (user, key) pair is unique in the ledger.
 * This module is the only writer of `credit_ledger`: orders (paid, paid with credits) and refunds
 * call `addCredits` inside their own transactions.
 */
import type { Sql } from '@paysys/db'
import { selectList } from './db/columns.ts'
import { creditLedger, type LedgerType } from './db/schema.ts'

export type LedgerRow = typeof creditLedger.$inferSelect

const COLUMNS = selectList(creditLedger)

/** The user's balance, the row locked for the caller's transaction (a claw-back decides on it). */
export async function lockedBalance(tx: Sql, userId: number): Promise<number> {
  const [u] = await tx<{ b: number }[]>`select credit_balance as b from users where id = ${userId} for update`
  return Number(u?.b ?? 0)
}

/**
 * Appends a ledger row and moves the balance in the caller's transaction.
 * The balance update is guarded so it never goes negative; returns the new balance (null: it would).
 */
export async function addCredits(
  tx: Sql,
  e: { userId: number; type: LedgerType; delta: number; description: string; orderId?: number; idempotencyKey?: string },
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
    /** A user's rows, newest first, with the total count. */
    async page(userId: number, p: { limit: number; offset: number }): Promise<{ rows: LedgerRow[]; total: number }> {
      const [rows, count] = await Promise.all([
        sql.unsafe<LedgerRow[]>(`select ${COLUMNS} from credit_ledger where user_id = $1 order by id desc limit $2 offset $3`, [
          userId,
          p.limit,
          p.offset,
        ]),
        // Kept with the rows (user_counters, maintained by a trigger on credit_ledger), not counted on every page.
        sql<{ n: string }[]>`select ledger as n from user_counters where user_id = ${userId}`,
      ])
      return { rows, total: Number(count[0]?.n ?? 0) }
    },

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
