/**
 * Durable background work on pg-boss (jobs live in the service's own database, schema `pgboss`),
 * shared by main and pay. Safe with several instances of a service on the same database: a job is
 * fetched by one worker only, a worker killed mid-job leaves the job to expire and be retried, and
 * nothing runs on an in-process timer of its own.
 *
 * `every()` is a periodic task (sweeps): a `stately` queue holds at most one queued and one running
 * job, each run queues the next one `seconds` later (several instances racing to queue it keep one),
 * and a per-minute cron re-seeds the chain should it ever break (a crash between runs).
 */
import PgBoss from 'pg-boss'
import type { FastifyBaseLogger } from 'fastify'

export { PgBoss }

export interface JobsOptions {
  databaseUrl: string
  log: FastifyBaseLogger
  /** Postgres application_name of the job connections (shows in pg_stat_activity). */
  applicationName: string
  /** Connection pool size of pg-boss (default 3). */
  max?: number
  /**
   * How often pg-boss expires jobs of crashed workers, archives and runs cron (default 15 s;
   * pg-boss's own default of 2 min would leave a crashed instance's work waiting that long).
   */
  maintenanceIntervalSeconds?: number
}

/** Starts pg-boss on the service's database (creates/migrates the `pgboss` schema once). */
export async function startJobs(opts: JobsOptions): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: opts.databaseUrl,
    schema: 'pgboss',
    max: opts.max ?? 3,
    application_name: opts.applicationName,
    maintenanceIntervalSeconds: opts.maintenanceIntervalSeconds ?? 15,
    // Cron schedules are checked this often (seconds); a minute cron is enough for re-seeding.
    cronMonitorIntervalSeconds: 30,
  })
  boss.on('error', (err) => opts.log.error({ err: { message: (err as Error).message } }, 'job queue error'))
  await boss.start()
  return boss
}

/**
 * Graceful stop: stops fetching, waits (up to `timeoutMs`) for the jobs in progress to finish, then
 * closes pg-boss's pool. Jobs still running at the deadline are failed and retried elsewhere.
 */
export async function stopJobs(boss: PgBoss | undefined, timeoutMs = 10_000): Promise<void> {
  if (!boss) return
  await boss.stop({ graceful: true, wait: true, timeout: timeoutMs })
}

type QueueOptions = Parameters<PgBoss['createQueue']>[1] & { name: string }

/**
 * createQueue + updateQueue (an existing queue's options follow the code). pg-boss 10's create_queue
 * (insert the queue row, then create and attach its job partition) can deadlock between instances
 * starting together; the loser retries, and once the queue exists creating it again is a no-op.
 */
export async function ensureQueue(boss: PgBoss, options: QueueOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await boss.createQueue(options.name, options)
      await boss.updateQueue(options.name, options)
      return
    } catch (err) {
      if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err
      await new Promise((r) => setTimeout(r, 50 * attempt + Math.random() * 100))
    }
  }
}

export interface PeriodicTask {
  /** Queue name (also the cron schedule's name). */
  name: string
  /** Seconds between the end of one run and the start of the next (≥ 0.5). */
  seconds: number
  /** The work; an exception is logged and the next run still happens. */
  run: () => Promise<unknown>
  /**
   * A run still active after this long is considered crashed (its process was killed) and retried
   * (default 60 s). Until then the stately queue starts no other run, so keep it short; the tasks
   * are guarded (SKIP LOCKED, conditional updates), so a slow run overlapping its retry is harmless.
   */
  expireInSeconds?: number
}

/**
 * Registers a periodic task. The worker polls at most every `seconds` (min 0.5 s), so the effective
 * period is between `seconds` and about twice it.
 */
export async function every(boss: PgBoss, task: PeriodicTask, log: FastifyBaseLogger): Promise<void> {
  const { name } = task
  const seconds = Math.max(0.5, task.seconds)
  const expireInSeconds = task.expireInSeconds ?? 60
  await ensureQueue(boss, { name, policy: 'stately', retryLimit: 1, retryDelay: 1, expireInSeconds })
  const next = (afterSeconds: number) =>
    boss.send(name, {}, { startAfter: afterSeconds > 0 ? new Date(Date.now() + afterSeconds * 1000) : undefined }).catch((err: Error) => {
      log.warn({ task: name, err: { message: err.message } }, 'could not queue the next run')
      return null
    })
  await boss.work(name, { pollingIntervalSeconds: Math.min(Math.max(0.5, seconds), 2) }, async () => {
    try {
      await task.run()
    } catch (err) {
      log.error({ task: name, err: { message: (err as Error).message } }, 'periodic task failed')
    } finally {
      // Queued while this one is still active: the stately queue keeps a single queued run.
      await next(seconds)
    }
  })
  await boss.schedule(name, '* * * * *', {}, { tz: 'UTC' })
  await next(0)
}
