/** Pay service entry: configuration, migrations, HTTP server and the outbox worker. */
import { fileURLToPath } from 'node:url'
import { loadConfigOrExit } from '@paysys/config'
import { connect, runMigrations } from '@paysys/db'
import { listenAndHandleSignals } from '@paysys/server-kit'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'
import { createOutboxWorker, type OutboxWorker } from './outbox.ts'

// alipay-sdk stamps requests with the process's local time; Alipay expects China time (UTC+8).
process.env.TZ = 'Asia/Shanghai'

const config = loadConfigOrExit(() => loadConfig())
const MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url))

await runMigrations(config.databaseUrl, MIGRATIONS)
const sql = connect(config.databaseUrl)

let worker: OutboxWorker | undefined
const app = buildApp(config, sql, { onEventQueued: () => worker?.wake() })
worker = createOutboxWorker({
  sql,
  mainUrl: config.mainUrl,
  key: config.serviceKeys[0]!,
  pollMs: config.outboxPollMs,
  log: app.log,
})
if (config.outboxPushEnabled) worker.start()
else app.log.warn('OUTBOX_PUSH_ENABLED=false: payments are not pushed to main (main reconciles by pulling)')
app.log.info({ providers: config.alipay ? ['ALIPAY'] : [], gateway: config.alipay?.gateway }, 'pay service starting')

await listenAndHandleSignals(app, config.port, config.host, async () => {
  await worker?.stop()
  await sql.end({ timeout: 5 })
})
