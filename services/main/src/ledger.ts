/**
 * The credits ledger: append-only rows (PURCHASE, CONSUME, REFUND, ADJUST), each moving the
 * account balance in the same transaction (`addCredits`, guarded so it never goes negative).
 * Spending is idempotent by key: the (user, key) pair is unique in the ledger.
 * This module is the only writer of `credit_ledger`: orders (paid, paid with credits) and refunds
 * call `addCredits` (a bulk delivery's payments `addCreditsTogether`) inside their own transactions.
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

type Grant = { userId: number; type: LedgerType; delta: number; description: string; orderId?: number; idempotencyKey?: string }

/**
 * Credits granted together (the paid orders of one delivery): the same rows and balances as `addCredits` called
 * for each in turn, in one statement whatever their number — each user's balance moved once by the sum, the ledger
 * rows appended in the given order, each with the balance after it. Grants only (a delta below 0 is refused: the
 * never-negative guard of a debit depends on the order of the rows). The balance after each grant, null where its
 * user does not exist (nothing written for it, as `addCredits` answers).
 */
export async function addCreditsTogether(tx: Sql, grants: readonly Grant[]): Promise<(number | null)[]> {
  if (grants.some((g) => !Number.isSafeInteger(g.delta) || g.delta < 0)) throw new Error('addCreditsTogether: grants only')
  if (!grants.length) return []
  const totals = new Map<number, number>()
  for (const g of grants) totals.set(g.userId, (totals.get(g.userId) ?? 0) + g.delta)
  // In id order: with the array driving the key lookups (the plan for a delivery's few users), every caller locks
  // users in one order. A deadlock another plan might still cause fails the transaction; the caller then applies the
  // events in smaller turns.
  const users = [...totals.keys()].sort((a, b) => a - b)
  // What each user is granted after each row: its balance after that row is the new balance less that.
  const later = new Map(totals)
  const rest = grants.map((g) => {
    const r = later.get(g.userId)! - g.delta
    later.set(g.userId, r)
    return r
  })
  const rows = await tx<{ id: number; creditBalance: number }[]>`
    with moved as (
      update users u set credit_balance = u.credit_balance + g.total, updated_at = now()
        from unnest(${users}::bigint[], ${users.map((id) => totals.get(id)!)}::bigint[]) as g(id, total)
       where u.id = g.id
      returning u.id, u.credit_balance
    ), rows as (
      insert into credit_ledger (user_id, type, delta, balance_after, description, order_id, idempotency_key)
      select l.user_id, l.type, l.delta, moved.credit_balance - l.rest, l.description, l.order_id, l.idempotency_key
        from unnest(${grants.map((g) => g.userId)}::bigint[], ${grants.map((g) => g.type)}::text[], ${grants.map((g) => g.delta)}::bigint[],
                    ${rest}::bigint[], ${grants.map((g) => g.description)}::text[], ${grants.map((g) => g.orderId ?? null)}::bigint[],
                    ${grants.map((g) => g.idempotencyKey ?? null)}::text[])
             with ordinality as l(user_id, type, delta, rest, description, order_id, idempotency_key, n)
        join moved on moved.id = l.user_id
       order by l.n
      returning 1
    )
    select id, credit_balance as "creditBalance" from moved`
  const balance = new Map(rows.map((r) => [Number(r.id), Number(r.creditBalance)]))
  return grants.map((g, k) => {
    const b = balance.get(g.userId)
    return b === undefined ? null : b - rest[k]!
  })
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
