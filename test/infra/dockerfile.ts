/**
 * Offline checks of infra/Dockerfile and .dockerignore (there is no Docker engine here or in CI): stages,
 * versions pinned to what the repository uses, files it copies, the runtime's user, healthcheck and command.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { REPO_ROOT } from '@paysys/devkit'
import { runConfig, SERVICE_NAMES, type Env, type ServiceName } from './service-env.ts'

export const DOCKERFILE = join(REPO_ROOT, 'infra/Dockerfile')

/** Instructions with continuation lines joined and comments dropped. */
export function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/)
      return { op: op!.toUpperCase(), args: rest.join(' ') }
    })
}

export function dockerfileStages(text: string): string[] {
  return instructions(text).flatMap((i) => {
    const m = i.op === 'FROM' ? /\sAS\s+(\S+)/i.exec(` ${i.args}`) : null
    return m ? [m[1]!] : []
  })
}

let tsxVersion: string | undefined
/** The tsx version pnpm-lock.yaml resolves (the one the services run with in development). */
export function lockedTsxVersion(): string | undefined {
  if (tsxVersion) return tsxVersion
  const lock = parseYaml(readFileSync(join(REPO_ROOT, 'pnpm-lock.yaml'), 'utf8')) as { packages?: Record<string, unknown> }
  tsxVersion = Object.keys(lock.packages ?? {})
    .map((k) => /^tsx@(\d+\.\d+\.\d+)/.exec(k)?.[1])
    .find(Boolean)
  return tsxVersion
}

