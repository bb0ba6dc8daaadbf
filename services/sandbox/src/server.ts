/** Entry point: config (refuses NODE_ENV=production), migrations, app, notify worker, listen. */
import { fileURLToPath } from 'node:url'
import { loadConfigOrExit } from '@paysys/config'
import { connect, runMigrations } from '@paysys/db'
import { listenAndHandleSignals } from '@paysys/server-kit'
import { loadConfig } from './config.ts'
import { buildApp, enabledProviders } from './app.ts'

const config = loadConfigOrExit(() => loadConfig())
await runMigrations(config.databaseUrl, fileURLToPath(new URL('../drizzle', import.meta.url)))
const sql = connect(config.databaseUrl, { max: config.dbPoolMax })
const app = await buildApp(config, sql)
if (enabledProviders(config).length === 0)
  app.log.warn('no provider is configured (SANDBOX_<PROVIDER>_*): every provider endpoint is disabled')
// The notify worker starts when the app is ready and resumes any deliveries left pending by a previous run.
await listenAndHandleSignals(app, config.port, config.host, async () => {
  await sql.end({ timeout: 5 })
})
app.log.info({ publicUrl: config.publicUrl }, 'provider sandbox listening')
