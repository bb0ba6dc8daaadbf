/**
 * Offline checks of infra/docker-compose.yml: the Compose Specification's JSON schema (vendored in
 * infra/schema), variable interpolation as Compose does it, and the project's rules, including each
 * service's environment run through its own config code.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { REPO_ROOT } from '@paysys/devkit'
import { parseYamlDocs, type Doc } from './yaml-docs.ts'
import { checkServiceEnv, isServiceName, runConfig, PLACEHOLDER, type Env, type ProvidedVar, type ServiceName } from './service-env.ts'
import { dockerfileStages } from './dockerfile.ts'

export const INFRA_DIR = join(REPO_ROOT, 'infra')
export const COMPOSE_FILE = join(INFRA_DIR, 'docker-compose.yml')

export interface ComposeService {
  image?: string
  build?: { context?: string; dockerfile?: string; target?: string; args?: Record<string, string> }
  profiles?: string[]
  environment?: Record<string, string>
  secrets?: (string | { source: string; target?: string })[]
  volumes?: (string | { type: string; source?: string; target: string })[]
  depends_on?: Record<string, { condition: string }> | string[]
  healthcheck?: { test?: string[] | string; disable?: boolean }
  ports?: (string | { host_ip?: string; published?: string | number; target: number })[]
}

export interface Compose {
  services: Record<string, ComposeService>
  secrets?: Record<string, { file?: string; environment?: string }>
}

export function loadCompose(text = readFileSync(COMPOSE_FILE, 'utf8')): { compose: Compose; problems: string[] } {
  const { docs, problems } = parseYamlDocs(text, 'docker-compose.yml')
  if (docs.length !== 1) problems.push(`docker-compose.yml: expected one document, got ${docs.length}`)
  return { compose: (docs[0] ?? { services: {} }) as unknown as Compose, problems }
}

let validateSchema: ReturnType<Ajv2020['compile']> | undefined
/** The Compose Specification schema (draft 2020-12), as `docker compose config` applies it. */
export function schemaProblems(compose: Compose | Doc, label: string): string[] {
  if (!validateSchema) {
    const schema = JSON.parse(readFileSync(join(INFRA_DIR, 'schema/compose-spec.json'), 'utf8')) as object
    validateSchema = new Ajv2020({ allErrors: true, strict: false }).compile(schema)
  }
  if (validateSchema(compose)) return []
  return (validateSchema.errors ?? []).map(
    (e) => `docker-compose.yml (${label}): ${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
  )
}

// ---- interpolation -------------------------------------------------------------------------------

/** KEY=VALUE lines (comments and blank lines skipped), as Compose reads an env file. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (m && !line.trimStart().startsWith('#')) env[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2')
  }
  return env
}

/** `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`. */
export function interpolate(text: string, env: Env, problems: string[]): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (all, braced, op, arg, bare) => {
      if (all === '$$') return '$'
      const name = (braced ?? bare) as string
      const v = env[name]
      const unset = v === undefined
      const empty = unset || v === ''
      switch (op) {
        case ':-':
          return empty ? arg : v!
        case '-':
          return unset ? arg : v!
        case ':?':
        case '?':
          if (op === ':?' ? empty : unset) problems.push(`\${${name}} is required: ${arg}`)
          return v ?? ''
        default:
          return v ?? ''
      }
    },
  )
}

function interpolateAll<T>(value: T, env: Env, problems: string[]): T {
  if (typeof value === 'string') return interpolate(value, env, problems) as T
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, env, problems)) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env, problems)])) as T
  }
  return value
}

export function interpolateCompose(compose: Compose, env: Env): { compose: Compose; problems: string[] } {
  const problems: string[] = []
  return { compose: interpolateAll(compose, env, problems), problems: [...new Set(problems)] }
}

// ---- project rules -------------------------------------------------------------------------------

/** The workspace service an entry builds (its SERVICE build arg), if any. */
export const builtService = (s: ComposeService) => s.build?.args?.SERVICE

const SECRET_NAME_RE = /SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|(^|_)KEYS?($|_)/

/** Structure and conventions, on the file as written (before interpolation). */
export function ruleProblems(compose: Compose): string[] {
  const problems: string[] = []
  const services = compose.services ?? {}
  const pg = services.postgres
  if (!pg || !/^postgres:15(\.|-|$)/.test(pg.image ?? '')) problems.push('compose: a postgres service on image postgres:15 is required')
  for (const name of ['main', 'pay', 'web']) {
    const s = services[name]
    if (!s || builtService(s) !== name) problems.push(`compose: service ${name} must build SERVICE=${name}`)
    else if (s.profiles?.length) problems.push(`compose: ${name} must run without a profile`)
  }
  for (const [name, s] of Object.entries(services)) {
    const at = `compose: service ${name}`
    const svc = builtService(s)
    if (s.build) {
      const context = resolve(INFRA_DIR, s.build.context ?? '.')
      const dockerfile = join(context, s.build.dockerfile ?? 'Dockerfile')
      if (!existsSync(dockerfile)) problems.push(`${at}: ${dockerfile} does not exist`)
      else {
        const stages = dockerfileStages(readFileSync(dockerfile, 'utf8'))
        if (!s.build.target || !stages.includes(s.build.target))
          problems.push(`${at}: build target ${s.build.target} is not a stage of ${s.build.dockerfile} (${stages.join(', ')})`)
      }
      if (!isServiceName(svc) || !existsSync(join(context, 'services', svc, 'src/server.ts')))
        problems.push(`${at}: SERVICE=${svc} is not a service of the workspace`)
    }
    if (svc === 'sandbox' && !(s.profiles ?? []).includes('sandbox'))
      problems.push(`${at}: the sandbox runs only under the sandbox profile`)
    if (!s.healthcheck?.test || s.healthcheck.disable) problems.push(`${at}: needs a healthcheck`)
    if (Array.isArray(s.depends_on)) problems.push(`${at}: depends_on must wait with condition: service_healthy`)
    for (const [dep, spec] of Object.entries(Array.isArray(s.depends_on) ? {} : (s.depends_on ?? {}))) {
      if (!services[dep]) problems.push(`${at}: depends on ${dep}, which does not exist`)
      else if (spec.condition !== 'service_healthy') problems.push(`${at}: depends_on ${dep} must use condition: service_healthy`)
      else if (!services[dep]!.healthcheck?.test) problems.push(`${at}: ${dep} has no healthcheck to wait for`)
      if ((services[dep]?.profiles?.length ?? 0) > 0 && !(s.profiles ?? []).length)
        problems.push(`${at}: depends on ${dep}, which only runs under a profile`)
    }
    if (s.environment && (typeof s.environment !== 'object' || Array.isArray(s.environment)))
      problems.push(`${at}: write environment as a mapping`)
    for (const [k, v] of Object.entries(s.environment ?? {})) {
      const literal = String(v).replace(/\$\{[^}]*\}/g, '')
      if (SECRET_NAME_RE.test(k) && !k.endsWith('_FILE') && /\S/.test(literal))
        problems.push(`${at}: ${k} is written inline; use ${k}_FILE or \${${k}} from infra/.env`)
    }
    for (const ref of s.secrets ?? []) {
      const source = typeof ref === 'string' ? ref : ref.source
      if (!compose.secrets?.[source]) problems.push(`${at}: secret ${source} is not declared`)
    }
    for (const p of s.ports ?? []) {
      const hostIp = typeof p === 'string' ? (/^(\d+\.\d+\.\d+\.\d+):/.exec(p)?.[1] ?? '') : (p.host_ip ?? '')
      if (hostIp !== '127.0.0.1')
        problems.push(`${at}: publish on 127.0.0.1 only (the TLS reverse proxy in front is the public side), got ${JSON.stringify(p)}`)
    }
  }
  return problems
}

/**
 * The variables a service's container gets, with NAME_FILE contents read from where Compose mounts them:
 * `secrets` (a file next to the compose file, or an environment variable) at /run/secrets/<target>, and
 * read-only bind mounts. `infraDir` stands for the folder of docker-compose.yml (a temporary copy in tests);
 * `fileContent` supplies files that the operator provides (absent from the repository).
 */
export function composeServiceVars(
  compose: Compose,
  name: string,
  infraDir: string,
  env: Env,
  fileContent: (varName: string, hostPath: string) => string | undefined,
): { provided: Map<string, ProvidedVar>; problems: string[] } {
  const problems: string[] = []
  const s = compose.services[name]!
  const at = `compose: service ${name}`
  const mounts = new Map<string, { host?: string; inline?: string }>()
  for (const ref of s.secrets ?? []) {
    const source = typeof ref === 'string' ? ref : ref.source
    const target = typeof ref === 'string' ? ref : (ref.target ?? ref.source)
    const def = compose.secrets?.[source]
    const path = target.startsWith('/') ? target : `/run/secrets/${target}`
    if (def?.file) mounts.set(path, { host: resolve(infraDir, def.file) })
    else if (def?.environment) mounts.set(path, { inline: env[def.environment] ?? '' })
  }
  for (const v of s.volumes ?? []) {
    const [source, target, mode] = typeof v === 'string' ? v.split(':') : [v.source, v.target, undefined]
    if (source?.startsWith('.') && target) {
      if (mode !== 'ro') problems.push(`${at}: bind mount ${source} must be read-only`)
      mounts.set(target.replace(/\/$/, ''), { host: resolve(infraDir, source) })
    }
  }
  const provided = new Map<string, ProvidedVar>()
  for (const [k, v] of Object.entries(s.environment ?? {})) {
    if (!k.endsWith('_FILE') || v === '') {
      provided.set(k, { value: String(v) })
      continue
    }
    const direct = mounts.get(v)
    const dir = [...mounts].find(([path, m]) => m.host && v.startsWith(`${path}/`))
    const hostPath = direct?.host ?? (dir ? join(dir[1].host!, v.slice(dir[0].length + 1)) : undefined)
    const content = direct?.inline ?? (hostPath ? fileContent(k.slice(0, -'_FILE'.length), hostPath) : undefined)
    if (content === undefined) problems.push(`${at}: ${k}=${v} is neither a secret nor inside a read-only bind mount`)
    else provided.set(k, { value: v, secret: true, fileContent: content })
  }
  return { provided, problems }
}

/** Writes a file's content where the operator would have put it (for the filled-in production case). */
export function provideFile(material: Record<string, string>) {
  return (varName: string, hostPath: string): string | undefined => {
    if (existsSync(hostPath)) return readFileSync(hostPath, 'utf8')
    const content = material[varName]
    if (content === undefined) return undefined
    mkdirSync(join(hostPath, '..'), { recursive: true })
    writeFileSync(hostPath, content)
    return content
  }
}

/**
 * Runs every service Compose would start (with `profiles` active) through its config code with the
 * variables of `env` (an infra/.env), NAME_FILE contents from `infraDir`.
 */
export function composeEnvProblems(
  compose: Compose,
  env: Env,
  label: string,
  infraDir: string,
  material: Record<string, string>,
  tmp: string,
  profiles: string[] = [],
): string[] {
  const { compose: resolved, problems } = interpolateCompose(compose, env)
  problems.push(...schemaProblems(resolved, label))
  for (const [name, s] of Object.entries(resolved.services)) {
    const svc = builtService(s)
    if (!isServiceName(svc)) continue
    if ((s.profiles ?? []).length && !s.profiles!.some((p) => profiles.includes(p))) continue
    const vars = composeServiceVars(resolved, name, infraDir, env, provideFile(material))
    problems.push(...vars.problems)
    const at = `compose (${label}): service ${name}`
    problems.push(
      ...checkServiceEnv(at, svc, vars.provided, material, join(tmp, label, name), { fill: false, placeholdersMustFail: false }).problems,
    )
  }
  return problems.map((p) => (p.startsWith('compose') ? p : `compose (${label}): ${p}`))
}

/** With env.example as it stands (placeholders), main, pay and web must refuse to start. */
export function placeholderProblems(compose: Compose, env: Env, infraDir: string, material: Record<string, string>, tmp: string): string[] {
  const problems: string[] = []
  if (!Object.values(env).some((v) => v?.includes(PLACEHOLDER))) return ['env.example: has no REPLACE_ME placeholders']
  const { compose: resolved } = interpolateCompose(compose, env)
  for (const name of ['main', 'pay', 'web'] as ServiceName[]) {
    const vars = composeServiceVars(resolved, name, infraDir, env, provideFile(material))
    const plain: Env = {}
    for (const [k, v] of vars.provided) {
      if (v.fileContent === undefined) plain[k] = v.value
      else {
        const path = join(tmp, 'placeholders', name, k)
        mkdirSync(join(path, '..'), { recursive: true })
        writeFileSync(path, v.fileContent)
        plain[k] = path
      }
    }
    if (runConfig(name, plain).ok) problems.push(`compose: ${name} starts with env.example's placeholders`)
  }
  return problems
}
