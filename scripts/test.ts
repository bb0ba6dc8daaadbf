/**
 * `pnpm test`: runs every test file with tap against a PostgreSQL server.
 * POSTGRES_URL (an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres) selects a server;
 * without it an embedded PostgreSQL is started in a temporary data folder and removed afterwards.
 * Extra arguments are passed to tap (e.g. a single test file). Ends with `N passed, N failed`.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { freePort, REPO_ROOT, startEmbeddedPostgres, type PostgresServer } from '@paysys/devkit'

const args = process.argv.slice(2)
const files = args.length ? args : ['packages', 'services', 'test']

let server: PostgresServer | undefined
if (!process.env.POSTGRES_URL) {
  const port = await freePort()
  process.stdout.write(`POSTGRES_URL not set: starting an embedded PostgreSQL on 127.0.0.1:${port}\n`)
  server = await startEmbeddedPostgres({ dir: join(REPO_ROOT, '.data', `pg-test-${process.pid}`), port, persistent: false })
  process.env.POSTGRES_URL = server.adminUrl
}

const tapBin = join(REPO_ROOT, 'node_modules', '.bin', 'tap')
const child = spawn(tapBin, ['--reporter=terse', ...files], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: process.env })
let out = ''
child.stdout.on('data', (d: Buffer) => {
  out += d.toString()
  process.stdout.write(d)
})
const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)))
await server?.stop().catch(() => {})

// tap's summary: "Asserts:  29 pass  0 fail  29 of 29 complete" (the last one printed is final).
const plain = out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
const matches = [...plain.matchAll(/Asserts:\s+(\d+) pass\s+(\d+) fail/g)]
const last = matches.at(-1)
const passed = last ? Number(last[1]) : 0
let failed = last ? Number(last[2]) : 0
if (code !== 0 && failed === 0) failed = 1 // a crash or a failing file without a failed assertion still fails
process.stdout.write(`\n${passed} passed, ${failed} failed\n`)
process.exit(code === 0 && failed === 0 ? 0 : 1)
