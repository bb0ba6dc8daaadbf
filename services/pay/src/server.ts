/** Pay service entry: configuration, migrations, HTTP server and the outbox worker. */
import { fileURLToPath } from 'node:url'
import { loadConfigOrExit } from '@paysys/config'
import { connect, runMigrations } from '@paysys/db'
import { listenAndHandleSignals } from '@paysys/server-kit'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'
import { createOutboxWorker, type OutboxWorker } from './outbox.ts'
import { startReconcileJobs, type ReconcileJobs } from './reconciliation/jobs.ts'
import type { ProviderName } from './providers/types.ts'

// alipay-sdk stamps requests with the process's local time; Alipay expects China time (UTC+8).
process.env.TZ = 'Asia/Shanghai'

const config = loadConfigOrExit(() => loadConfig())
const MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url))

await runMigrations(config.databaseUrl, MIGRATIONS)
const sql = connect(config.databaseUrl)

let worker: OutboxWorker | undefined
let jobs: ReconcileJobs | undefined
const app = buildApp(config, sql, {
  onEventQueued: () => worker?.wake(),
  reconcileQueue: () => (jobs ? (provider, day) => jobs!.enqueue(provider as ProviderName, day) : undefined),
})
worker = createOutboxWorker({
  sql,
  mainUrl: config.mainUrl,
  key: config.serviceKeys[0]!,
  pollMs: config.outboxPollMs,
  log: app.log,
})
if (config.outboxPushEnabled) worker.start()
else app.log.warn('OUTBOX_PUSH_ENABLED=false: payments are not pushed to main (main reconciles by pulling)')
const enabled = (['ALIPAY', 'WECHAT_PAY', 'EPAY'] as const).filter((p) =>
  p === 'ALIPAY' ? config.alipay : p === 'WECHAT_PAY' ? config.wechat : config.epay,
) as ProviderName[]
app.log.info({ providers: enabled, gateway: config.alipay?.gateway }, 'pay service starting')

if (config.reconcile.enabled) {
  jobs = await startReconcileJobs(
    { databaseUrl: config.databaseUrl, ...config.reconcile },
    { reconciler: app.reconciler, providers: enabled, log: app.log },
  )
}

await listenAndHandleSignals(app, config.port, config.host, async () => {
  await jobs?.stop()
  await worker?.stop()
  await sql.end({ timeout: 5 })
})
