import { fileURLToPath } from 'node:url'
import { loadConfigOrExit } from '@paysys/config'
import { connect, runMigrations } from '@paysys/db'
import { listenAndHandleSignals } from '@paysys/server-kit'
import { buildApp } from './app.ts'
import { seedCatalogue } from './catalog.ts'
import { loadConfig } from './config.ts'
import { hashPassword } from './passwords.ts'
import { createUsersRepo } from './users.ts'

const config = loadConfigOrExit(() => loadConfig())
await runMigrations(config.databaseUrl, fileURLToPath(new URL('../drizzle', import.meta.url)))
const sql = connect(config.databaseUrl, { max: 20 })
await seedCatalogue(sql)
if (config.adminEmail && config.adminPassword) {
  await createUsersRepo(sql).ensureAdmin(config.adminEmail, await hashPassword(config.adminPassword))
}
const app = await buildApp(config, sql)
// Expiry, trade close and refund retries; stopped by app.close() (onClose hook).
app.deps.sweeper.start()
await listenAndHandleSignals(app, config.port, config.host, async () => {
  await sql.end({ timeout: 5 })
})