/** .dockerignore patterns (without comments), simplified to what this repo uses. */
function ignored(patterns: string[], path: string): boolean {
  return patterns.some((p) => {
    const escaped = p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    const glob = escaped
      .replace(/\*\*\//g, '\0')
      .replace(/\*/g, '[^/]*')
      .replace(/\0/g, '(.*/)?')
    const re = new RegExp(`^${glob}(/|$)`)
    return re.test(path)
  })
}

/** The default port of each service (its config with the least it needs), keyed by service. */
export function defaultPorts(): Record<ServiceName, number | undefined> {
  const minimal: Env = { DATABASE_URL: 'postgres://x/y', SERVICE_KEYS: 'k1:0123456789abcdef0123' }
  return Object.fromEntries(SERVICE_NAMES.map((s) => [s, runConfig(s, minimal).port])) as Record<ServiceName, number | undefined>
}

export function dockerfileProblems(text: string, dockerignore: string): string[] {
  const problems: string[] = []
  const ins = instructions(text)
  const stages = dockerfileStages(text)
  const finalStage = stages.at(-1)
  if (finalStage !== 'runtime')
    problems.push(`Dockerfile: the last stage must be runtime (compose and docs build --target runtime), got ${finalStage}`)
  const rootPkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    devEngines?: { packageManager?: { version?: string } }
  }
  const pnpmMajor = /^(\d+)/.exec(rootPkg.devEngines?.packageManager?.version ?? '')?.[1]
  if (!ins.some((i) => i.op === 'RUN' && new RegExp(`npm install -g pnpm@${pnpmMajor}\\b`).test(i.args)))
    problems.push(`Dockerfile: must install pnpm@${pnpmMajor} (package.json devEngines)`)
  const tsxArg = ins.find((i) => i.op === 'ARG' && i.args.startsWith('TSX_VERSION='))?.args.split('=')[1]
  if (tsxArg !== lockedTsxVersion()) problems.push(`Dockerfile: TSX_VERSION=${tsxArg} but pnpm-lock.yaml has tsx ${lockedTsxVersion()}`)
  const install = ins.find((i) => i.op === 'RUN' && /pnpm install/.test(i.args))?.args ?? ''
  for (const flag of ['--frozen-lockfile', '--prod', '--filter "@paysys/${SERVICE}..."']) {
    if (!install.includes(flag)) problems.push(`Dockerfile: pnpm install needs ${flag}`)
  }

  // From the last FROM on: the runtime image.
  const runtime = ins.slice(ins.map((i) => i.op).lastIndexOf('FROM'))
  const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args ?? ''
  if (!/^[1-9]\d*(:\d+)?$/.test(user)) problems.push(`Dockerfile: the runtime USER must be a numeric non-root uid (got "${user}")`)
  const health = runtime.find((i) => i.op === 'HEALTHCHECK')?.args ?? ''
  const healthScript = /"\/app\/(infra\/[\w.-]+)"/.exec(health)?.[1]
  if (!healthScript || !existsSync(join(REPO_ROOT, healthScript)))
    problems.push('Dockerfile: HEALTHCHECK must run a script of infra/ copied to /app/infra')
  const cmd = runtime.find((i) => i.op === 'CMD')?.args ?? ''
  const loader = /"--import",\s*"([^"]+)"/.exec(cmd)?.[1] ?? ''
  const prefix = /--prefix (\S+)/.exec(ins.find((i) => i.op === 'RUN' && /tsx@/.test(i.args))?.args ?? '')?.[1]
  if (!prefix || loader !== `${prefix}/node_modules/tsx/dist/loader.mjs`)
    problems.push(`Dockerfile: CMD must --import the tsx installed under ${prefix} (got ${loader})`)
  if (!/"src\/server\.ts"\]$/.test(cmd)) problems.push('Dockerfile: CMD must run src/server.ts')
  if (!runtime.some((i) => i.op === 'ENV' && /NODE_ENV=production/.test(i.args)))
    problems.push('Dockerfile: the runtime must set NODE_ENV=production')

  // tsx compiles with each service's tsconfig.json: what it extends must be in the image too.
  const copied = runtime.filter((i) => i.op === 'COPY' && !i.args.includes('--from=')).flatMap((i) => i.args.split(/\s+/).slice(0, -1))
  for (const service of SERVICE_NAMES) {
    const dir = join(REPO_ROOT, 'services', service)
    const ext = (JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as { extends?: string }).extends
    const path = ext && relative(REPO_ROOT, resolve(dir, ext))
    if (path && !copied.some((c) => path === c || path.startsWith(`${c.replace('${SERVICE}', service)}/`))) {
      problems.push(`Dockerfile: the runtime lacks ${path}, which services/${service}/tsconfig.json extends`)
    }
  }

  // Every file a COPY takes from the build context exists (for each service) and is not ignored.
  const ignore = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  for (const i of ins.filter((x) => x.op === 'COPY' && !x.args.includes('--from='))) {
    const parts = i.args.split(/\s+/).filter((a) => !a.startsWith('--'))
    for (const src of parts.slice(0, -1)) {
      for (const service of SERVICE_NAMES) {
        const path = src.replace('${SERVICE}', service)
        if (!existsSync(join(REPO_ROOT, path))) problems.push(`Dockerfile: COPY ${path} does not exist`)
        else if (ignored(ignore, path)) problems.push(`Dockerfile: COPY ${path} is excluded by .dockerignore`)
      }
    }
  }
  for (const must of ['node_modules', '.git', '.data', 'bench-output', 'test-output', 'infra/secrets']) {
    if (!ignored(ignore, must)) problems.push(`.dockerignore must exclude ${must}`)
  }
  if (!ignored(ignore, 'services/main/node_modules'))
    problems.push('.dockerignore must exclude node_modules at every level (**/node_modules)')

  // The healthcheck's fallback ports are the services' defaults.
  const script = healthScript && existsSync(join(REPO_ROOT, healthScript)) ? readFileSync(join(REPO_ROOT, healthScript), 'utf8') : ''
  const ports = Object.fromEntries(
    [...(/DEFAULT_PORTS = \{([^}]*)\}/.exec(script)?.[1] ?? '').matchAll(/(\w+): (\d+)/g)].map((m) => [m[1], Number(m[2])]),
  )
  for (const [service, port] of Object.entries(defaultPorts())) {
    if (ports[service] !== port)
      problems.push(`${healthScript}: DEFAULT_PORTS.${service} is ${ports[service]}, services/${service} defaults to ${port}`)
  }
  return problems
}
