/**
 * No provider is named in pay's shared code: a provider lives in its folder (src/providers/<name>/)
 * and one line of the registry (src/providers/index.ts). This scans every other source file, comments
 * included, for provider names (English, any case; Chinese), and shows first that the scan catches
 * each spelling it is meant to catch.
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROVIDER_MODULES } from '../src/providers/index.ts'

const SRC = fileURLToPath(new URL('../src', import.meta.url))

/** The folders providers own: one per module (its config key names the folder). */
const PROVIDER_DIRS = PROVIDER_MODULES.map((m) => join(SRC, 'providers', m.configKey) + sep)
const REGISTRY = join(SRC, 'providers', 'index.ts')

/**
 * Provider names as code and comments spell them. `epay` is matched case-sensitively where it could be
 * the tail of another word (`createPayment`), so: `Epay`/`EPAY` anywhere, `epay` not after a letter.
 */
const NAMES: RegExp[] = [/alipay|wechat|weixin|wxpay|qqpay|tenpay/i, /Epay|EPAY|(?<![A-Za-z])epay/, /支付宝|微信|易支付|彩虹/]

function hits(text: string): string[] {
  const found: string[] = []
  text.split('\n').forEach((line, i) => {
    for (const re of NAMES) {
      const m = re.exec(line)
      if (m) found.push(`${i + 1}: ${m[0]} — ${line.trim()}`)
    }
  })
  return found
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return /\.(ts|js|mjs|json|sql)$/.test(e.name) ? [path] : []
  })
}

t.test('the scan catches every spelling it looks for, and not words that merely contain one', async (t) => {
  for (const planted of [
    "if (provider === 'ALIPAY')",
    'const alipay = config.alipay',
    '// Alipay answers late',
    'registry.WECHAT_PAY = x',
    '// WeChat Pay v3',
    'wechat: readWechatConfig(r)',
    "type: 'wxpay'",
    "provider === 'EPAY'",
    'createEpayProvider(config.epay)',
    '// Epay has no bill',
    "path: '/api/pay/notify/epay'",
    '易支付订单只能退款一次',
    '// 支付宝交易号',
    '// 微信订单号',
  ]) {
    t.ok(hits(planted).length, `caught: ${planted}`)
  }
  for (const clean of ['createPayment(input)', 'createPaymentsRepo(sql)', 'typePay', 'repay', 'PAYMENT_METHOD_DISABLED']) {
    t.same(hits(clean), [], `not a provider name: ${clean}`)
  }
})

t.test("pay's shared source names no provider", async (t) => {
  const files = sourceFiles(SRC).filter((f) => f !== REGISTRY && !PROVIDER_DIRS.some((d) => f.startsWith(d)))
  // The shared code is most of pay: a scan of a handful of files would prove little.
  t.ok(files.length >= 25, `${files.length} shared files scanned`)
  t.ok(files.some((f) => f.endsWith(join('src', 'flows.ts'))) && files.some((f) => f.endsWith(join('routes', 'notify.ts'))))
  for (const f of files) t.same(hits(readFileSync(f, 'utf8')), [], relative(SRC, f))
  // The provider folders are scanned by nobody: make sure they exist where the exclusion expects them.
  for (const d of PROVIDER_DIRS) t.ok(sourceFiles(d).length > 0, `${relative(SRC, d)} holds the provider's files`)
})

t.test('capabilities agree with the adapters the modules build', async (t) => {
  const { loadConfig } = await import('../src/config.ts')
  const { createProviders } = await import('../src/providers/index.ts')
  const { generateDevKeys } = await import('@paysys/devkit')
  const { wechatPayEnv } = await import('./fixtures/wechat.ts')
  const keys = generateDevKeys()
  const config = loadConfig({
    DATABASE_URL: 'postgres://x/y',
    SERVICE_KEYS: keys.serviceKeys,
    ALIPAY_APP_ID: keys.alipay.appId,
    ALIPAY_PRIVATE_KEY: keys.alipay.merchantPrivateKey,
    ALIPAY_PUBLIC_KEY: keys.alipay.platformPublicKey,
    ...wechatPayEnv(keys.wechat, 'http://127.0.0.1:9'),
    EPAY_PID: '1001',
    EPAY_KEY: 'a'.repeat(32),
    EPAY_BASE_URL: 'http://127.0.0.1:9',
    STRIPE_SECRET_KEY: `sk_test_${'a'.repeat(24)}`,
    STRIPE_WEBHOOK_SECRET: `whsec_${'b'.repeat(32)}`,
    STRIPE_API_BASE: 'http://127.0.0.1:9',
    // Every channel on (a provider's settings may leave some off: STRIPE_METHODS defaults to card).
    STRIPE_METHODS: 'card,alipay,wechat_pay',
  })
  const adapters = createProviders(config)
  t.same(
    Object.keys(adapters),
    PROVIDER_MODULES.map((m) => m.name),
    'every module configured, in registry order',
  )
  for (const m of PROVIDER_MODULES) {
    const adapter = adapters[m.name]!
    t.equal(adapter.name, m.name)
    t.same(
      [...adapter.channels],
      m.channels.map((c) => c.code),
      `${m.name}: the adapter serves the module's channels`,
    )
    t.equal(typeof adapter.fetchBill === 'function', m.capabilities.bill, `${m.name}: bill capability`)
    t.same(adapter.acknowledge, m.notify.acknowledge, `${m.name}: one acknowledgement`)
    for (const d of m.methods) for (const c of d.channels) t.ok(adapter.channels.includes(c), `${d.method}: ${c} is a channel of ${m.name}`)
  }
})
