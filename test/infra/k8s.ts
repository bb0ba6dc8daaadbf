/**
 * Offline checks of infra/k8s: kubernetes-models' bundled JSON schemas, its TypeScript types (which, unlike
 * the schemas, refuse unknown fields), and the project's rules. Every check returns problems as text, so a
 * test can run it on the real files and on broken copies alike.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { REPO_ROOT } from '@paysys/devkit'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { ISecret } from 'kubernetes-models/v1/Secret'
import type { IService } from 'kubernetes-models/v1/Service'
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { parseYamlDocs, type Doc } from './yaml-docs.ts'
import { checkServiceEnv, isServiceName, PLACEHOLDER, type ProvidedVar, type ServiceName } from './service-env.ts'
import { PROVIDER_MODULES } from '../../services/pay/src/providers/index.ts'

export const K8S_DIR = join(REPO_ROOT, 'infra/k8s')

export interface K8sObject {
  file: string
  apiVersion: string
  kind: string
  name: string
  doc: Doc
}

export interface K8sSet {
  objects: K8sObject[]
  kustomization?: Doc
  files: string[]
}

export const where = (o: K8sObject) => `${o.file}: ${o.kind}/${o.name}`
const ofKind = <T>(set: K8sSet, kind: string) => set.objects.filter((o) => o.kind === kind).map((o) => ({ o, doc: o.doc as T }))

export function loadK8s(dir = K8S_DIR): { set: K8sSet; problems: string[] } {
  const problems: string[] = []
  const set: K8sSet = {
    objects: [],
    files: readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort(),
  }
  for (const file of set.files) {
    const parsed = parseYamlDocs(readFileSync(join(dir, file), 'utf8'), file)
    problems.push(...parsed.problems)
    for (const doc of parsed.docs) {
      if (doc.kind === 'Kustomization') {
        set.kustomization = doc
        continue
      }
      const name = (doc.metadata as { name?: unknown } | undefined)?.name
      if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string' || typeof name !== 'string') {
        problems.push(`${file}: a document without apiVersion, kind and metadata.name`)
        continue
      }
      set.objects.push({ file, apiVersion: doc.apiVersion, kind: doc.kind, name, doc })
    }
  }
  return { set, problems }
}

const modelPath = (o: K8sObject) => `kubernetes-models/${o.apiVersion}/${o.kind}`

/** Each object through its kubernetes-models class and `.validate()` (the bundled OpenAPI schemas). */
export async function schemaProblems(set: K8sSet): Promise<string[]> {
  const problems: string[] = []
  for (const o of set.objects) {
    let Model: (new (data: Doc) => { validate(): void }) | undefined
    try {
      Model = ((await import(modelPath(o))) as Record<string, typeof Model>)[o.kind]
    } catch {
      /* reported below */
    }
    if (!Model) {
      problems.push(`${where(o)}: kubernetes-models has no ${o.apiVersion} ${o.kind}`)
      continue
    }
    try {
      new Model(o.doc).validate()
    } catch (err) {
      problems.push(`${where(o)}: ${(err as Error).message}`)
    }
  }
  return problems
}

/**
 * Type-checks every object against kubernetes-models' interfaces (`const m: IDeployment = {…}`): the
 * JSON schemas let unknown fields through (a typo such as `replica: 2` or `readinesProbe` would be
 * silently dropped by the API server), TypeScript's excess-property check does not.
 */
