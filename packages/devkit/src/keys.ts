import { generateKeyPairSync, randomBytes } from 'node:crypto'
import forge from 'node-forge'
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
  wechat: WechatDevKeys
  epay: EpayDevKeys
  stripe: StripeDevKeys
}

/** Stripe: a test secret key (`sk_test_…`) and a webhook endpoint secret (`whsec_…`), both random. */
export interface StripeDevKeys {
  secretKey: string
  webhookSecret: string
}

/**
 * Epay (彩虹易支付): the merchant id and its MD5 key (32 letters and digits, as Epay generates them), and
 * the V2 API's RSA pairs: the merchant's (pay signs, the sandbox verifies) and the platform's (the sandbox
 * signs answers and notifies, pay verifies).
 */
export interface EpayDevKeys {
  pid: string
  key: string
  merchantPrivateKey: string
  merchantPublicKey: string
  platformPrivateKey: string
  platformPublicKey: string
}

/** WeChat Pay API v3: merchant and platform key pairs, each with a self-signed certificate, and the APIv3 key. */
export interface WechatDevKeys {
  /** `wx` + 16 hex characters. */
  appId: string
  /** Merchant number (10 digits). */
  mchId: string
  /** Merchant key pair: pay signs its requests; the sandbox verifies with the certificate's public key. */
  merchantPrivateKey: string
  merchantPublicKey: string
  /** Self-signed merchant certificate (PEM) and its serial number (upper-case hex, as WeChat shows it). */
  merchantCert: string
  merchantCertSerial: string
  /** Platform key pair: the sandbox signs responses and notifies; pay verifies with the platform certificate. */
  platformPrivateKey: string
  platformPublicKey: string
  platformCert: string
  platformCertSerial: string
  /** 32 characters: the AES-256-GCM key of notify resources and /v3/certificates. */
  apiV3Key: string
  /** WeChat Pay public key (微信支付公钥) mode: the sandbox signs with the private half, pay verifies with the SPKI key. */
  publicKeyId: string
  publicKey: string
  publicKeyPrivate: string
}

/** The public-key mode's key pair and its id, as WeChat issues them (`PUB_KEY_ID_01…`). */
export type WechatPublicKeyDevKeys = Pick<WechatDevKeys, 'publicKeyId' | 'publicKey' | 'publicKeyPrivate'>

function rsaPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  return { privateKey, publicKey }
}

/** A certificate serial WeChat-style: 20 bytes, upper-case hex, positive (high bit clear) so every parser reads it alike. */
function certSerial(): string {
  const bytes = randomBytes(20)
  bytes[0] = 0x10 + (bytes[0]! % 0x70)
  return bytes.toString('hex').toUpperCase()
}

/** A self-signed X.509 certificate for `pair` (Node can parse certificates but not make them: node-forge signs it). */
export function selfSignedCert(pair: { privateKey: string; publicKey: string }, serial: string, commonName: string, org: string): string {
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKey)
  cert.serialNumber = serial
  cert.validity.notBefore = new Date(Date.now() - 86_400_000)
  cert.validity.notAfter = new Date(Date.now() + 5 * 365 * 86_400_000)
  const attrs = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: org },
    { name: 'countryName', value: 'CN' },
  ]
  cert.setSubject(attrs)
  cert.setIssuer(attrs)
  cert.sign(forge.pki.privateKeyFromPem(pair.privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create())
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n')
}

export function generateWechatPublicKey(): WechatPublicKeyDevKeys {
  const pair = rsaPair()
  const digits = [...randomBytes(26)].map((b) => b % 10).join('')
  return { publicKeyId: `PUB_KEY_ID_01${digits}`, publicKey: pair.publicKey, publicKeyPrivate: pair.privateKey }
}

export function generateWechatKeys(): WechatDevKeys {
  const merchant = rsaPair()
  const platform = rsaPair()
  const mchId = `19${String(randomBytes(4).readUInt32BE(0) % 100_000_000).padStart(8, '0')}`
  const merchantCertSerial = certSerial()
  const platformCertSerial = certSerial()
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return {
    appId: `wx${randomBytes(8).toString('hex')}`,
    mchId,
    merchantPrivateKey: merchant.privateKey,
    merchantPublicKey: merchant.publicKey,
    merchantCert: selfSignedCert(merchant, merchantCertSerial, mchId, 'WeChat Pay Sandbox Merchant'),
    merchantCertSerial,
    platformPrivateKey: platform.privateKey,
    platformPublicKey: platform.publicKey,
    platformCert: selfSignedCert(platform, platformCertSerial, 'Tenpay.com sandbox', 'WeChat Pay Sandbox Platform'),
    platformCertSerial,
    apiV3Key: [...randomBytes(32)].map((b) => alphabet[b % alphabet.length]).join(''),
    ...generateWechatPublicKey(),
  }
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
    wechat: generateWechatKeys(),
    epay: generateEpayKeys(),
    stripe: generateStripeKeys(),
  }
}

export function generateStripeKeys(): StripeDevKeys {
  return { secretKey: `sk_test_${randomBytes(24).toString('hex')}`, webhookSecret: `whsec_${randomBytes(24).toString('base64')}` }
}

export function generateEpayKeys(): EpayDevKeys {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  const merchant = rsaPair()
  const platform = rsaPair()
  return {
    pid: '1001',
    key: [...randomBytes(32)].map((b) => alphabet[b % alphabet.length]).join(''),
    merchantPrivateKey: merchant.privateKey,
    merchantPublicKey: merchant.publicKey,
    platformPrivateKey: platform.privateKey,
    platformPublicKey: platform.publicKey,
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
const rsaFields = ['merchantPrivateKey', 'merchantPublicKey', 'platformPrivateKey', 'platformPublicKey'] as const
const pick = <T extends object, K extends keyof T>(o: T, ks: readonly K[]) => Object.fromEntries(ks.map((k) => [k, o[k]])) as Pick<T, K>

function fillMissing(keys: DevKeys): DevKeys {
  const fresh = generateDevKeys()
  // A WeChat block is kept only whole (certificates must match their keys); the public-key pair is a unit of its own.
  const publicKeyFields = ['publicKeyId', 'publicKey', 'publicKeyPrivate'] as const
  const has = (k: keyof WechatDevKeys) => !!keys.wechat?.[k]
  const certFields = (Object.keys(fresh.wechat) as (keyof WechatDevKeys)[]).filter((k) => !publicKeyFields.includes(k as never))
  const publicKey = Object.fromEntries(publicKeyFields.map((k) => [k, fresh.wechat[k]])) as WechatPublicKeyDevKeys
  return {
    ...fresh,
    ...keys,
    alipay: { ...fresh.alipay, ...keys.alipay },
    wechat: !certFields.every(has) ? fresh.wechat : publicKeyFields.every(has) ? keys.wechat : { ...keys.wechat, ...publicKey },
    // The V2 pairs are kept only whole (a private key must match its public key).
    epay: rsaFields.every((k) => !!keys.epay?.[k])
      ? { ...fresh.epay, ...keys.epay }
      : { ...fresh.epay, ...keys.epay, ...pick(fresh.epay, rsaFields) },
    stripe: { ...fresh.stripe, ...keys.stripe },
  }
}
