import postgres from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'

export type Sql = postgres.Sql

/**
 * Opens a postgres.js pool. bigint columns come back as JS numbers (fen amounts are far below 2^53).
 *
 * Every statement is planned with its values (`plan_cache_mode = force_custom_plan`); statements stay prepared, so
 * only the plan is made again. A connection's cached generic plan is made once, from the statistics of the moment:
 * made while a table was small (a fresh install, a fresh database; the CI's PostgreSQL runs without autovacuum, so
 * never again), the guarded `UPDATE orders … WHERE id = $1 AND status = 'PENDING_PAYMENT'` ran as a scan of every
 * pending order through the status index, not one row by its key: 9,000 buffers and 3 ms per checkout at 10,000
 * orders, growing with the table (pg_stat_statements under the bench). Custom planning costs ~0.05 ms a statement,
 * which a pool of key lookups can skip (`plans: 'generic'`).
 */
export function connect(
  url: string,
  opts: {
    max?: number
    /**
     * `generic`: cached generic plans (PostgreSQL's default), for a pool that runs nothing but lookups by a primary or
     * unique key, whose plan is the key's index at any size (main's order reads: a payment-status poll is one of them).
     */
    plans?: 'custom' | 'generic'
    applicationName?: string
  } = {},
): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: {
      application_name: opts.applicationName ?? process.env.SERVICE_NAME ?? 'paysys',
      plan_cache_mode: opts.plans === 'generic' ? 'auto' : 'force_custom_plan',
    },
    types: {
      bigint: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
    },
  })
}

/** Applies the drizzle-kit migrations in `folder` (idempotent, safe to run at every start-up). */
export async function runMigrations(url: string, folder: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    // Serialise concurrent starts of several instances on one database.
    await sql`select pg_advisory_lock(7262001)`
    await migrate(drizzle(sql), { migrationsFolder: folder })
    await sql`select pg_advisory_unlock(7262001)`
  } finally {
    await sql.end({ timeout: 5 })
  }
}

export { drizzle }
