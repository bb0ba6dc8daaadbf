import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'

/** Every key and secret a dev/test stack needs. PEM strings; RSA keys are 2048-bit. */
export interface DevKeys {
  /** HMAC key shared by main and pay, as `id:secret`. */
  serviceKeys: string
  jwtSecret: string
  alipay: {
    appId: string
    /** Merchant (app) key pair: pay signs with the private key, the sandbox verifies with the public key. */
    merchantPrivateKey: string
    merchantPublicKey: string
    /** Platform (Alipay) key pair: the sandbox signs, pay verifies with the public key. */
    platformPrivateKey: string
    platformPublicKey: string
  }
}

function rsaPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  return { privateKey, publicKey }
}

export function generateDevKeys(): DevKeys {
  const merchant = rsaPair()
  const platform = rsaPair()
  return {
    serviceKeys: `svc-${randomBytes(3).toString('hex')}:${randomBytes(32).toString('base64url')}`,
    jwtSecret: randomBytes(32).toString('base64url'),
    alipay: {
      appId: '2021000000000001',
      merchantPrivateKey: merchant.privateKey,
      merchantPublicKey: merchant.publicKey,
      platformPrivateKey: platform.privateKey,
      platformPublicKey: platform.publicKey,
    },
  }
}

/** Generates the keys once into `dir/keys.json` (git-ignored) and reuses them afterwards. */
export function ensureDevKeys(dir: string): DevKeys {
  const file = join(dir, 'keys.json')
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as DevKeys
    const keys = fillMissing(stored)
    if (JSON.stringify(keys) !== JSON.stringify(stored)) writeFileSync(file, JSON.stringify(keys, null, 2))
    return keys
  }
  mkdirSync(dir, { recursive: true })
  const keys = generateDevKeys()
  writeFileSync(file, JSON.stringify(keys, null, 2))
  chmodSync(file, 0o600)
  return keys
}

/** Keys files written by older versions may lack newer providers: fill them in. */
function fillMissing(keys: DevKeys): DevKeys {
  const fresh = generateDevKeys()
  return { ...fresh, ...keys, alipay: { ...fresh.alipay, ...keys.alipay } }
}
