/**
 * `pnpm test:mutants`: proves the suites catch the bugs they name. Copies the working tree (tracked files as they
 * are now, `git stash create`) to a temporary folder, installs it offline from pnpm's store, then for each mutant:
 * applies one small text replacement, runs the named test file(s) there and expects them to FAIL, then restores the
 * file. Each named suite first runs once unmutated and must pass (a suite failing on its own catches nothing).
 * A search text that is no longer in the code fails the run: the mutant must follow the code it breaks.
 *
 * Prints `mutant | suite | caught yes/no`; exits 1 if any mutant survives (or a baseline fails). Not part of
 * `pnpm test` / CI: it runs several suites twice. POSTGRES_URL as for `pnpm test`; `--keep` keeps the copy;
 * `--only a,b` runs some mutants.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from '@paysys/devkit'

interface Mutant {
  id: string
  what: string
  file: string
  search: string
  replace: string
  /** The smallest test file(s) that catch it. */
  suites: string[]
}

const MUTANTS: Mutant[] = [
  {
    id: 'a',
    what: "main markPaid: the guarded UPDATE's status condition removed",
    file: 'services/main/src/orders/repo.ts',
    search: 'and amount_fen = $4 and status in (${PAYABLE})',
    replace: 'and amount_fen = $4',
    suites: ['services/main/test/payment-method-kept.test.ts'],
  },
  {
    id: 'f',
    what: "main markPaidAtOnce (a buyer's payments set-wise): the guarded UPDATE's status condition removed",
    file: 'services/main/src/orders/repo.ts',
    search: 'and amount_fen = e.e_fen and status in (${PAYABLE})',
    replace: 'and amount_fen = e.e_fen',
    suites: ['services/main/test/routes.test.ts'],
  },
  {
    id: 'b',
    what: 'main markPaid: the event-id check (processed_events) removed',
    file: 'services/main/src/orders/repo.ts',
    search: 'if (!(await recordEvents(t, processed))) throw new DuplicateEvent()',
    replace: 'await recordEvents(t, processed)',
    suites: ['services/main/test/payment-method-kept.test.ts'],
  },
  {
    id: 'c',
    what: 'pay recordPayment: the notify amount vs attempt cross-check removed',
    file: 'services/pay/src/payments.ts',
    search: "if (target.amount !== p.amount) return { outcome: 'AMOUNT_MISMATCH', attempt: target }",
    replace: '',
    suites: ['services/pay/test/record-payment.test.ts'],
  },
  {
    id: 'd',
    what: 'pay recordPayment: the outbox write moved out of the transaction (after the commit)',
    file: 'services/pay/src/payments.ts',
    search: `        await tx\`
          insert into outbox (event_id, event_type, payment_attempt_id, payload)
          values (\${event.eventId}, \${event.type}, \${updated.id}, \${tx.json(event)})\`
        failpoint('pay.afterProviderPaidBeforeCommit')
        return { outcome: 'RECORDED', attempt: updated, event, afterClose, otherPaid: [], duplicateRefundNo: null }
      })
    },`,
    replace: `        failpoint('pay.afterProviderPaidBeforeCommit')
        return { outcome: 'RECORDED', attempt: updated, event, afterClose, otherPaid: [], duplicateRefundNo: null }
      }).then(async (r) => {
        if (r.outcome === 'RECORDED' && r.event)
          await sql\`
            insert into outbox (event_id, event_type, payment_attempt_id, payload)
            values (\${r.event.eventId}, \${r.event.type}, \${r.attempt.id}, \${sql.json(r.event)})\`
        return r
      })
    },`,
    suites: ['services/pay/test/record-payment.test.ts'],
  },
  {
    id: 'e',
    what: 'pay start: a log line that prints the service HMAC secret',
    file: 'services/pay/src/server.ts',
    search: "app.log.info({ providers: enabled, settings: describeProviders(config) }, 'pay service starting')",
    replace:
      "app.log.info({ providers: enabled, settings: describeProviders(config), check: config.serviceKeys.map((k) => k.secret).join() }, 'pay service starting')",
    suites: ['test/e2e/log-secrets.test.ts'],
  },
]

const args = process.argv.slice(2)
const keep = args.includes('--keep')
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1]!.split(',')) : undefined
const chosen = MUTANTS.filter((m) => !only || only.has(m.id))