export function typeProblems(set: K8sSet): string[] {
  const dir = join(REPO_ROOT, 'test/infra')
  const file = join(dir, '__k8s_manifests__.ts')
  const imports = new Map<string, string>()
  const body = set.objects.map((o, i) => {
    const spec = modelPath(o)
    if (!imports.has(spec)) imports.set(spec, `T${imports.size}`)
    return `export const m${i}: ${imports.get(spec)} = ${JSON.stringify(o.doc)}`
  })
  const head = [...imports].map(([spec, alias]) => `import type { I${spec.split('/').pop()} as ${alias} } from '${spec}'`)
  const source = [...head, ...body].join('\n')
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts'],
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (f, lang, ...rest) =>
    f === file ? ts.createSourceFile(f, source, lang) : getSourceFile.call(host, f, lang, ...rest)
  host.fileExists = (f) => f === file || fileExists.call(host, f)
  host.readFile = (f) => (f === file ? source : readFile.call(host, f))
  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1
    const o = set.objects[line - head.length]
    return `${o ? where(o) : 'manifest types'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
  })
}

/** Secret values as the pod sees them (stringData wins over data, as the API server merges them). */
function secretData(s: ISecret): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8')
  return { ...out, ...(s.stringData ?? {}) }
}

/**
 * The variables a container gets (envFrom, env with values or references) and, for each NAME_FILE, the
 * content of the Secret key mounted at that path. Missing ConfigMaps, Secrets, keys and unmounted paths
 * are problems.
 */
export function containerVars(
  set: K8sSet,
  dep: IDeployment,
  c: IContainer,
  at: string,
): { provided: Map<string, ProvidedVar>; problems: string[] } {
  const problems: string[] = []
  const provided = new Map<string, ProvidedVar>()
  const configMaps = new Map(ofKind<IConfigMap>(set, 'ConfigMap').map(({ o, doc }) => [o.name, doc.data ?? {}]))
  const secrets = new Map(ofKind<ISecret>(set, 'Secret').map(({ o, doc }) => [o.name, secretData(doc)]))
  const lookup = (kind: 'ConfigMap' | 'Secret', name: string, key?: string): string | undefined => {
    const data = (kind === 'ConfigMap' ? configMaps : secrets).get(name)
    if (!data) problems.push(`${at}: ${kind} ${name} does not exist`)
    else if (key !== undefined && data[key] === undefined) problems.push(`${at}: ${kind} ${name} has no key ${key}`)
    return key === undefined ? undefined : data?.[key]
  }
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret'
    if (!ref?.name) continue
    lookup(kind, ref.name)
    const data = (kind === 'ConfigMap' ? configMaps : secrets).get(ref.name) ?? {}
    for (const [k, v] of Object.entries(data)) provided.set(`${from.prefix ?? ''}${k}`, { value: v, secret: kind === 'Secret' })
  }
  for (const e of c.env ?? []) {
    const cm = e.valueFrom?.configMapKeyRef
    const sec = e.valueFrom?.secretKeyRef
    if (e.value !== undefined) provided.set(e.name, { value: e.value })
    else if (cm) provided.set(e.name, { value: lookup('ConfigMap', cm.name ?? '', cm.key) ?? '' })
    else if (sec) provided.set(e.name, { value: lookup('Secret', sec.name ?? '', sec.key) ?? '', secret: true })
    else problems.push(`${at}: env ${e.name} has no value or ConfigMap/Secret reference`)
  }
  // Mounted Secret keys by file path.
  const files = new Map<string, { secret: string; key: string }>()
  const volumes = new Map((dep.spec?.template.spec?.volumes ?? []).map((v) => [v.name, v]))
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.get(m.name)
    if (!v) {
      problems.push(`${at}: volumeMount ${m.name} has no volume`)
      continue
    }
    const sources = [
      ...(v.secret ? [{ name: v.secret.secretName ?? '', items: v.secret.items }] : []),
      ...(v.projected?.sources ?? []).flatMap((s) => (s.secret ? [{ name: s.secret.name ?? '', items: s.secret.items }] : [])),
    ]
    for (const s of sources) {
      const keys = s.items ?? Object.keys(secrets.get(s.name) ?? {}).map((key) => ({ key, path: key }))
      for (const item of keys) {
        lookup('Secret', s.name, item.key)
        files.set(`${m.mountPath.replace(/\/$/, '')}/${item.path}`, { secret: s.name, key: item.key })
      }
    }
  }
  for (const [name, v] of provided) {
    if (!name.endsWith('_FILE')) continue
    const f = files.get(v.value)
    if (!f) {
      problems.push(`${at}: ${name}=${v.value} is not a key of a Secret mounted in the container`)
      continue
    }
    provided.set(name, { ...v, secret: true, fileContent: secrets.get(f.secret)?.[f.key] ?? '' })
  }
  return { provided, problems }
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v)

function resolvePort(c: IContainer, port: number | string | undefined): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort
}

export interface DeploymentFacts {
  /** Service name (main, pay, web) → its container's variables. */
  envs: Map<ServiceName, Map<string, ProvidedVar>>
}

/** Replicas, probes, security, resources, image, and the environment run through the service's config. */
export function deploymentProblems(
  set: K8sSet,
  material: Record<string, string>,
  tmp: string,
): { problems: string[]; facts: DeploymentFacts } {
  const problems: string[] = []
  const facts: DeploymentFacts = { envs: new Map() }
  for (const { o, doc } of ofKind<IDeployment>(set, 'Deployment')) {
    const at = where(o)
    const service = o.name
    if (!isServiceName(service)) {
      problems.push(`${at}: the Deployment name must be the service it runs (services/<name>)`)
      continue
    }
    if (service === 'sandbox') problems.push(`${at}: the provider sandbox is a test tool and must not be deployed`)
    if ((doc.spec?.replicas ?? 1) < 2) problems.push(`${at}: replicas must be at least 2 (got ${doc.spec?.replicas ?? 1})`)
    const pod = doc.spec?.template.spec
    if (!matches(doc.spec?.selector.matchLabels, doc.spec?.template.metadata?.labels))
      problems.push(`${at}: selector does not match the pod labels`)
    const c = pod?.containers.find((x) => x.name === service)
    if (!pod || !c) {
      problems.push(`${at}: no container named ${service}`)
      continue
    }
    if (!new RegExp(`/paysys/${service}(:[\\w.-]+)?$`).test(c.image ?? ''))
      problems.push(`${at}: image ${c.image} is not …/paysys/${service}:tag`)

    const vars = containerVars(set, doc, c, at)
    problems.push(...vars.problems)
    facts.envs.set(service, vars.provided)
    const env = checkServiceEnv(at, service, vars.provided, material, join(tmp, o.name), { fill: true, placeholdersMustFail: true })
    problems.push(...env.problems)

    // Probes on the port the service really listens on (its config's PORT).
    const port = env.port
    if (port !== undefined && !c.ports?.some((p) => p.containerPort === port))
      problems.push(`${at}: no containerPort ${port} (the service's PORT)`)
    const probes = [
      ['readinessProbe', c.readinessProbe, '/readyz'],
      ['livenessProbe', c.livenessProbe, '/healthz'],
    ] as const
    for (const [kind, probe, path] of port === undefined ? [] : probes) {
      const get = probe?.httpGet
      if (!get) problems.push(`${at}: ${kind} must be an httpGet on ${path}`)
      else {
        if (get.path !== path) problems.push(`${at}: ${kind} must GET ${path} (got ${get.path})`)
        if (resolvePort(c, get.port) !== port) problems.push(`${at}: ${kind} port ${get.port} is not the service's port ${port}`)
      }
    }
    const startup = c.startupProbe?.httpGet
    if (startup && port !== undefined && (resolvePort(c, startup.port) !== port || !['/healthz', '/readyz'].includes(startup.path ?? ''))) {
      problems.push(`${at}: startupProbe must GET /healthz or /readyz on the service's port`)
    }

    // Security: what the namespace's `restricted` Pod Security Standard demands, plus a read-only root.
    const podSec = pod.securityContext ?? {}
    const sec = c.securityContext ?? {}
    if (!(sec.runAsNonRoot ?? podSec.runAsNonRoot)) problems.push(`${at}: runAsNonRoot must be true`)
    if ((sec.runAsUser ?? podSec.runAsUser) === 0) problems.push(`${at}: runAsUser must not be 0`)
    if (sec.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation must be false`)
    if (!sec.capabilities?.drop?.includes('ALL')) problems.push(`${at}: capabilities must drop ALL`)
    if ((sec.seccompProfile ?? podSec.seccompProfile)?.type !== 'RuntimeDefault')
      problems.push(`${at}: seccompProfile must be RuntimeDefault`)
    if (sec.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem must be true`)
    const tmpMount = c.volumeMounts?.find((m) => m.mountPath === '/tmp')
    const tmpVolume = pod.volumes?.find((v) => v.name === tmpMount?.name)
    if (!tmpVolume?.emptyDir) problems.push(`${at}: /tmp must be an emptyDir (tsx writes its compile cache there)`)
    const res = c.resources ?? {}
    if (!res.requests?.cpu || !res.requests?.memory || !res.limits?.memory)
      problems.push(`${at}: resources need cpu and memory requests and a memory limit`)
  }
  return { problems, facts }
}

