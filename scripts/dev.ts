/**
 * `pnpm start`: the whole system on one machine, offline.
 * - PostgreSQL: POSTGRES_URL (admin URL of a server) if set, else an embedded PostgreSQL kept in
 *   `.data/pg` on 127.0.0.1:54329 (so it coexists with a system PostgreSQL on 5432).
 * - One database per service (paysys_main, paysys_pay, paysys_sandbox), migrated at start-up.
 * - Dev keys (Alipay merchant + platform RSA2 pairs, service HMAC key, JWT secret) generated once into `.data/keys.json`.
 * - web 3000, main 8080, pay 8081, sandbox 8090 (override with WEB_PORT, MAIN_PORT, PAY_PORT, SANDBOX_PORT); logs in `.data/logs/`.
 * PAYSYS_DATA_DIR moves the data folder (used by the tests).
 */
import { join, resolve } from 'node:path'
import { request } from 'undici'
import {
  REPO_ROOT,
  ensureDatabase,
  ensureDevKeys,
  stackEnv,
  startEmbeddedPostgres,
  startService,
  type DbServiceName,
  type PostgresServer,
  type RunningService,
  type ServiceName,
} from '@paysys/devkit'

const dataDir = resolve(process.env.PAYSYS_DATA_DIR ?? join(REPO_ROOT, '.data'))
const port = (name: string, def: number) => Number(process.env[name] ?? def)
const webPort = port('WEB_PORT', 3000)
const ports = { main: port('MAIN_PORT', 8080), pay: port('PAY_PORT', 8081), sandbox: port('SANDBOX_PORT', 8090), web: webPort }
const started = Date.now()

let pg: PostgresServer | undefined
const running: RunningService[] = []
let stopping = false
async function shutdown(code: number) {
  if (stopping) return
  stopping = true
  await Promise.allSettled(running.map((s) => s.stop()))
  await pg?.stop().catch(() => {})
  process.exit(code)
}
process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

try {
  let adminUrl = process.env.POSTGRES_URL
  if (!adminUrl) {
    const pgPort = port('EMBEDDED_PG_PORT', 54329)
    console.log(`PostgreSQL: POSTGRES_URL not set, starting the embedded server (${join(dataDir, 'pg')}, 127.0.0.1:${pgPort})`)
    pg = await startEmbeddedPostgres({ dir: join(dataDir, 'pg'), port: pgPort, persistent: true })
    adminUrl = pg.adminUrl
  }
  const dbNames: DbServiceName[] = ['sandbox', 'pay', 'main']
  const names: ServiceName[] = [...dbNames, 'web']
  const databases = Object.fromEntries(
    await Promise.all(dbNames.map(async (n) => [n, await ensureDatabase(adminUrl!, `paysys_${n}`)] as const)),
  ) as Record<DbServiceName, string>
  const keys = ensureDevKeys(dataDir)
  const env = stackEnv({
    keys,
    databases,
    ports,
    frontendUrl: process.env.FRONTEND_URL ?? `http://localhost:${webPort}`,
    extra: {
      main: {
        ADMIN_EMAIL: process.env.ADMIN_EMAIL ?? 'admin@example.com',
        ADMIN_PASSWORD: process.env.ADMIN_PASSWORD ?? 'admin12345',
        // The web app proxies /api from this machine: believe its X-Forwarded-For (the buyer's IP for H5 payments).
        TRUST_PROXY: process.env.TRUST_PROXY ?? 'loopback',
      },
    },
  })
  const services = await Promise.all(
    names.map((n) => startService(n, env[n], { logFile: join(dataDir, 'logs', `${n}.log`), timeoutMs: 90_000 })),
  )
  running.push(...services)
  for (const s of services) {
    s.child.once('exit', (code) => {
      if (!stopping) {
        console.error(`${s.name} exited (${code}); see ${join(dataDir, 'logs', `${s.name}.log`)}. Stopping everything.`)
        void shutdown(1)
      }
    })
  }

  const demo = { email: 'demo@example.com', password: 'demo12345' }
  const reg = await request(`http://127.0.0.1:${ports.main}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...demo, name: '演示用户' }),
  })
  await reg.body.dump()

  const secs = ((Date.now() - started) / 1000).toFixed(1)
  console.log(`
Everything is up in ${secs}s.

  checkout web app http://localhost:${webPort}    ← open this in a browser: log in, buy CREDITS_500, pay in the sandbox
  main service     http://localhost:${ports.main}    (GET /api/credits/packages)
  pay gateway      http://localhost:${ports.pay}
  provider sandbox http://localhost:${ports.sandbox}    (Alipay gateway.do, cashier pages, /control API)

  demo user   ${demo.email} / ${demo.password}
  admin       ${process.env.ADMIN_EMAIL ?? 'admin@example.com'} / ${process.env.ADMIN_PASSWORD ?? 'admin12345'}
  logs        ${join(dataDir, 'logs')}

Buy CREDITS_500 in the browser: open http://localhost:${webPort}, log in as the demo user, 标准套餐 → 立即购买 →
支付宝 → 确认支付; in the sandbox cashier click 支付; you land on the order page: 支付成功, balance +500.

Or with curl (Alipay QR, paid in the sandbox):
  TOKEN=$(curl -s localhost:${ports.main}/api/auth/login -H 'content-type: application/json' \\
    -d '{"email":"${demo.email}","password":"${demo.password}"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).data.token')
  curl -s localhost:${ports.main}/api/credits/purchase -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
    -d '{"packageCode":"CREDITS_500","paymentMethod":"ALIPAY","channel":"qr"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).data.paymentInfo.qrCode'
  # open http://localhost:${ports.sandbox}/scan?code=<that QR content, URL-encoded> in a browser and click 支付
  curl -s localhost:${ports.main}/api/credits/balance -H "authorization: Bearer $TOKEN"

Ctrl-C stops everything.`)
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err)
  await shutdown(1)
}
