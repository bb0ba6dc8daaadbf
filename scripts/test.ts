/**
 * `pnpm test`: runs every test file with tap against a PostgreSQL server.
 * POSTGRES_URL (an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres) selects a server;
 * without it an embedded PostgreSQL is started in a temporary data folder and removed afterwards.
 * Extra arguments are passed to tap (e.g. a single test file). Ends with `N passed, N failed`.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, REPO_ROOT, startEmbeddedPostgres, type PostgresServer } from '@paysys/devkit'

/** Every `*.test.ts` below the given paths (helpers next to tests are not test files). */
function testFiles(paths: string[]): string[] {
  const found: string[] = []
  for (const p of paths) {
    const abs = join(REPO_ROOT, p)
    if (!existsSync(abs)) continue
    if (statSync(abs).isFile()) found.push(p)
    else
      for (const f of readdirSync(abs, { recursive: true }) as string[])
        if (f.endsWith('.test.ts') && !f.split('/').includes('node_modules')) found.push(join(p, f))
  }
  return found.sort()
}
const args = process.argv.slice(2)
const files = testFiles(args.length ? args : ['packages', 'services', 'test'])
if (files.length === 0) {
  process.stdout.write('no test files found\n0 passed, 1 failed\n')
  process.exit(1)
}

let server: PostgresServer | undefined
if (!process.env.POSTGRES_URL) {
  const port = await freePort()
  process.stdout.write(`POSTGRES_URL not set: starting an embedded PostgreSQL on 127.0.0.1:${port}\n`)
  server = await startEmbeddedPostgres({ dir: join(REPO_ROOT, '.data', `pg-test-${process.pid}`), port, persistent: false })
  process.env.POSTGRES_URL = server.adminUrl
}

const tapBin = join(REPO_ROOT, 'node_modules', '.bin', 'tap')
const child = spawn(tapBin, ['--reporter=tap', ...files], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: process.env })
let out = ''
child.stdout.on('data', (d: Buffer) => {
  out += d.toString()
  process.stdout.write(d)
})
const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)))
await server?.stop().catch(() => {})

// tap's closing comment: "# { total: 29, pass: 28, fail: 1 }" (asserts).
const summary = [...out.matchAll(/^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/gm)].at(-1)
const passed = summary ? Number(summary[2]) : 0
let failed = summary ? Number(summary[3] ?? 0) : 0
if (code !== 0 && failed === 0) failed = 1 // a crashed file or a timeout still fails the run
process.stdout.write(`\n${passed} passed, ${failed} failed\n`)
process.exit(code === 0 && failed === 0 ? 0 : 1)
