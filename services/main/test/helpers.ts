import { fileURLToPath } from 'node:url'
import { connect, runMigrations, type Sql } from '@paysys/db'
import { createTestDatabase, freePort } from '@paysys/devkit'
import { signServiceRequest, type ServiceKey } from '@paysys/service-auth'
import { buildApp } from '../src/app.ts'
import { seedCatalogue } from '../src/catalog.ts'
import { loadConfig } from '../src/config.ts'

export const SERVICE_KEY: ServiceKey = { id: 'test-key', secret: 'test-secret-0123456789abcdef' }

/** main on a throwaway database, with pay pointing at a port where nothing listens (pay is down). */
export async function startMain(env: Record<string, string> = {}) {
  const db = await createTestDatabase('main')
  await runMigrations(db.url, fileURLToPath(new URL('../drizzle', import.meta.url)))
  const sql: Sql = connect(db.url)
  await seedCatalogue(sql)
  const config = loadConfig({
    DATABASE_URL: db.url,
    JWT_SECRET: 'a-test-jwt-secret-that-is-long-enough-123',
    SERVICE_KEYS: `${SERVICE_KEY.id}:${SERVICE_KEY.secret}`,
    PAY_URL: `http://127.0.0.1:${await freePort()}`,
    PAY_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    RATE_LIMIT_ORDERS_PER_MINUTE: '0',
    ...env,
  })
  const app = await buildApp(config, sql)
  await app.ready()
  return {
    app,
    sql,
    config,
    async close() {
      await app.close()
      await sql.end({ timeout: 5 })
      await db.drop()
    },
  }
}

export function signedHeaders(method: string, path: string, body: string, key = SERVICE_KEY, now?: number) {
  return { ...signServiceRequest({ key, method, path, body, now }), 'content-type': 'application/json' }
}

type InjectApp = Awaited<ReturnType<typeof startMain>>['app']

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Registers a user; returns its token and id. */
export async function registerUser(app: InjectApp, email: string, password = 'password123') {
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email, password, name: email.split('@')[0] } })
  if (res.statusCode !== 200) throw new Error(`register ${email}: ${res.body}`)
  return { token: res.json().data.token as string, userId: res.json().data.user.id as number, email }
}

/** A registered admin (role set in the database, as ensureAdmin does). */
export async function registerAdmin(app: InjectApp, sql: Sql, email: string) {
  const u = await registerUser(app, email)
  await sql`update users set role = 'admin' where id = ${u.userId}`
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: 'password123' } })
  return { ...u, token: login.json().data.token as string }
}

/** Row counts of everything a request could leave behind. */
export async function traces(sql: Sql) {
  const [r] = await sql`select
    (select count(*)::int from orders) as orders, (select count(*)::int from users) as users,
    (select count(*)::int from credit_ledger) as ledger, (select coalesce(sum(credit_balance), 0)::int from users) as balance,
    (select count(*)::int from refunds) as refunds, (select count(*)::int from idempotency_keys) as "idempotencyKeys",
    (select count(*)::int from products) as products,
    (select md5(string_agg(o::text, ',' order by id)) from orders o) as "ordersHash",
    (select md5(string_agg(p::text, ',' order by id)) from products p) as "productsHash"`
  return r
}

/** Sets the credit balance through an ADJUST ledger row (the ledger always sums to the balance). */
export async function giveCredits(sql: Sql, userId: number, credits: number) {
  await sql.begin(async (tx) => {
    const [u] = await tx`update users set credit_balance = credit_balance + ${credits} where id = ${userId} returning credit_balance`
    await tx`insert into credit_ledger (user_id, type, delta, balance_after, description) values (${userId}, 'ADJUST', ${credits}, ${u!.credit_balance}, 'test')`
  })
}