/** Services select a Deployment's pods and target a port of its container. */
export function serviceProblems(set: K8sSet): string[] {
  const problems: string[] = []
  const deployments = ofKind<IDeployment>(set, 'Deployment')
  for (const { o, doc } of ofKind<IService>(set, 'Service')) {
    if (!doc.spec?.selector) continue // a Service without endpoints (the Ingress's "not exposed" target)
    const dep = deployments.find((d) => matches(doc.spec?.selector, d.doc.spec?.template.metadata?.labels))
    if (!dep) {
      problems.push(`${where(o)}: selects no Deployment's pods`)
      continue
    }
    const c = dep.doc.spec?.template.spec?.containers.find((x) => x.name === dep.o.name)
    for (const p of doc.spec.ports ?? []) {
      if (!c || resolvePort(c, p.targetPort ?? p.port) === undefined)
        problems.push(`${where(o)}: targetPort ${p.targetPort} is not a port of ${dep.o.name}`)
    }
  }
  for (const { o, doc } of ofKind<IPodDisruptionBudget>(set, 'PodDisruptionBudget')) {
    const dep = deployments.find((d) => matches(doc.spec?.selector?.matchLabels, d.doc.spec?.template.metadata?.labels))
    if (!dep) problems.push(`${where(o)}: selects no Deployment's pods`)
    else if (typeof doc.spec?.minAvailable === 'number' && doc.spec.minAvailable >= (dep.doc.spec?.replicas ?? 1)) {
      problems.push(`${where(o)}: minAvailable ${doc.spec.minAvailable} leaves no pod of ${dep.o.name} evictable`)
    }
  }
  return problems
}

