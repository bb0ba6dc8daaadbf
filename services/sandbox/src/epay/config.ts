/** Epay sandbox configuration (SANDBOX_EPAY_*): both variables or neither. */
import type { EnvReader } from '../provider.ts'

export interface EpaySandboxConfig {
  /** The merchant id (商户ID) the sandbox knows. */
  pid: string
  /** The merchant's MD5 key (商户密钥): verifies requests, signs notifies and returns. */
  key: string
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
  return { pid, key }
}
