/**
 * A: the README's start command on a machine without PostgreSQL configured: embedded PostgreSQL,
 * migrations, seeded catalogue, dev keys, all services healthy within 60 s, demo login works.
 * (Ports are moved to free ones so it can run beside a dev stack; .ci/run checks the default ports.)
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, REPO_ROOT } from '@paysys/devkit'
import { http } from './fixtures/stack.ts'

t.test('pnpm start brings everything up on the embedded PostgreSQL', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'paysys-start-'))
  const ports = {
    MAIN_PORT: await freePort(),
    PAY_PORT: await freePort(),
    SANDBOX_PORT: await freePort(),
    WEB_PORT: await freePort(),
    EMBEDDED_PG_PORT: await freePort(),
  }
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PAYSYS_DATA_DIR: dataDir }
  delete env.POSTGRES_URL
  for (const [k, v] of Object.entries(ports)) env[k] = String(v)
  const started = Date.now()
  const child = spawn(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['scripts/dev.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
    rmSync(dataDir, { recursive: true, force: true })
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes('Everything is up')) {
        clearInterval(timer)
        resolve()
      } else if (child.exitCode !== null || Date.now() - started > 60_000) {
        clearInterval(timer)
        reject(new Error(`start did not come up within 60 s:\n${out}`))
      }
    }, 200)
  })
  t.ok(Date.now() - started < 60_000, `up in ${Date.now() - started} ms`)
  for (const p of [ports.MAIN_PORT, ports.PAY_PORT, ports.SANDBOX_PORT, ports.WEB_PORT]) {
    t.equal((await http(`http://127.0.0.1:${p}/healthz`)).status, 200, `healthz on ${p}`)
    t.equal((await http(`http://127.0.0.1:${p}/readyz`)).status, 200, `readyz on ${p}`)
  }
  const pkgs = await http(`http://127.0.0.1:${ports.MAIN_PORT}/api/credits/packages`)
  t.equal(pkgs.json.data.length, 4, 'seeded catalogue')
  // The checkout web app: its pages, and main's API through its same-origin proxy.
  const page = await http(`http://127.0.0.1:${ports.WEB_PORT}/order/1`)
  t.equal(page.status, 200, 'web app serves its pages (SPA fallback)')
  t.match(page.text, '积分商城')
  const viaWeb = await http(`http://127.0.0.1:${ports.WEB_PORT}/api/credits/packages`)
  t.same(viaWeb.json.data, pkgs.json.data, 'web app proxies /api to main')
  t.match(out, new RegExp(`checkout web app\\s+http://localhost:${ports.WEB_PORT}`), 'start prints the web URL')
  const login = await http(`http://127.0.0.1:${ports.MAIN_PORT}/api/auth/login`, {
    body: { email: 'demo@example.com', password: 'demo12345' },
  })
  t.equal(login.status, 200, 'demo login printed by start works')
  t.match(out, /demo@example\.com/)
  t.ok(existsSync(join(dataDir, 'keys.json')), 'dev keys generated into the data folder')
  const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8'))
  t.match(keys.alipay.merchantPrivateKey, /BEGIN PRIVATE KEY/)
  t.notOk(out.includes(keys.alipay.merchantPrivateKey.split('\n')[1]), 'keys are not printed')
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stops cleanly on SIGTERM')
})
