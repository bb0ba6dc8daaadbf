import { fileURLToPath } from 'node:url'
import { loadConfigOrExit } from '@paysys/config'
import { connect, runMigrations } from '@paysys/db'
import { listenAndHandleSignals, startJobs } from '@paysys/server-kit'
import { buildApp } from './app.ts'
import { seedCatalogue } from './catalog.ts'
import { loadConfig } from './config.ts'
import { hashPassword } from './passwords.ts'
import { createUsersRepo } from './users.ts'

const config = loadConfigOrExit(() => loadConfig())
await runMigrations(config.databaseUrl, fileURLToPath(new URL('../drizzle', import.meta.url)))
// DB_POOL_MAX is shared: a quarter (at most 4) for reads of one order, user or product by its key (payment-status polls,
// sign-ins, checkouts), which keep their cached generic plans on a pool of their own; the rest for everything else.
const lookupsMax = Math.max(1, Math.min(4, Math.floor(config.dbPoolMax / 4)))
const sql = connect(config.databaseUrl, { max: Math.max(1, config.dbPoolMax - lookupsMax) })
await seedCatalogue(sql)
if (config.adminEmail && config.adminPassword) {
  await createUsersRepo(sql).ensureAdmin(config.adminEmail, await hashPassword(config.adminPassword))
}
const lookups = connect(config.databaseUrl, {
  max: lookupsMax,
  plans: 'generic',
  applicationName: 'main-lookups',
})
const app = await buildApp(config, sql, { lookups })
// Background tasks on pg-boss (schema pgboss of main's database). On SIGTERM app.close() closes the
// HTTP server, then its onClose hook stops pg-boss (draining the runs in progress); then sql.end.
if (config.jobsEnabled) {
  const boss = await startJobs({ databaseUrl: config.databaseUrl, log: app.log, applicationName: 'main-jobs' })
  await app.deps.sweeper.start(boss, {
    expireMs: config.expirySweepMs,
    refundsMs: config.expirySweepMs,
    reconcileMs: config.reconcileSweepMs,
  })
} else {
  app.log.warn('JOBS_ENABLED=false: this instance runs no background jobs (expiry, refund retries, reconciliation)')
}
// A channel that needs the buyer's IP gets the TCP peer's without TRUST_PROXY: behind the web app's
// proxy that is the proxy's address, which the provider checks against the buyer's (docs/ARCHITECTURE.md).
if (config.http.trustProxy === false) {
  app.deps.pay
    .methods()
    .then((list) => {
      const needing = list.flatMap((m) => m.channels.filter((c) => c.requires.includes('clientIp')).map((c) => `${m.method}/${c.code}`))
      if (needing.length)
        app.log.warn(
          { channels: needing },
          "TRUST_PROXY is not set: these channels need the buyer's IP and would be sent the proxy's address; set TRUST_PROXY to the web proxy's address",
        )
    })
    .catch(() => undefined)
}
await listenAndHandleSignals(app, config.port, config.host, async () => {
  await Promise.all([sql.end({ timeout: 5 }), lookups.end({ timeout: 5 })])
})
