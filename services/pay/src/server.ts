/**
 * Pay service entry: configuration, migrations, HTTP server, and the background work on one pg-boss
 * instance (outbox delivery to main, the stale-attempt re-query, bill reconciliation).
 */
import { fileURLToPath } from 'node:url'
import { loadConfigOrExit } from '@paysys/config'
import { connect, runMigrations } from '@paysys/db'
import { every, listenAndHandleSignals, startJobs, stopJobs } from '@paysys/server-kit'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'
import { createOutbox, startOutboxJobs, type OutboxJobs } from './outbox.ts'
import { startReconcileJobs, type ReconcileJobs } from './reconciliation/jobs.ts'
import { createStaleAttemptSweep, STALE_ATTEMPT_TASK } from './requery.ts'
import { describeProviders, enabledProviders } from './providers/index.ts'

// Provider SDKs stamp requests with the process's local time; the providers expect China time (UTC+8).
process.env.TZ = 'Asia/Shanghai'

const config = loadConfigOrExit(() => loadConfig())
const MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url))

await runMigrations(config.databaseUrl, MIGRATIONS)
const sql = connect(config.databaseUrl, { max: config.dbPoolMax })

let delivery: OutboxJobs | undefined
let reconcile: ReconcileJobs | undefined
const app = buildApp(config, sql, {
  // After the commit: wake the local delivery loop (should this process die first, the rescue task delivers it).
  onEventQueued: () => delivery?.wake(),
  reconcileQueue: () => (reconcile ? (provider, day) => reconcile!.enqueue(provider, day) : undefined),
})
const enabled = enabledProviders(config)
app.log.info({ providers: enabled, settings: describeProviders(config) }, 'pay service starting')

const boss = await startJobs({ databaseUrl: config.databaseUrl, log: app.log, applicationName: 'pay-jobs' })
const outbox = createOutbox({ sql, mainUrl: config.mainUrl, key: config.serviceKeys[0]!, log: app.log })
if (config.outboxPushEnabled) {
  delivery = await startOutboxJobs(boss, outbox, { rescueSeconds: config.outboxPollMs / 1000, log: app.log })
} else {
  app.log.warn('OUTBOX_PUSH_ENABLED=false: payments are not pushed to main (main reconciles by pulling)')
}
if (config.staleAttemptSweepSeconds > 0) {
  const sweep = createStaleAttemptSweep({
    sql,
    flows: app.payments,
    refunds: app.refunds,
    log: app.log,
    olderThanSeconds: config.staleAttemptRequerySeconds,
  })
  await every(boss, { name: STALE_ATTEMPT_TASK, seconds: config.staleAttemptSweepSeconds, run: sweep.runOnce }, app.log)
}
if (config.reconcile.enabled) {
  reconcile = await startReconcileJobs(boss, config.reconcile, { reconciler: app.reconciler, providers: enabled, log: app.log })
}

// Shutdown: HTTP first (no new work), then the jobs in progress drain, then the pools close.
await listenAndHandleSignals(app, config.port, config.host, async () => {
  await stopJobs(boss)
  await delivery?.stop()
  await outbox.close()
  await sql.end({ timeout: 5 })
})
