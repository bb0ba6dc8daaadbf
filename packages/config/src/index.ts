/**
 * Start-up configuration from environment variables: read once, validated, frozen.
 * Secrets may be given inline (NAME) or as a file path (NAME_FILE).
 * All problems are collected and reported together; the process then exits with code 1.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/**
 * Whose `X-Forwarded-For` / `-Proto` / `-Host` to believe (fastify's `trustProxy`): `false` (none: the TCP
 * peer is the client), `true` (any peer), a hop count, or addresses and CIDRs (and proxy-addr's names
 * `loopback`, `linklocal`, `uniquelocal`).
 */
export type TrustProxy = boolean | number | string[]

/** The HTTP edge of a service: `TRUST_PROXY` and `HSTS_MAX_AGE` (every service reads them the same way). */
export interface HttpConfig {
  trustProxy: TrustProxy
  /** Seconds for `Strict-Transport-Security`; 0 = no header (set it only when browsers reach the service over HTTPS). */
  hstsMaxAge: number
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** `10.0.0.0/8`, `fd00::/8`, `192.168.1.7`, `loopback`: what proxy-addr compiles. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true
  const [ip, bits, extra] = entry.split('/')
  const version = isIP(ip ?? '')
  if (version === 0 || extra !== undefined) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)
}

export function createEnvReader(env: Env = process.env) {
  const problems: string[] = []
  const raw = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v === '' ? undefined : v
  }
  const reader = {
    problems,
    string(name: string, def?: string): string {
      const v = raw(name) ?? def
      if (v === undefined) {
        problems.push(`${name} is required`)
        return ''
      }
      return v
    },
    optional(name: string): string | undefined {
      return raw(name)
    },
    /** NAME inline or NAME_FILE path. */
    secret(name: string, opts: { required?: boolean } = {}): string | undefined {
      const inline = raw(name)
      const file = raw(`${name}_FILE`)
      if (inline && file) problems.push(`set only one of ${name} and ${name}_FILE`)
      if (file) {
        try {
          return readFileSync(file, 'utf8').trim()
        } catch (err) {
          problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
          return undefined
        }
      }
      if (inline === undefined && opts.required) problems.push(`${name} (or ${name}_FILE) is required`)
      // Allow PEMs passed inline with literal "\n".
      return inline?.includes('\\n') ? inline.replace(/\\n/g, '\n') : inline
    },
    int(name: string, def: number, min: number, max: number): number {
      const v = raw(name)
      if (v === undefined) return def
      if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        problems.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
        return def
      }
      return Number(v)
    },
    number(name: string, def: number, min: number, max: number): number {
      const v = raw(name)
      if (v === undefined) return def
      const n = Number(v)
      if (!Number.isFinite(n) || n < min || n > max) {
        problems.push(`${name} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`)
        return def
      }
      return n
    },
    bool(name: string, def: boolean): boolean {
      const v = raw(name)
      if (v === undefined) return def
      if (/^(1|true|yes|on)$/i.test(v)) return true
      if (/^(0|false|no|off)$/i.test(v)) return false
      problems.push(`${name} must be true or false, got ${JSON.stringify(v)}`)
      return def
    },
    url(name: string, def?: string): string {
      const v = raw(name) ?? def
      if (v === undefined) {
        problems.push(`${name} is required`)
        return ''
      }
      try {
        const u = new URL(v)
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol')
        return v.replace(/\/+$/, '')
      } catch {
        problems.push(`${name} must be an http(s) URL, got ${JSON.stringify(v)}`)
        return ''
      }
    },
    oneOf<T extends string>(name: string, values: readonly T[], def: T): T {
      const v = raw(name) ?? def
      if (!values.includes(v as T)) {
        problems.push(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`)
        return def
      }
      return v as T
    },
    /** `false|no|off|0` (the default), `true|yes|on`, a hop count, or a comma-separated list of addresses/CIDRs. */
    trustProxy(name: string): TrustProxy {
      const v = raw(name)?.trim()
      if (v === undefined || /^(false|no|off|0)$/i.test(v)) return false
      if (/^(true|yes|on)$/i.test(v)) return true
      if (/^\d+$/.test(v)) {
        if (Number(v) <= 32) return Number(v)
        problems.push(`${name}: a hop count must be from 0 to 32, got ${JSON.stringify(v)}`)
        return false
      }
      const entries = v.split(',').map((e) => e.trim())
      const bad = entries.filter((e) => !isProxyAddress(e))
      if (bad.length) {
        problems.push(
          `${name} must be true, false, a hop count or comma-separated IP addresses/CIDRs (or loopback, linklocal, uniquelocal); bad: ${bad.map((b) => JSON.stringify(b)).join(', ')}`,
        )
        return false
      }
      return entries
    },
    /** `TRUST_PROXY` and `HSTS_MAX_AGE` (seconds, at most 2 years; 0 or unset: no header). */
    http(): HttpConfig {
      return { trustProxy: reader.trustProxy('TRUST_PROXY'), hstsMaxAge: reader.int('HSTS_MAX_AGE', 0, 0, 63_072_000) }
    },
    /** Throws ConfigError when anything was wrong; otherwise returns the frozen config. */
    done<T extends object>(config: T): Readonly<T> {
      if (problems.length) throw new ConfigError(problems)
      return deepFreeze(config)
    },
  }
  return reader
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o as object)) deepFreeze(v)
  }
  return o
}

/** For server entry points: print a clear message and exit 1 on a bad configuration. */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}
