/**
 * What the services' own config code (services/<name>/src/config.ts) requires and reads, found by running it
 * rather than by a list kept here, and whether an environment built from a manifest starts it.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DevKeys } from '@paysys/devkit'
import { loadConfig as loadMain } from '../../services/main/src/config.ts'
import { loadConfig as loadPay } from '../../services/pay/src/config.ts'
import { loadConfig as loadSandbox } from '../../services/sandbox/src/config.ts'
import { loadConfig as loadWeb } from '../../services/web/src/config.ts'

export type Env = Record<string, string | undefined>

const LOADERS = { main: loadMain, pay: loadPay, web: loadWeb, sandbox: loadSandbox } as const
export type ServiceName = keyof typeof LOADERS
export const SERVICE_NAMES = Object.keys(LOADERS) as ServiceName[]
export const isServiceName = (s: unknown): s is ServiceName => typeof s === 'string' && s in LOADERS

/** Variables that are meant for the runtime or libraries, not for config.ts. */
export const NOT_FOR_CONFIG = new Set(['NODE_ENV'])

/** Placeholder every secret template uses; the services must refuse it (checked per variable). */
export const PLACEHOLDER = 'REPLACE_ME'

/** Secret-backed values the config code accepts without checking them; everything else must refuse a placeholder. */
export const UNCHECKED_SECRETS = new Set(['DATABASE_URL'])

export interface ConfigRun {
  ok: boolean
  problems: string[]
  /** Every variable name the config code looked at. */
  read: Set<string>
  port?: number
}

export function runConfig(service: ServiceName, env: Env): ConfigRun {
  const read = new Set<string>()
  const watched = new Proxy(env, {
    get(target, prop) {
      if (typeof prop === 'string') read.add(prop)
      return Reflect.get(target, prop)
    },
  })
  try {
    const config = LOADERS[service](watched) as { port: number }
    return { ok: true, problems: [], read, port: config.port }
  } catch (err) {
    const problems = (err as { problems?: unknown }).problems
    if ((err as Error).name === 'ConfigError' && Array.isArray(problems)) return { ok: false, problems: problems as string[], read }
    throw err
  }
}

/** Names the service refuses to start without in production ("X is required", "X (or X_FILE) is required …"). */
export function requiredVars(service: ServiceName): string[] {
  const { problems } = runConfig(service, { NODE_ENV: 'production' })
  return problems.flatMap((p) => {
    const m = /^([A-Z][A-Z0-9_]*)(?: \(or [A-Z0-9_]+_FILE\))? is required/.exec(p)
    return m ? [m[1]!] : []
  })
}

/** Valid values for every secret a manifest may hold, keyed by the config variable (without _FILE). */
export function secretMaterial(keys: DevKeys): Record<string, string> {
  return {
    JWT_SECRET: keys.jwtSecret,
    SERVICE_KEYS: keys.serviceKeys,
    METRICS_TOKEN: randomBytes(24).toString('base64url'),
    ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
    ALIPAY_PRIVATE_KEY: keys.alipay.merchantPrivateKey,
    ALIPAY_PUBLIC_KEY: keys.alipay.platformPublicKey,
    WECHAT_PRIVATE_KEY: keys.wechat.merchantPrivateKey,
    WECHAT_CERT: keys.wechat.merchantCert,
    WECHAT_APIV3_KEY: keys.wechat.apiV3Key,
    WECHAT_PLATFORM_CERT: keys.wechat.platformCert,
    EPAY_KEY: keys.epay.key,
    POSTGRES_PASSWORD: `test_${randomBytes(8).toString('hex')}`,
  }
}

/**
 * One variable as a manifest provides it. `secret` marks values that come from a secret store (a Secret,
 * a secret file, infra/.env); `file` marks NAME_FILE variables whose content is given here.
 */
export interface ProvidedVar {
  value: string
  secret?: boolean
  /** For NAME_FILE: the file's content as the manifest provides it (the raw placeholder for templates). */
  fileContent?: string
}