// ---- Ingress ------------------------------------------------------------------------------------

export interface Route {
  host?: string
  path: string
  pathType: string
  service: string
  port: string | number
}

export function ingressRoutes(ing: IIngress): Route[] {
  return (ing.spec?.rules ?? []).flatMap((rule) =>
    (rule.http?.paths ?? []).map((p) => ({
      ...(rule.host ? { host: rule.host } : {}),
      path: p.path ?? '/',
      pathType: p.pathType,
      service: p.backend.service?.name ?? '',
      port: p.backend.service?.port?.name ?? p.backend.service?.port?.number ?? '',
    })),
  )
}

const elements = (path: string) => path.split('/').filter(Boolean)

/** The route a request takes, as the Ingress spec defines it: Exact, or the longest element-wise Prefix. */
export function routeFor(routes: Route[], host: string, path: string): Route | undefined {
  const forHost = routes.filter((r) => r.host === host)
  const candidates = (forHost.length ? forHost : routes.filter((r) => !r.host)).filter((r) => {
    if (r.pathType === 'Exact') return r.path === path
    const want = elements(r.path)
    const got = elements(path)
    return want.length <= got.length && want.every((e, i) => got[i] === e)
  })
  return candidates.find((r) => r.pathType === 'Exact') ?? candidates.sort((a, b) => elements(b.path).length - elements(a.path).length)[0]
}

