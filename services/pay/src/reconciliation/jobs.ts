/**
 * Reconciliation on pay's pg-boss instance (Postgres-backed, safe with several pay instances): a
 * daily cron job (China time) queues yesterday's run for every enabled provider, one job per
 * provider and day (a `stately` queue keyed by provider:day holds one queued run of a day), and a
 * failed run (no bill yet, a download that failed, a bill that did not verify) is retried with
 * backoff. The admin API and the CLI run a day directly (same engine, same lock).
 */
import type { FastifyBaseLogger } from 'fastify'
import { ensureQueue, type PgBoss } from '@paysys/server-kit'
import { AppError } from '@paysys/contracts'
import type { ProviderName } from '../providers/types.ts'
import { chinaToday } from '../providers/bill-common.ts'
import type { Reconciler } from './engine.ts'

const DAILY = 'reconcile-daily'
const DAY = 'reconcile-day'

export interface ReconcileJobsConfig {
  /** Cron in China time; bills of a day are ready the next morning (around 09:00–10:00). */
  cron: string
  retryLimit: number
  retryDelaySeconds: number
}

export interface ReconcileJobs {
  /** Queues one provider day (deduplicated while one is queued: null then). */
  enqueue(provider: ProviderName, day: string): Promise<string | null>
}

interface DayJob {
  provider: ProviderName
  day: string
}

/** Registers the reconciliation queues and workers on pay's shared pg-boss instance (server.ts stops it). */
export async function startReconcileJobs(
  boss: PgBoss,
  config: ReconcileJobsConfig,
  deps: { reconciler: Reconciler; providers: ProviderName[]; log: FastifyBaseLogger },
): Promise<ReconcileJobs> {
  const { reconciler, log } = deps
  // `stately`: pg-boss 10 dedupes a singletonKey only under a policy (a standard queue would queue
  // a day twice); at most one queued, one retrying and one running job per provider:day.
  const day = {
    name: DAY,
    policy: 'stately' as const,
    retryLimit: config.retryLimit,
    retryDelay: config.retryDelaySeconds,
    retryBackoff: true,
  }
  await ensureQueue(boss, day)
  await ensureQueue(boss, { name: DAILY })
  await boss.schedule(DAILY, config.cron, {}, { tz: 'Asia/Shanghai' })

  const enqueue = (provider: ProviderName, day: string) => boss.send(DAY, { provider, day }, { singletonKey: `${provider}:${day}` })

  await boss.work(DAILY, async () => {
    const yesterday = chinaToday(Date.now() - 86_400_000)
    for (const provider of deps.providers) await enqueue(provider, yesterday)
    log.info({ day: yesterday, providers: deps.providers }, 'daily reconciliation queued')
  })

  await boss.work<DayJob>(DAY, async ([job]) => {
    const { provider, day } = job!.data
    try {
      await reconciler.run(provider, day, 'SCHEDULED')
    } catch (err) {
      // A request that can never succeed (provider disabled, bad day) is not retried.
      if (err instanceof AppError && err.status < 500 && err.status !== 409) {
        log.error({ provider, day, err: { message: err.message } }, 'reconciliation job dropped')
        return
      }
      throw err // FAILED run stored; pg-boss retries with backoff
    }
  })

  return { enqueue }
}
