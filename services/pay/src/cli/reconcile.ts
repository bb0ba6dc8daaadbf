/**
 * Reconciles one provider's day from the command line, with the pay service's configuration (same
 * environment variables), and prints the figures and differences:
 *
 *   pnpm --filter @paysys/pay reconcile -- --provider <PROVIDER> --day 2026-11-21
 *
 * Exit code 0: the run succeeded (differences or not); 1: the bill could not be had or did not
 * verify (the run is stored as FAILED); 2: bad arguments or configuration.
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadConfigOrExit } from '@paysys/config'
import { AppError } from '@paysys/contracts'
import { connect, runMigrations } from '@paysys/db'
import { fenToYuanString } from '@paysys/money'
import { buildApp } from '../app.ts'
import { loadConfig } from '../config.ts'
import { chinaToday } from '../providers/bill-common.ts'
import { PROVIDERS } from '../providers/index.ts'

process.env.TZ = 'Asia/Shanghai'
const USAGE = `usage: reconcile --provider ${PROVIDERS.join('|')} [--day yyyy-MM-dd (default: yesterday, China time)]`

let args: { provider?: string; day?: string; help?: boolean }
try {
  args = parseArgs({
    options: { provider: { type: 'string' }, day: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: false,
  }).values
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`)
  process.exit(2)
}
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}
if (!args.provider) {
  console.error(USAGE)
  process.exit(2)
}
const provider = args.provider.toUpperCase()
const day = args.day ?? chinaToday(Date.now() - 86_400_000)

const config = loadConfigOrExit(() => loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }))
await runMigrations(config.databaseUrl, fileURLToPath(new URL('../../drizzle', import.meta.url)))
const sql = connect(config.databaseUrl)
const app = buildApp(config, sql, {})
let code = 0
try {
  const run = await app.reconciler.run(provider, day, 'CLI')
  const detail = await app.reconciler.getRun(run.id)
  const yuan = (fen: number) => fenToYuanString(fen)
  console.log(`reconciliation #${run.id} ${run.provider} ${run.billDay}: ${run.status} (source ${run.source})`)
  console.log(`  bill rows ${run.billRows}, matched ${run.matched}, differences ${run.differences}, repaired ${run.repaired}`)
  console.log(`  bill: payments ${yuan(run.billPaymentTotal)}, refunds ${yuan(run.billRefundTotal)}, fees ${yuan(run.billFeeTotal)} yuan`)
  console.log(`  ours: payments ${yuan(run.localPaymentTotal)}, refunds ${yuan(run.localRefundTotal)} yuan`)
  for (const [cls, n] of Object.entries(run.byClass)) if (n) console.log(`  ${cls}: ${n}`)
  for (const d of detail.differenceList) {
    console.log(`  #${d.id} ${d.class} ${d.status} ${d.outTradeNo}${d.refundNo ? ` refund ${d.refundNo}` : ''}: ${d.detail}`)
  }
} catch (err) {
  code = err instanceof AppError && err.status < 500 ? 2 : 1
  console.error(`reconciliation of ${provider} ${day} failed: ${(err as Error).message}`)
} finally {
  await app.close()
  await sql.end({ timeout: 5 })
}
process.exit(code)