/** `'/api/pay/…'` literals in a pay route file, `:params` filled in. */
export function payRoutePaths(file: string): string[] {
  const text = readFileSync(join(REPO_ROOT, 'services/pay/src/routes', file), 'utf8')
  return [...text.matchAll(/'(\/api\/pay\/[^']*)'/g)].map((m) => m[1]!.replace(/:\w+/g, 'P2024000000000001'))
}

/**
 * What the internet can reach: only pay's notify and return paths (on the host of its PUBLIC_URL), main's
 * /api and web (on the host of FRONTEND_URL); never pay's service API nor /metrics of any pod; TLS on both.
 */
export function ingressProblems(set: K8sSet, facts: DeploymentFacts): string[] {
  const problems: string[] = []
  const services = new Map(ofKind<IService>(set, 'Service').map(({ o, doc }) => [o.name, doc]))
  const deployments = ofKind<IDeployment>(set, 'Deployment')
  /** The Deployment whose pods a Service sends to (undefined: none). */
  const podsOf = (service: string) => {
    const sel = services.get(service)?.spec?.selector
    return deployments.find((d) => matches(sel, d.doc.spec?.template.metadata?.labels))?.o.name
  }
  const url = (svc: ServiceName, name: string) => {
    const v = facts.envs.get(svc)?.get(name)?.value
    try {
      return new URL(v ?? '')
    } catch {
      problems.push(`ingress: ${svc}'s ${name} is not a URL (${v})`)
      return undefined
    }
  }
  const payPublic = url('pay', 'PUBLIC_URL')
  const frontend = url('main', 'FRONTEND_URL')
  if (facts.envs.get('pay')?.get('FRONTEND_URL')?.value !== facts.envs.get('main')?.get('FRONTEND_URL')?.value) {
    problems.push('ingress: main and pay must have the same FRONTEND_URL')
  }
  for (const u of [payPublic, frontend]) if (u && u.protocol !== 'https:') problems.push(`ingress: ${u.href} must be https`)

  const ingresses = ofKind<IIngress>(set, 'Ingress')
  if (!ingresses.length) problems.push('ingress: there is no Ingress')
  const routes = ingresses.flatMap(({ doc }) => ingressRoutes(doc))
  for (const { o, doc } of ingresses) {
    for (const r of ingressRoutes(doc)) {
      const svc = services.get(r.service)
      if (!svc) problems.push(`${where(o)}: backend Service ${r.service} does not exist`)
      else if (!svc.spec?.ports?.some((p) => p.name === r.port || p.port === r.port))
        problems.push(`${where(o)}: Service ${r.service} has no port ${r.port}`)
      if (podsOf(r.service) === 'pay') {
        const e = elements(r.path)
        if (!(e[0] === 'api' && e[1] === 'pay' && (e[2] === 'notify' || e[2] === 'return'))) {
          problems.push(`${where(o)}: ${r.host ?? '*'}${r.path} exposes pay beyond /api/pay/notify and /api/pay/return`)
        }
      }
      if (elements(r.path).includes('metrics') && podsOf(r.service))
        problems.push(`${where(o)}: ${r.path} exposes /metrics of ${podsOf(r.service)}`)
    }
    const tlsHosts = (doc.spec?.tls ?? []).filter((t) => t.secretName).flatMap((t) => t.hosts ?? [])
    for (const u of [payPublic, frontend]) if (u && !tlsHosts.includes(u.hostname)) problems.push(`${where(o)}: no TLS for ${u.hostname}`)
  }

  const serviceApi = payRoutePaths('service.ts')
  // Notify and provider-specific return paths are declared by pay's provider modules (its registry).
  const notify = PROVIDER_MODULES.flatMap((m) => m.notify.routes.map((r) => r.path))
  const returns = [...payRoutePaths('return.ts'), ...PROVIDER_MODULES.flatMap((m) => m.returnPaths ?? [])]
  if (serviceApi.length < 4 || notify.length < 3 || returns.length < 1)
    problems.push('ingress: could not read pay’s routes from services/pay/src/routes')
  const hosts = new Set(
    [...routes.map((r) => r.host ?? 'any.example'), payPublic?.hostname, frontend?.hostname].filter((h): h is string => !!h),
  )
  const target = (host: string, path: string) => {
    const r = routeFor(routes, host, path)
    return r ? podsOf(r.service) : undefined
  }
  for (const host of hosts) {
    for (const path of serviceApi)
      if (target(host, path) === 'pay') problems.push(`ingress: https://${host}${path} reaches pay's service API`)
    for (const path of ['/metrics', '/metrics/'])
      if (target(host, path)) problems.push(`ingress: https://${host}${path} reaches ${target(host, path)}'s metrics`)
  }
  if (payPublic) {
    for (const path of [...notify, ...returns]) {
      if (target(payPublic.hostname, path) !== 'pay')
        problems.push(`ingress: ${payPublic.origin}${path} (providers and browsers come here) does not reach pay`)
    }
  }
  if (frontend) {
    const want: [string, string][] = [
      ['/api/credits/packages', 'main'],
      ['/api/orders/1/payment-status', 'main'],
      ['/', 'web'],
      ['/order/1', 'web'],
    ]
    for (const [path, svc] of want)
      if (target(frontend.hostname, path) !== svc) problems.push(`ingress: ${frontend.origin}${path} does not reach ${svc}`)
  }
  return problems
}

