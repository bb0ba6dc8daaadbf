import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { createWriteStream, mkdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import type { DevKeys, WechatPublicKeyDevKeys } from './keys.ts'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

export type ServiceName = 'main' | 'pay' | 'sandbox' | 'web'
/** The services that own a database (the web app has none). */
export type DbServiceName = Exclude<ServiceName, 'web'>
export type Env = Record<string, string>

export interface StackPorts {
  main: number
  pay: number
  sandbox: number
  /** The checkout web app (default 3000); the frontend URL pay redirects browsers to follows it. */
  web?: number
}

/** The dev mini program's AppSecret (32 hex characters), derived from the dev keys so that keys.json needs no new field. */
export function miniappSecret(keys: DevKeys): string {
  return createHash('sha256').update(`miniapp:${keys.wechat.apiV3Key}`).digest('hex').slice(0, 32)
}

/**
 * The wiring between the services: which env each one gets so that main → pay → sandbox
 * (and back: sandbox notifies → pay, pay pushes → main, browser returns → pay → frontend) line up.
 */
export function stackEnv(opts: {
  keys: DevKeys
  databases: Record<DbServiceName, string>
  ports: StackPorts
  frontendUrl?: string
  /** Extra env per service (tests use this to tune timings). */
  extra?: Partial<Record<ServiceName, Env>>
}): Record<ServiceName, Env> {
  const { keys, ports } = opts
  const local = (port: number) => `http://127.0.0.1:${port}`
  const browser = (port: number) => `http://localhost:${port}`
  const frontendUrl = opts.frontendUrl ?? browser(ports.web ?? 3000)
  return {
    main: {
      PORT: String(ports.main),
      DATABASE_URL: opts.databases.main,
      JWT_SECRET: keys.jwtSecret,
      PAY_URL: local(ports.pay),
      SERVICE_KEYS: keys.serviceKeys,
      FRONTEND_URL: frontendUrl,
      // Seed 001's mini program logs in through the sandbox's jscode2session; its JSAPI payments go through
      // pay's WeChat merchant, so the mini program is the merchant's appid.
      WECHAT_MINIAPP_APPID: keys.wechat.appId,
      WECHAT_MINIAPP_SECRET: miniappSecret(keys),
      WECHAT_MINIAPP_API_URL: local(ports.sandbox),
      ...opts.extra?.main,
    },
    pay: {
      PORT: String(ports.pay),
      DATABASE_URL: opts.databases.pay,
      PUBLIC_URL: browser(ports.pay),
      FRONTEND_URL: frontendUrl,
      MAIN_URL: local(ports.main),
      SERVICE_KEYS: keys.serviceKeys,
      ALIPAY_APP_ID: keys.alipay.appId,
      ALIPAY_PRIVATE_KEY: keys.alipay.merchantPrivateKey,
      ALIPAY_PUBLIC_KEY: keys.alipay.platformPublicKey,
      ALIPAY_GATEWAY: `${browser(ports.sandbox)}/gateway.do`,
      WECHAT_APPID: keys.wechat.appId,
      WECHAT_MCHID: keys.wechat.mchId,
      WECHAT_PRIVATE_KEY: keys.wechat.merchantPrivateKey,
      WECHAT_CERT: keys.wechat.merchantCert,
      WECHAT_APIV3_KEY: keys.wechat.apiV3Key,
      WECHAT_PLATFORM_CERT: keys.wechat.platformCert,
      WECHAT_BASE_URL: local(ports.sandbox),
      EPAY_PID: keys.epay.pid,
      EPAY_KEY: keys.epay.key,
      // The Epay site root: the browser opens submit.php/cashier pages under it, pay calls mapi.php/api.php.
      EPAY_BASE_URL: `${browser(ports.sandbox)}/`,
      EPAY_VERIFY_BY_QUERY: 'true',
      STRIPE_SECRET_KEY: keys.stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: keys.stripe.webhookSecret,
      // The official SDK is pointed at the sandbox by host/port/protocol; the hosted page is the sandbox's cashier.
      STRIPE_API_BASE: local(ports.sandbox),
      // Used when EPAY_API_VERSION=2 (the default is 1, the MD5 API).
      EPAY_MERCHANT_PRIVATE_KEY: keys.epay.merchantPrivateKey,
      EPAY_PLATFORM_PUBLIC_KEY: keys.epay.platformPublicKey,
      ...opts.extra?.pay,
    },
    sandbox: {
      PORT: String(ports.sandbox),
      DATABASE_URL: opts.databases.sandbox,
      PUBLIC_URL: browser(ports.sandbox),
      SANDBOX_ALIPAY_APP_ID: keys.alipay.appId,
      SANDBOX_ALIPAY_MERCHANT_PUBLIC_KEY: keys.alipay.merchantPublicKey,
      SANDBOX_ALIPAY_PLATFORM_PRIVATE_KEY: keys.alipay.platformPrivateKey,
      SANDBOX_WECHAT_APPID: keys.wechat.appId,
      SANDBOX_WECHAT_MCHID: keys.wechat.mchId,
      SANDBOX_WECHAT_MERCHANT_CERT: keys.wechat.merchantCert,
      SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY: keys.wechat.platformPrivateKey,
      SANDBOX_WECHAT_PLATFORM_CERT: keys.wechat.platformCert,
      SANDBOX_WECHAT_APIV3_KEY: keys.wechat.apiV3Key,
      SANDBOX_WECHAT_MINIAPP_APPID: keys.wechat.appId,
      SANDBOX_WECHAT_MINIAPP_SECRET: miniappSecret(keys),
      SANDBOX_EPAY_PID: keys.epay.pid,
      SANDBOX_EPAY_KEY: keys.epay.key,
      SANDBOX_STRIPE_SECRET_KEY: keys.stripe.secretKey,
      SANDBOX_STRIPE_WEBHOOK_SECRET: keys.stripe.webhookSecret,
      // Stripe's webhook endpoint is a dashboard setting, not part of each session.
      SANDBOX_STRIPE_WEBHOOK_URL: `${local(ports.pay)}/api/pay/notify/stripe`,
      SANDBOX_EPAY_MERCHANT_PUBLIC_KEY: keys.epay.merchantPublicKey,
      SANDBOX_EPAY_PLATFORM_PRIVATE_KEY: keys.epay.platformPrivateKey,
      ...opts.extra?.sandbox,
    },
    web: {
      PORT: String(ports.web ?? 3000),
      MAIN_URL: local(ports.main),
      // Dev/test only: lets QR codes on the order page link to the sandbox's simulated scanner.
      SANDBOX_URL: browser(ports.sandbox),
      ...opts.extra?.web,
    },
  }
}

/**
 * `extra` env that switches pay and the sandbox from the platform certificate to the WeChat Pay
 * public key (微信支付公钥) mode: the sandbox signs with `keys.publicKeyPrivate` under `publicKeyId`,
 * pay verifies with `publicKey` and has no platform certificate (stackEnv's default stays the certificate).
 */
export function wechatPublicKeyEnv(keys: WechatPublicKeyDevKeys): { pay: Env; sandbox: Env } {
  return {
    pay: { WECHAT_PUBLIC_KEY: keys.publicKey, WECHAT_PUBLIC_KEY_ID: keys.publicKeyId, WECHAT_PLATFORM_CERT: '' },
    sandbox: { SANDBOX_WECHAT_PUBLIC_KEY_ID: keys.publicKeyId, SANDBOX_WECHAT_PUBLIC_KEY_PRIVATE: keys.publicKeyPrivate },
  }
}

export interface RunningService {
  name: ServiceName
  url: string
  port: number
  child: ChildProcess
  /** Everything the process printed so far (stdout + stderr). */
  output(): string
  /** Graceful stop (SIGTERM), waiting for the exit. */
  stop(): Promise<void>
  /** Hard kill (SIGKILL), waiting for the exit. */
  kill(): Promise<void>
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))))
    })
  })
}

