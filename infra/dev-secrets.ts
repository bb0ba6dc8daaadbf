/**
 * Throw-away keys for the docker-compose sandbox demo, NEVER for production:
 *
 *   pnpm exec tsx infra/dev-secrets.ts [--force]
 *   docker compose -f infra/docker-compose.yml --profile sandbox up --build
 *
 * Writes infra/secrets/jwt_secret, infra/secrets/pay/* (pay's provider keys), infra/secrets/sandbox/*
 * (the sandbox's halves of the same key pairs) and infra/.env, which points pay at the sandbox instead of
 * the real gateways. Without --force it refuses to overwrite anything, since infra/.env and
 * infra/secrets/ are also where production settings live.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateDevKeys, type DevKeys } from '@paysys/devkit'

export const INFRA_DIR = dirname(fileURLToPath(import.meta.url))

/** The sandbox as the browser sees it (published port) and as the containers see it (network alias). */
const SANDBOX = 'http://sandbox.localhost:8090'

/** Relative to the infra folder → contents. */
export function devSecretFiles(keys: DevKeys): Record<string, string> {
  const demoEnv = {
    POSTGRES_PASSWORD: `devonly_${randomBytes(12).toString('hex')}`,
    SERVICE_KEYS: keys.serviceKeys,
    METRICS_TOKEN: randomBytes(24).toString('base64url'),
    FRONTEND_URL: 'http://localhost:3000',
    PAY_PUBLIC_URL: 'http://pay.localhost:8081',
    SANDBOX_URL: SANDBOX,
    LOG_LEVEL: 'info',
    // No proxy in front: browsers reach web and pay directly; main sees web, which appends their address.
    MAIN_TRUST_PROXY: '1',
    WEB_TRUST_PROXY: 'false',
    PAY_TRUST_PROXY: 'false',
    // Plain HTTP on localhost.
    HSTS_MAX_AGE: '0',
    ALIPAY_APP_ID: keys.alipay.appId,
    ALIPAY_PRIVATE_KEY_FILE: '/run/secrets/pay/alipay_private_key.pem',
    ALIPAY_PUBLIC_KEY_FILE: '/run/secrets/pay/alipay_public_key.pem',
    ALIPAY_GATEWAY: `${SANDBOX}/gateway.do`,
    WECHAT_APPID: keys.wechat.appId,
    WECHAT_MCHID: keys.wechat.mchId,
    WECHAT_PRIVATE_KEY_FILE: '/run/secrets/pay/wechat_private_key.pem',
    WECHAT_CERT_FILE: '/run/secrets/pay/wechat_cert.pem',
    WECHAT_APIV3_KEY_FILE: '/run/secrets/pay/wechat_apiv3_key',
    WECHAT_PLATFORM_CERT_FILE: '/run/secrets/pay/wechat_platform_cert.pem',
    WECHAT_BASE_URL: SANDBOX,
    EPAY_PID: keys.epay.pid,
    EPAY_KEY_FILE: '/run/secrets/pay/epay_key',
    EPAY_BASE_URL: `${SANDBOX}/`,
  }
  return {
    '.env': [
      '# Sandbox demo settings written by infra/dev-secrets.ts: development keys, pay pointed at the',
      '# provider sandbox. Never use this file (or infra/secrets/ as written by that script) in production.',
      ...Object.entries(demoEnv).map(([k, v]) => `${k}=${v}`),
      '',
    ].join('\n'),
    'secrets/jwt_secret': keys.jwtSecret,
    'secrets/pay/alipay_private_key.pem': keys.alipay.merchantPrivateKey,
    'secrets/pay/alipay_public_key.pem': keys.alipay.platformPublicKey,
    'secrets/pay/wechat_private_key.pem': keys.wechat.merchantPrivateKey,
    'secrets/pay/wechat_cert.pem': keys.wechat.merchantCert,
    'secrets/pay/wechat_apiv3_key': keys.wechat.apiV3Key,
    'secrets/pay/wechat_platform_cert.pem': keys.wechat.platformCert,
    'secrets/pay/epay_key': keys.epay.key,
    'secrets/sandbox/alipay_merchant_public_key.pem': keys.alipay.merchantPublicKey,
    'secrets/sandbox/alipay_platform_private_key.pem': keys.alipay.platformPrivateKey,
    'secrets/sandbox/wechat_merchant_cert.pem': keys.wechat.merchantCert,
    'secrets/sandbox/wechat_platform_private_key.pem': keys.wechat.platformPrivateKey,
    'secrets/sandbox/wechat_platform_cert.pem': keys.wechat.platformCert,
    'secrets/sandbox/wechat_apiv3_key': keys.wechat.apiV3Key,
    'secrets/sandbox/epay_key': keys.epay.key,
  }
}

/** Writes the files below `infraDir`; returns the paths written. */
export function writeDevSecrets(infraDir: string, keys: DevKeys = generateDevKeys(), force = false): string[] {
  const files = Object.entries(devSecretFiles(keys)).map(([rel, text]) => [join(infraDir, rel), text] as const)
  const existing = files.filter(([path]) => existsSync(path)).map(([path]) => path)
  if (existing.length && !force) {
    throw new Error(`refusing to overwrite (pass --force for a new set of demo keys):\n  ${existing.join('\n  ')}`)
  }
  for (const [path, text] of files) {
    mkdirSync(dirname(path), { recursive: true })
    // Readable by the containers' uid 1000 whatever the host uid is: these are demo keys only.
    writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o644 })
  }
  return files.map(([path]) => path)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const written = writeDevSecrets(INFRA_DIR, generateDevKeys(), process.argv.includes('--force'))
    process.stdout.write(`wrote ${written.length} files (demo keys, never production):\n  ${written.join('\n  ')}\n`)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exit(1)
  }
}
