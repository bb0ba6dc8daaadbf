/** Epay sandbox configuration (SANDBOX_EPAY_*): both variables or neither. */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import type { EnvReader } from '../provider.ts'

export interface EpaySandboxConfig {
  /** The merchant id (商户ID) the sandbox knows. */
  pid: string
  /** The merchant's MD5 key (商户密钥): verifies requests, signs notifies and returns. */
  key: string
  /**
   * V2 (api/pay/*, RSA): the merchant's public key (verifies its requests) and Epay's platform private key
   * (signs answers, notifies and returns of V2 orders). Null: the sandbox serves V1 only.
   */
  v2: { merchantPublicKey: KeyObject; platformPrivateKey: KeyObject } | null
}

export function readEpaySandbox(r: EnvReader): EpaySandboxConfig | null {
  const pid = r.optional('SANDBOX_EPAY_PID')
  const key = r.secret('SANDBOX_EPAY_KEY')
  if (pid === undefined && key === undefined) return null
  if (pid === undefined || key === undefined) {
    r.problems.push('Epay sandbox: set both SANDBOX_EPAY_PID and SANDBOX_EPAY_KEY[_FILE], or neither')
    return null
  }
  if (!/^\d{1,10}$/.test(pid)) r.problems.push(`SANDBOX_EPAY_PID must be 1-10 digits, got ${JSON.stringify(pid)}`)
  if (!/^[A-Za-z0-9]{16,64}$/.test(key)) r.problems.push('SANDBOX_EPAY_KEY must be 16-64 letters or digits')
  return { pid, key, v2: readV2(r) }
}

function readV2(r: EnvReader): EpaySandboxConfig['v2'] {
  const pub = r.secret('SANDBOX_EPAY_MERCHANT_PUBLIC_KEY')
  const priv = r.secret('SANDBOX_EPAY_PLATFORM_PRIVATE_KEY')
  if (pub === undefined && priv === undefined) return null
  if (pub === undefined || priv === undefined) {
    r.problems.push('Epay sandbox V2: set both SANDBOX_EPAY_MERCHANT_PUBLIC_KEY and SANDBOX_EPAY_PLATFORM_PRIVATE_KEY[_FILE], or neither')
    return null
  }
  try {
    return { merchantPublicKey: createPublicKey(pub), platformPrivateKey: createPrivateKey(priv) }
  } catch {
    r.problems.push('Epay sandbox V2: the keys must be RSA keys in PEM')
    return null
  }
}
