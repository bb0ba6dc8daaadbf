/**
 * infra/ checked offline, as CI can (no Docker engine, no cluster, no network): the Kubernetes manifests
 * against kubernetes-models' schemas and types, docker-compose.yml against the Compose Specification schema,
 * the Dockerfile against the repository, and the project's rules on all of them — each service's
 * environment is run through its own config code. Every rule also has a broken copy it must reject.
 */
import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateDevKeys, REPO_ROOT } from '@paysys/devkit'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap'
import type { ISecret } from 'kubernetes-models/v1/Secret'
import type { IService } from 'kubernetes-models/v1/Service'
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import { writeDevSecrets } from '../../infra/dev-secrets.ts'
import { parseYamlDocs } from './yaml-docs.ts'
import { PLACEHOLDER, secretMaterial } from './service-env.ts'
import * as k8s from './k8s.ts'
import * as compose from './compose.ts'
import { DOCKERFILE, dockerfileProblems } from './dockerfile.ts'

const keys = generateDevKeys()
const material = secretMaterial(keys)
const tmp = mkdtempSync(join(tmpdir(), 'paysys-infra-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
let runs = 0
const scratch = () => join(tmp, `run-${++runs}`)

/** `problems` has one matching `re` (the broken copy was caught, for the reason meant). */
function rejects(t: Test, problems: string[], re: RegExp, what: string) {
  t.ok(
    problems.some((p) => re.test(p)),
    what,
    problems.length ? { problems } : { problems: 'none' },
  )
}

// ---- Kubernetes ---------------------------------------------------------------------------------

const loaded = k8s.loadK8s()
const set = loaded.set
const copy = (): k8s.K8sSet => ({
  ...set,
  objects: set.objects.map((o) => ({ ...o, doc: structuredClone(o.doc) })),
  kustomization: structuredClone(set.kustomization),
})
function get<T>(s: k8s.K8sSet, kind: string, name: string): T {
  const o = s.objects.find((x) => x.kind === kind && x.name === name)
  if (!o) throw new Error(`no ${kind}/${name}`)
  return o.doc as T
}
const container = (s: k8s.K8sSet, name: string) => get<IDeployment>(s, 'Deployment', name).spec!.template.spec!.containers[0]!
const deploymentProblems = (s: k8s.K8sSet) => k8s.deploymentProblems(s, material, scratch())
const ingressProblems = (s: k8s.K8sSet) => k8s.ingressProblems(s, deploymentProblems(s).facts)

t.test('k8s: every file parses, and reads the same under YAML 1.1 and 1.2', async (t) => {
  t.same(loaded.problems, [])
  const kinds = new Set(set.objects.map((o) => o.kind))
  for (const kind of ['Namespace', 'ConfigMap', 'Secret', 'Deployment', 'Service', 'Ingress', 'PodDisruptionBudget'])
    t.ok(kinds.has(kind), kind)
  rejects(t, parseYamlDocs('mode: 0440\n', 'x.yaml').problems, /YAML 1\.1 and 1\.2/, 'an octal-looking number')
  rejects(t, parseYamlDocs('enabled: yes\n', 'x.yaml').problems, /YAML 1\.1 and 1\.2/, 'a yes/no boolean')
  rejects(t, parseYamlDocs('a: 1\na: 2\n', 'x.yaml').problems, /x\.yaml/, 'a duplicate key')
})

t.test('k8s: kubernetes-models schemas (.validate()) and types (no unknown fields)', async (t) => {
  t.same(await k8s.schemaProblems(set), [], 'schemas')
  const broken = copy()
  get<IDeployment>(broken, 'Deployment', 'main').spec!.replicas = 'two' as unknown as number
  rejects(t, await k8s.schemaProblems(broken), /Deployment\/main.*replicas must be integer/, 'replicas: "two"')
  const unknownKind = copy()
  unknownKind.objects.push({
    file: 'x.yaml',
    apiVersion: 'v1',
    kind: 'Nonsense',
    name: 'x',
    doc: { apiVersion: 'v1', kind: 'Nonsense', metadata: { name: 'x' } },
  })
  rejects(t, await k8s.schemaProblems(unknownKind), /no v1 Nonsense/, 'an unknown kind')

  // One TypeScript program for the real objects and a typo'd copy (its problems name only the copy).
  const typo = copy()
  const extra = structuredClone(typo.objects.find((o) => o.kind === 'Deployment' && o.name === 'pay')!)
  extra.name = 'pay-typo'
  const c = (extra.doc as unknown as IDeployment).spec!.template.spec!.containers[0]! as unknown as Record<string, unknown>
  c.readinesProbe = c.readinessProbe
  typo.objects.push(extra)
  const problems = k8s.typeProblems(typo)
  t.same(
    problems.filter((p) => !p.includes('pay-typo')),
    [],
    'types of the real manifests',
  )
  rejects(t, problems, /pay-typo.*readinesProbe/, 'readinesProbe (a typo the schema lets through)')
})

t.test('k8s: Deployments — replicas, probes, security, and an environment each service starts with', async (t) => {
  const { problems, facts } = deploymentProblems(set)
  t.same(problems, [])
  t.same([...facts.envs.keys()].sort(), ['main', 'pay', 'web'], 'main, pay and web are deployed')

  const cases: [string, (s: k8s.K8sSet) => void, RegExp][] = [
    ['one replica', (s) => (get<IDeployment>(s, 'Deployment', 'pay').spec!.replicas = 1), /pay: replicas must be at least 2/],
    [
      'readiness on /healthz',
      (s) => (container(s, 'main').readinessProbe!.httpGet!.path = '/healthz'),
      /main: readinessProbe must GET \/readyz/,
    ],
    ['liveness on another port', (s) => (container(s, 'web').livenessProbe!.httpGet!.port = 9999), /web: livenessProbe port 9999/],
    ['no readiness probe', (s) => delete container(s, 'pay').readinessProbe, /pay: readinessProbe must be an httpGet/],
    [
      'main without DATABASE_URL',
      (s) => (container(s, 'main').env = container(s, 'main').env!.filter((e) => e.name !== 'DATABASE_URL')),
      /main: DATABASE_URL is required/,
    ],
    ['pay without PUBLIC_URL', (s) => delete get<IConfigMap>(s, 'ConfigMap', 'pay-config').data!.PUBLIC_URL, /pay: PUBLIC_URL is required/],
    [
      'a *_FILE path nothing is mounted at',
      (s) => (container(s, 'main').env!.find((e) => e.name === 'JWT_SECRET_FILE')!.value = '/etc/jwt'),
      /JWT_SECRET_FILE=\/etc\/jwt is not a key of a Secret mounted/,
    ],
    [
      'a misspelt variable',
      (s) => (container(s, 'pay').env!.find((e) => e.name === 'ALIPAY_PRIVATE_KEY_FILE')!.name = 'ALIPAY_PRIVATEKEY_FILE'),
      /ALIPAY_PRIVATEKEY_FILE is set but services\/pay\/src\/config\.ts never reads it/,
    ],
    [
      'a missing Secret key',
      (s) => delete get<ISecret>(s, 'Secret', 'pay-secrets').stringData!['epay-key'],
      /Secret pay-secrets has no key epay-key/,
    ],
    [
      'a template value the service would accept',
      (s) => (get<ISecret>(s, 'Secret', 'main-secrets').stringData!['jwt-secret'] = 'x'.repeat(40)),
      /template value of JWT_SECRET is accepted by services\/main/,
    ],
    [
      'a writable root filesystem',
      (s) => (container(s, 'main').securityContext!.readOnlyRootFilesystem = false),
      /main: readOnlyRootFilesystem must be true/,
    ],
    [
      'privilege escalation',
      (s) => delete container(s, 'web').securityContext!.allowPrivilegeEscalation,
      /web: allowPrivilegeEscalation must be false/,
    ],
    ['no memory limit', (s) => delete container(s, 'pay').resources!.limits, /pay: resources need/],
    [
      'the sandbox deployed',
      (s) => {
        const o = structuredClone(s.objects.find((x) => x.kind === 'Deployment' && x.name === 'web')!)
        o.name = 'sandbox'
        s.objects.push(o)
      },
      /sandbox.*must not be deployed/,
    ],
  ]
  for (const [what, breakIt, re] of cases) {
    const broken = copy()
    breakIt(broken)
    rejects(t, deploymentProblems(broken).problems, re, what)
  }
})

t.test('k8s: Services and PodDisruptionBudgets select the Deployments', async (t) => {
  t.same(k8s.serviceProblems(set), [])
  const broken = copy()
  get<IService>(broken, 'Service', 'pay').spec!.ports![0]!.targetPort = 'metrics'
  rejects(t, k8s.serviceProblems(broken), /Service\/pay: targetPort metrics/, 'a targetPort the container does not have')
  const orphan = copy()
  get<IService>(orphan, 'Service', 'main').spec!.selector = { 'app.kubernetes.io/name': 'mian' }
  rejects(t, k8s.serviceProblems(orphan), /Service\/main: selects no Deployment/, 'a selector that matches nothing')
})

t.test('k8s: path matching follows the Ingress spec', async (t) => {
  const routes: k8s.Route[] = [
    { host: 'h', path: '/api/pay/notify', pathType: 'Prefix', service: 'pay', port: 'http' },
    { host: 'h', path: '/api', pathType: 'Prefix', service: 'main', port: 'http' },
    { host: 'h', path: '/api/x', pathType: 'Exact', service: 'web', port: 'http' },
    { host: 'h', path: '/', pathType: 'Prefix', service: 'web', port: 'http' },
  ]
  const to = (path: string) => k8s.routeFor(routes, 'h', path)?.service
  t.equal(to('/api/pay/notify/alipay'), 'pay', 'longest prefix')
  t.equal(to('/api/pay/notify'), 'pay')
  t.equal(to('/api/pay/notifyx'), 'main', 'prefixes match whole path elements')
  t.equal(to('/api/x'), 'web', 'Exact wins')
  t.equal(to('/api/x/y'), 'main')
  t.equal(to('/other'), 'web')
  t.equal(k8s.routeFor(routes, 'elsewhere', '/api'), undefined, 'another host')
})

t.test('k8s: the Ingress exposes only pay notify/return, main /api and web, over TLS', async (t) => {
  t.same(ingressProblems(set), [])
  const ingress = (s: k8s.K8sSet) => get<IIngress>(s, 'Ingress', 'paysys')
  const payRule = (s: k8s.K8sSet) => ingress(s).spec!.rules!.find((r) => r.host === 'pay.example.com')!
  const shopRule = (s: k8s.K8sSet) => ingress(s).spec!.rules!.find((r) => r.host === 'shop.example.com')!
  const backend = (name: string) => ({ service: { name, port: { name: 'http' } } })
  const cases: [string, (s: k8s.K8sSet) => void, RegExp][] = [
    [
      "pay's /api/pay prefix",
      (s) => payRule(s).http!.paths.push({ path: '/api/pay', pathType: 'Prefix', backend: backend('pay') }),
      /api\/pay\/create reaches pay's service API/,
    ],
    ['all of pay', (s) => payRule(s).http!.paths.push({ path: '/', pathType: 'Prefix', backend: backend('pay') }), /exposes pay beyond/],
    [
      "main's /metrics",
      (s) => (shopRule(s).http!.paths.find((p) => p.path === '/metrics')!.backend = backend('main')),
      /reaches main's metrics|exposes \/metrics of main/,
    ],
    [
      "web's /metrics (no blocking route)",
      (s) => (shopRule(s).http!.paths = shopRule(s).http!.paths.filter((p) => p.path !== '/metrics')),
      /shop\.example\.com\/metrics reaches web's metrics/,
    ],
    [
      'no return path',
      (s) => (payRule(s).http!.paths = payRule(s).http!.paths.filter((p) => p.path !== '/api/pay/return')),
      /pay\.example\.com\/api\/pay\/return .*does not reach pay/,
    ],
    ['no TLS', (s) => delete ingress(s).spec!.tls, /no TLS for pay\.example\.com/],
    [
      'an http PUBLIC_URL',
      (s) => (get<IConfigMap>(s, 'ConfigMap', 'pay-config').data!.PUBLIC_URL = 'http://pay.example.com'),
      /http:\/\/pay\.example\.com\/ must be https/,
    ],
    [
      'a backend that does not exist',
      (s) => (shopRule(s).http!.paths[0]!.backend = backend('mian')),
      /backend Service mian does not exist/,
    ],
  ]
  for (const [what, breakIt, re] of cases) {
    const broken = copy()
    breakIt(broken)
    rejects(t, ingressProblems(broken), re, what)
  }
})

t.test('k8s: Secrets are placeholder templates, the layout is complete', async (t) => {
  t.same(k8s.secretProblems(set), [])
  const pem = copy()
  get<ISecret>(pem, 'Secret', 'pay-secrets').stringData!['alipay-private-key.pem'] = keys.alipay.merchantPrivateKey
  rejects(t, k8s.secretProblems(pem), /alipay-private-key\.pem holds a private key/, 'a real private key in a template')
  const base64 = copy()
  const secret = get<ISecret>(base64, 'Secret', 'paysys-service-keys')
  secret.data = { 'service-keys': Buffer.from(keys.serviceKeys).toString('base64') }
  delete secret.stringData
  rejects(t, k8s.secretProblems(base64), /service-keys is not a REPLACE_ME placeholder/, 'a real value (base64 data)')

  t.same(k8s.layoutProblems(set), [])
  const unlisted = copy()
  ;(unlisted.kustomization as { resources: string[] }).resources.pop()
  rejects(t, k8s.layoutProblems(unlisted), /does not list/, 'a file missing from kustomization.yaml')
  const elsewhere = copy()
  ;(get<IConfigMap>(elsewhere, 'ConfigMap', 'web-config').metadata as { namespace?: string }).namespace = 'default'
  rejects(t, k8s.layoutProblems(elsewhere), /web-config: namespace default/, 'an object in another namespace')
})

// ---- docker-compose -------------------------------------------------------------------------------

const composeText = readFileSync(compose.COMPOSE_FILE, 'utf8')
const loadedCompose = compose.loadCompose(composeText)
const cf = loadedCompose.compose
const envExample = compose.parseEnvFile(readFileSync(join(compose.INFRA_DIR, 'env.example'), 'utf8'))
const filledEnv = Object.fromEntries(Object.entries(envExample).map(([k, v]) => [k, v.includes(PLACEHOLDER) ? (material[k] ?? v) : v]))

t.test('compose: parses and matches the Compose Specification schema', async (t) => {
  t.same(loadedCompose.problems, [])
  t.same(compose.schemaProblems(cf, 'as written'), [])
  const unknownKey = structuredClone(cf) as unknown as { services: Record<string, Record<string, unknown>> }
  unknownKey.services.main!.restart_policy = 'always'
  rejects(t, compose.schemaProblems(unknownKey, 'x'), /\/services\/main must NOT have additional properties/, 'an unknown service key')
  const badCondition = structuredClone(cf)
  ;(badCondition.services.web!.depends_on as Record<string, { condition: string }>).main!.condition = 'healthy'
  rejects(t, compose.schemaProblems(badCondition, 'x'), /depends_on/, 'a depends_on condition that does not exist')
})

t.test('compose: interpolation as Compose does it', async (t) => {
  const problems: string[] = []
  const env = { A: 'a', E: '' }
  t.equal(compose.interpolate('${A}-${A:-x}-${E:-d}-${E-d}-${N-n}-$A-$$A', env, problems), 'a-a-d--n-a-$A')
  t.same(problems, [])
  compose.interpolate('${N:?set N}', env, problems)
  compose.interpolate('${E:?set E}', env, problems)
  compose.interpolate('${E?set E}', env, problems)
  t.same(problems, ['${N} is required: set N', '${E} is required: set E'])
})

t.test('compose: services, build targets, healthchecks, dependencies, no inline secrets', async (t) => {
  t.same(compose.ruleProblems(cf), [])
  const cases: [string, (c: compose.Compose) => void, RegExp][] = [
    ['a build target the Dockerfile lacks', (c) => (c.services.main!.build!.target = 'prod'), /main: build target prod is not a stage/],
    [
      'a service that is not in the workspace',
      (c) => (c.services.web!.build!.args!.SERVICE = 'frontend'),
      /web must build SERVICE=web|SERVICE=frontend/,
    ],
    ['the sandbox without its profile', (c) => delete c.services.sandbox!.profiles, /sandbox runs only under the sandbox profile/],
    ['no healthcheck', (c) => delete c.services.pay!.healthcheck, /pay: needs a healthcheck/],
    [
      'depends_on without waiting for health',
      (c) => ((c.services.web!.depends_on as Record<string, { condition: string }>).main!.condition = 'service_started'),
      /web: depends_on main must use condition: service_healthy/,
    ],
    ['a list-style depends_on', (c) => (c.services.main!.depends_on = ['postgres']), /main: depends_on must wait/],
    [
      'an inline secret',
      (c) => (c.services.main!.environment!.JWT_SECRET = 'dev-secret-dev-secret-dev-secret-1'),
      /main: JWT_SECRET is written inline/,
    ],
    ['a port open to the network', (c) => (c.services.pay!.ports = ['8081:8081']), /pay: publish on 127\.0\.0\.1 only/],
    ['an undeclared secret', (c) => c.services.main!.secrets!.push('admin_password'), /secret admin_password is not declared/],
    ['postgres 16', (c) => (c.services.postgres!.image = 'postgres:16'), /postgres:15/],
  ]
  for (const [what, breakIt, re] of cases) {
    const broken = structuredClone(cf)
    breakIt(broken)
    rejects(t, compose.ruleProblems(broken), re, what)
  }
})

t.test('compose: every service starts with infra/env.example filled in, and refuses its placeholders', async (t) => {
  const infra = join(tmp, 'compose-production')
  t.same(compose.composeEnvProblems(cf, filledEnv, 'env.example filled in', infra, material, scratch()), [])
  t.same(
    compose.placeholderProblems(cf, envExample, infra, material, scratch()),
    [],
    'main, pay and web refuse its REPLACE_ME placeholders',
  )

  const noFrontend = { ...filledEnv, FRONTEND_URL: '' }
  rejects(
    t,
    compose.composeEnvProblems(cf, noFrontend, 'x', infra, material, scratch()),
    /\$\{FRONTEND_URL\} is required/,
    'an empty required variable',
  )
  const outside = structuredClone(cf)
  outside.services.main!.environment!.JWT_SECRET_FILE = '/etc/jwt_secret'
  rejects(
    t,
    compose.composeEnvProblems(outside, filledEnv, 'x', infra, material, scratch()),
    /JWT_SECRET_FILE=\/etc\/jwt_secret is neither a secret/,
    'a key file nothing mounts',
  )
  const halfAlipay = { ...filledEnv, ALIPAY_PUBLIC_KEY_FILE: '' }
  rejects(
    t,
    compose.composeEnvProblems(cf, halfAlipay, 'x', infra, material, scratch()),
    /Alipay is partially configured/,
    'a half-configured provider',
  )
})

t.test('compose: the sandbox demo (infra/dev-secrets.ts) starts all four services', async (t) => {
  const infra = join(tmp, 'compose-demo')
  const written = writeDevSecrets(infra, keys)
  t.ok(
    written.some((f) => f.endsWith('.env')),
    'writes infra/.env',
  )
  t.throws(() => writeDevSecrets(infra, keys), /refusing to overwrite/, 'never overwrites without --force')
  const demoEnv = compose.parseEnvFile(readFileSync(join(infra, '.env'), 'utf8'))
  t.same(compose.composeEnvProblems(cf, demoEnv, 'sandbox demo', infra, {}, scratch(), ['sandbox']), [])
  t.match(demoEnv.ALIPAY_GATEWAY, /^http:\/\/sandbox\.localhost:8090\//, 'pay talks to the sandbox, not the real gateway')
})

// ---- Dockerfile -----------------------------------------------------------------------------------

t.test('Dockerfile: stages, pinned versions, copied files, non-root runtime with a healthcheck', async (t) => {
  const text = readFileSync(DOCKERFILE, 'utf8')
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  t.same(dockerfileProblems(text, ignore), [])
  const cases: [string, string, string, RegExp][] = [
    ['another tsx', text.replace(/TSX_VERSION=[\d.]+/, 'TSX_VERSION=4.0.0'), ignore, /TSX_VERSION=4\.0\.0 but pnpm-lock\.yaml/],
    ['root at run time', text.replace('USER 1000:1000', 'USER root'), ignore, /numeric non-root uid/],
    [
      'a file that does not exist',
      text.replace('COPY infra/healthcheck.mjs', 'COPY infra/health.mjs'),
      ignore,
      /COPY infra\/health\.mjs does not exist/,
    ],
    ['dev dependencies', text.replace(' --prod ', ' '), ignore, /needs --prod/],
    ['no tsconfig.base.json', text.replace('COPY tsconfig.base.json /app/tsconfig.base.json\n', ''), ignore, /lacks tsconfig\.base\.json/],
    [
      'a loader path tsx is not at',
      text.replace('"/opt/tsx/node_modules/tsx/dist/loader.mjs"', '"tsx"'),
      ignore,
      /CMD must --import the tsx/,
    ],
    ['node_modules in the context', text, ignore.replace('**/node_modules\n', ''), /exclude node_modules/],
    ['an ignored source', text, `${ignore}\ninfra\n`, /COPY infra\/healthcheck\.mjs is excluded/],
  ]
  for (const [what, brokenText, brokenIgnore, re] of cases) rejects(t, dockerfileProblems(brokenText, brokenIgnore), re, what)
})

t.test('no key material is committed under infra/', async (t) => {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (path === join(REPO_ROOT, 'infra/secrets') || name === '.env') continue
      if (statSync(path).isDirectory()) walk(path)
      else if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(readFileSync(path, 'utf8'))) found.push(path)
    }
  }
  walk(join(REPO_ROOT, 'infra'))
  t.same(found, [])
  t.ok(existsSync(join(REPO_ROOT, 'infra/secrets/.gitignore')), 'infra/secrets/ is git-ignored')
})