// ---- Secrets, namespace, kustomization -----------------------------------------------------------

const PRIVATE_KEY_RE = /-----BEGIN [A-Z ]*PRIVATE KEY-----/

/** Secret manifests are templates: every value a placeholder, never key material. */
export function secretProblems(set: K8sSet): string[] {
  const problems: string[] = []
  for (const { o, doc } of ofKind<ISecret>(set, 'Secret')) {
    for (const [key, value] of Object.entries(secretData(doc))) {
      if (PRIVATE_KEY_RE.test(value)) problems.push(`${where(o)}: ${key} holds a private key: templates hold placeholders only`)
      else if (!value.includes(PLACEHOLDER)) problems.push(`${where(o)}: ${key} is not a ${PLACEHOLDER} placeholder`)
    }
  }
  return problems
}

export function layoutProblems(set: K8sSet): string[] {
  const problems: string[] = []
  const k = set.kustomization as { namespace?: string; resources?: string[]; images?: { name: string }[] } | undefined
  if (!k) return ['kustomization.yaml is missing']
  const listed = new Set(k.resources ?? [])
  for (const f of set.files) if (f !== 'kustomization.yaml' && !listed.has(f)) problems.push(`kustomization.yaml does not list ${f}`)
  for (const f of listed) if (!set.files.includes(f)) problems.push(`kustomization.yaml lists ${f}, which does not exist`)
  if (!set.objects.some((o) => o.kind === 'Namespace' && o.name === k.namespace)) problems.push(`no Namespace ${k.namespace}`)
  for (const o of set.objects) {
    const ns = (o.doc.metadata as { namespace?: string }).namespace
    if (o.kind !== 'Namespace' && ns !== k.namespace) problems.push(`${where(o)}: namespace ${ns} is not ${k.namespace}`)
  }
  const imageNames = new Set((k.images ?? []).map((i) => i.name))
  for (const { o, doc } of ofKind<IDeployment>(set, 'Deployment')) {
    for (const c of doc.spec?.template.spec?.containers ?? []) {
      const name = (c.image ?? '').replace(/[:@][^/]*$/, '')
      if (!imageNames.has(name)) problems.push(`${where(o)}: image ${name} has no entry in kustomization.yaml images`)
    }
  }
  return problems
}