/**
 * Builds the environment config.ts would see: NAME_FILE contents are written to files under `dir`. With
 * `fill`, secret values are replaced by valid material (except `keepRaw`); otherwise the manifest's own
 * (placeholder) values are used.
 */
export function materialise(
  provided: Map<string, ProvidedVar>,
  material: Record<string, string>,
  dir: string,
  opts: { fill: boolean; keepRaw?: string },
): { env: Env; problems: string[] } {
  const env: Env = {}
  const problems: string[] = []
  const pick = (name: string, raw: string, secret: boolean): string => {
    if (!secret || !opts.fill || name === opts.keepRaw || UNCHECKED_SECRETS.has(name)) return raw
    const m = material[name]
    if (m === undefined) problems.push(`no test material for the secret ${name}: add it to secretMaterial()`)
    return m ?? raw
  }
  for (const [name, v] of provided) {
    if (name.endsWith('_FILE') && v.fileContent !== undefined) {
      const base = name.slice(0, -'_FILE'.length)
      const path = `${dir}/${name}`
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, pick(base, v.fileContent, true))
      env[name] = path
    } else {
      env[name] = pick(name, v.value, !!v.secret)
    }
  }
  return { env, problems }
}

/** Secret-backed variable names (NAME for NAME_FILE) whose placeholder must be refused by the config. */
export function checkedSecrets(provided: Map<string, ProvidedVar>): string[] {
  const names: string[] = []
  for (const [name, v] of provided) {
    const base = name.endsWith('_FILE') && v.fileContent !== undefined ? name.slice(0, -'_FILE'.length) : name
    if ((v.secret || v.fileContent !== undefined) && !UNCHECKED_SECRETS.has(base)) names.push(base)
  }
  return names
}

/**
 * The checks every manifest's service environment must pass, whatever the manifest kind:
 * required variables present, nothing set that the config never reads, the filled-in environment starts
 * the service (with `fill`, secrets replaced by valid material first), and (`placeholdersMustFail`) each
 * secret's template value alone is refused. Returns problems and the port the service would listen on.
 */
export function checkServiceEnv(
  where: string,
  service: ServiceName,
  provided: Map<string, ProvidedVar>,
  material: Record<string, string>,
  dir: string,
  opts: { fill: boolean; placeholdersMustFail: boolean },
): { problems: string[]; port?: number } {
  const problems: string[] = []
  const nodeEnv = provided.get('NODE_ENV')?.value
  if (service !== 'sandbox' && nodeEnv !== 'production')
    problems.push(`${where}: NODE_ENV must be production (got ${nodeEnv ?? 'nothing'})`)
  const filled = materialise(provided, material, `${dir}/filled`, { fill: opts.fill })
  problems.push(...filled.problems.map((p) => `${where}: ${p}`))
  const run = runConfig(service, filled.env)
  const read = new Set([...run.read, ...runConfig(service, { NODE_ENV: 'production' }).read])
  // NAME_FILE stands in for NAME only where the config reads it.
  const has = (n: string) => provided.has(n) || (provided.has(`${n}_FILE`) && read.has(`${n}_FILE`))
  for (const name of requiredVars(service)) {
    if (!has(name)) problems.push(`${where}: ${name} is required by services/${service}/src/config.ts but not provided`)
  }
  if (!run.ok) problems.push(`${where}: services/${service} refuses this environment: ${run.problems.join('; ')}`)
  for (const name of provided.keys()) {
    if (!read.has(name) && !NOT_FOR_CONFIG.has(name))
      problems.push(`${where}: ${name} is set but services/${service}/src/config.ts never reads it`)
  }
  if (opts.placeholdersMustFail && run.ok) {
    for (const name of checkedSecrets(provided)) {
      const raw = materialise(provided, material, `${dir}/raw-${name}`, { fill: true, keepRaw: name })
      if (runConfig(service, raw.env).ok)
        problems.push(`${where}: the template value of ${name} is accepted by services/${service}: use ${PLACEHOLDER}`)
    }
  }
  return { problems, ...(run.port !== undefined ? { port: run.port } : {}) }
}