const git = (...a: string[]) => execFileSync('git', a, { cwd: REPO_ROOT, encoding: 'utf8' }).trim()
const work = mkdtempSync(join(tmpdir(), 'paysys-mutants-'))
const log = (s: string) => process.stdout.write(`${s}\n`)

/** Runs one test file in the copy; answers whether it passed, with its `N passed, N failed` line. */
function runSuite(file: string, label: string): Promise<{ passed: boolean; summary: string }> {
  const out = join(work, `${label.replace(/[^\w.-]+/g, '_')}.log`)
  const sink = createWriteStream(out)
  const child = spawn(join(work, 'node_modules', '.bin', 'tsx'), ['scripts/test.ts', file], {
    cwd: work,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  const onData = (d: Buffer) => {
    text += d.toString()
    sink.write(d)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      sink.end()
      const summary = [...text.matchAll(/^(\d+) passed, (\d+) failed$/gm)].at(-1)?.[0] ?? `no summary (exit ${code})`
      // The failed assertions, named (the log goes with the temporary copy unless --keep).
      const failed = [...text.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]!.slice(0, 160)).slice(0, 6)
      resolve({ passed: code === 0, summary: `${summary}${failed.length ? `: ${failed.join(' · ')}` : ''}` })
    }),
  )
}

let exitCode = 1
try {
  const source = git('stash', 'create') || git('rev-parse', 'HEAD')
  log(`mutants: copying ${source.slice(0, 12)} (the working tree's tracked files) to ${work}`)
  execFileSync('sh', ['-c', `git archive ${source} | tar -x -C '${work}'`], { cwd: REPO_ROOT })
  execFileSync('pnpm', ['install', '--offline', '--frozen-lockfile', '--reporter=silent'], { cwd: work, stdio: 'inherit' })

  // Every search text must be in the code as it is (before any mutant is applied).
  const missing = chosen.filter((m) => !readFileSync(join(work, m.file), 'utf8').includes(m.search))
  if (missing.length) {
    for (const m of missing) log(`mutant ${m.id}: the search text is no longer in ${m.file}; update scripts/mutants.ts`)
    throw new Error(`${missing.length} mutant(s) no longer match the code`)
  }

  const baseline = new Map<string, string>()
  for (const suite of new Set(chosen.flatMap((m) => m.suites))) {
    // Two tries: on a busy machine an unrelated timing test may fail once; a suite that fails twice catches nothing.
    let r = await runSuite(suite, `baseline-${suite}`)
    if (!r.passed) {
      log(`baseline ${suite}: failed once (${r.summary}); again`)
      r = await runSuite(suite, `baseline-again-${suite}`)
    }
    log(`baseline ${suite}: ${r.passed ? 'passes' : 'FAILS'} (${r.summary})`)
    if (!r.passed) baseline.set(suite, r.summary)
  }

  const rows: [string, string, string][] = []
  for (const m of chosen) {
    const path = join(work, m.file)
    const original = readFileSync(path, 'utf8')
    writeFileSync(path, original.replace(m.search, m.replace))
    try {
      for (const suite of m.suites) {
        if (baseline.has(suite)) {
          rows.push([`${m.id}: ${m.what}`, suite, 'no (the suite fails unmutated)'])
          continue
        }
        const r = await runSuite(suite, `mutant-${m.id}-${suite}`)
        log(`mutant ${m.id} × ${suite}: ${r.summary}`)
        rows.push([`${m.id}: ${m.what}`, suite, r.passed ? 'no' : 'yes'])
      }
    } finally {
      writeFileSync(path, original)
    }
  }

  const w0 = Math.max(6, ...rows.map((r) => r[0].length))
  const w1 = Math.max(5, ...rows.map((r) => r[1].length))
  log('')
  log(`${'mutant'.padEnd(w0)} | ${'suite'.padEnd(w1)} | caught`)
  log(`${'-'.repeat(w0)} | ${'-'.repeat(w1)} | ------`)
  for (const r of rows) log(`${r[0].padEnd(w0)} | ${r[1].padEnd(w1)} | ${r[2]}`)
  const survived = rows.filter((r) => r[2] !== 'yes').length
  log(`\nmutants: ${rows.length - survived} caught, ${survived} survived`)
  exitCode = survived === 0 ? 0 : 1
} finally {
  if (keep) log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
process.exit(exitCode)
