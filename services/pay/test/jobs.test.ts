/**
 * Pay's job queue set-up: the reconciliation day queue holds one queued run per provider day
 * (pg-boss 10 dedupes a singletonKey only under a policy: `stately`), and several instances setting
 * up their queues at once on one database all start (pg-boss's create_queue can deadlock there).
 */
import t from 'tap'
import { startJobs, stopJobs } from '@paysys/server-kit'
import type { Reconciler } from '../src/reconciliation/engine.ts'
import { startReconcileJobs } from '../src/reconciliation/jobs.ts'
import { createOutbox, startOutboxJobs } from '../src/outbox.ts'
import { setupPay, silentLog, waitFor } from './helpers.ts'

t.test('reconciliation: one queued run per provider day while one runs', async (t) => {
  const pay = await setupPay(t)
  const boss = await startJobs({ databaseUrl: pay.env.DATABASE_URL!, log: pay.app.log, applicationName: 'pay-test-jobs' })
  let release!: () => void
  const blocked = new Promise<void>((r) => (release = r))
  const runs: string[] = []
  const reconciler = {
    run: async (provider: string, day: string) => {
      runs.push(`${provider}:${day}`)
      await blocked
    },
  } as unknown as Reconciler
  t.teardown(async () => {
    release()
    await stopJobs(boss)
  })
  const jobs = await startReconcileJobs(
    boss,
    { cron: '30 10 * * *', retryLimit: 0, retryDelaySeconds: 1 },
    { reconciler, providers: ['ALIPAY'], log: pay.app.log },
  )

  t.type(await jobs.enqueue('ALIPAY', '2024-05-01'), 'string')
  await waitFor(async () => runs.length === 1) // running now
  t.type(await jobs.enqueue('ALIPAY', '2024-05-01'), 'string', 'one more may wait while the day runs')
  t.equal(await jobs.enqueue('ALIPAY', '2024-05-01'), null, 'a third is the same queued run')
  t.type(await jobs.enqueue('ALIPAY', '2024-05-02'), 'string', 'another day is its own run')
  t.type(await jobs.enqueue('WECHAT_PAY', '2024-05-01'), 'string', 'another provider too')
})

t.test('several instances setting up their queues at once all start', async (t) => {
  const pay = await setupPay(t)
  const start = async () => {
    const boss = await startJobs({ databaseUrl: pay.env.DATABASE_URL!, log: pay.app.log, applicationName: 'pay-test-jobs' })
    const outbox = createOutbox({ sql: pay.sql, mainUrl: 'http://127.0.0.1:9', key: pay.serviceKey, log: silentLog })
    const delivery = await startOutboxJobs(boss, outbox, { rescueSeconds: 60, log: pay.app.log })
    t.teardown(async () => {
      await stopJobs(boss)
      await delivery.stop()
      await outbox.close()
    })
    await startReconcileJobs(
      boss,
      { cron: '30 10 * * *', retryLimit: 1, retryDelaySeconds: 1 },
      { reconciler: {} as Reconciler, providers: [], log: pay.app.log },
    )
  }
  const results = await Promise.allSettled([start(), start(), start(), start()])
  t.same(
    results.map((r) => (r.status === 'rejected' ? String((r.reason as Error).message) : 'started')),
    ['started', 'started', 'started', 'started'],
  )
  const queues = await pay.sql`select name, policy from pgboss.queue where name in ('outbox-rescue', 'reconcile-day') order by name`
  t.same(
    queues.map((q) => `${q.name}:${q.policy}`),
    ['outbox-rescue:stately', 'reconcile-day:stately'],
  )
})