/** Spawns `services/<name>/src/server.ts` as its own process and waits for `/healthz`. */
export async function startService(
  name: ServiceName,
  env: Env,
  opts: { timeoutMs?: number; logFile?: string; echo?: boolean } = {},
): Promise<RunningService> {
  const cwd = join(REPO_ROOT, 'services', name)
  // BENCH_CPU_PROF=<dir>: each service writes a V8 CPU profile to <dir>/<name>/ when it exits (bench/profile-summary.ts reads them).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_CPU_PROF, name)}`] : []
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'src/server.ts'], {
    cwd,
    env: { ...process.env, SERVICE_NAME: name, ...env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const log = opts.logFile
    ? (mkdirSync(dirname(opts.logFile), { recursive: true }), createWriteStream(opts.logFile, { flags: 'a' }))
    : undefined
  const onData = (d: Buffer) => {
    const s = d.toString()
    if (out.length < 2_000_000) out += s
    log?.write(s)
    if (opts.echo) process.stdout.write(s.replace(/^/gm, `[${name}] `))
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const port = Number(env.PORT)
  const url = `http://127.0.0.1:${port}`
  const timeoutMs = opts.timeoutMs ?? (Number(process.env.STACK_START_TIMEOUT_MS) || 60_000)
  const deadline = Date.now() + timeoutMs
  let exitCode: number | null = null
  child.once('exit', (code, signal) => {
    exitCode = code ?? -1
    if (signal) out += `[${name} was killed by ${signal}]\n`
  })
  for (;;) {
    if (exitCode !== null) throw new Error(`${name} exited with ${exitCode} before it was healthy:\n${out}`)
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) break
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} did not become healthy within ${timeoutMs} ms:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill(signal)
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
    log?.end()
  }
  return { name, url, port, child, output: () => out, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') }
}
