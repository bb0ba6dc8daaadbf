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
