/**
 * Property-based fuzzing (fast-check) of every main route on a real stack: arbitrary bodies (the
 * route's sample with fields mutated, arbitrary JSON, arbitrary text), query strings and path
 * parameters, with or without the right token. For every request: status < 500, and the answer is
 * the envelope `{code, message, data, timestamp}` (`code` = HTTP status and a known `error` on 4xx), or on a seed
 * document's dialect that document's shape (`/api/v1/*`: `{data}` / `{error}`; `/mp/*`: FastAPI's `{detail}` on 4xx;
 * kit.ts `answerProblem`).
 *
 * Bounded and reproducible: FUZZ_RUNS runs per route (default 80), every one of them run (a route cut short by the
 * per-route time limit fails); the seed is FUZZ_SEED, or a fresh random one, printed first as a TAP comment so a
 * failing run is replayed with `FUZZ_SEED=<seed>`. A failure prints the shrunk counterexample. The requests sent
 * are counted twice, by the property and by fast-check's run count, and both must equal routes × runs.
 */
import t from 'tap'
import fc from 'fast-check'
import { answerProblem, closePools, forgeJwt, send, type Sent } from './fixtures/kit.ts'
import { mainRoutes, type RouteSpec } from './fixtures/routes.ts'
import { buildWorld } from './fixtures/world.ts'

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31)
const RUNS = Number(process.env.FUZZ_RUNS ?? 80)
if (!Number.isSafeInteger(SEED) || !Number.isSafeInteger(RUNS) || RUNS < 1)
  throw new Error(`FUZZ_SEED must be an integer and FUZZ_RUNS a positive integer (got ${process.env.FUZZ_SEED}, ${process.env.FUZZ_RUNS})`)
/** Per route; a route that has not run all its cases by then fails (never a silent pass on fewer cases). */
const ROUTE_TIME_LIMIT_MS = 60_000
t.comment(`properties: seed ${SEED} (replay with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS})`)

const w = await buildWorld()
t.teardown(async () => {
  await closePools()
  await w.sandboxSql.end({ timeout: 5 })
  await w.stack.stop()
})

// ---- arbitraries ----

/** JSON text spliced in as is (numbers JSON.stringify cannot write). */
class Raw {
  constructor(readonly text: string) {}
}
function toJsonText(value: unknown): string {
  const raws: string[] = []
  const text = JSON.stringify(value, (_k, v: unknown) => (v instanceof Raw ? `\u0001${raws.push(v.text) - 1}\u0001` : v))
  return (text ?? 'null').replace(/"\\u0001(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)]!)
}
const MISSING = Symbol('missing')

const EDGE_NUMBERS = [0, -0, -1, 1, 0.5, 0.001, 12.345, -0.01, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 1e20]
const EDGE_NUMBERS_MORE = [Number.MAX_VALUE, Number.MIN_VALUE, 100_000_000, 100_000_001, 1_000_000.01]
const RAW_NUMBERS = ['1e309', '-1e309', '9007199254740993', '1e-400', '100000000000000000000000', '0.10000000000000000001']
const NASTY = [
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '../../etc/passwd',
  '..\\..\\windows',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '%00',
  '%',
  '<script>alert(1)</script>',
  '${7*7}',
  ' ',
  '',
  'null',
  'true',
  'NaN',
  'Infinity',
  '__proto__',
  'constructor',
  '\u202e\u200b',
  'x'.repeat(300),
]
const evilString = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 16 }), fc.constantFrom(...NASTY))
const evilNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(...EDGE_NUMBERS, ...EDGE_NUMBERS_MORE),
  fc.constantFrom(...RAW_NUMBERS).map((s) => new Raw(s)),
)
const evil: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: evilString },
  { weight: 3, arbitrary: evilNumber },
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
)

/** The sample with each field kept, replaced by something hostile, or dropped; sometimes extra keys. */
function shaped(sample: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(
    Object.entries(sample).map(([k, v]) => [
      k,
      fc.oneof({ weight: 3, arbitrary: fc.constant(v) }, { weight: 2, arbitrary: evil }, { weight: 1, arbitrary: fc.constant(MISSING) }),
    ]),
  ) as Record<string, fc.Arbitrary<unknown>>
  const extra = fc.oneof(
    { weight: 4, arbitrary: fc.constant([] as [string, unknown][]) },
    fc.array(
      fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'amount', 'role', 'status')), evil),
      { maxLength: 2 },
    ),
  )
  return fc.tuple(fc.record(fields), extra).map(([o, more]) =>
    // fromEntries defines own properties (a `__proto__` key stays a key, as JSON.parse makes it).
    Object.fromEntries([...Object.entries(o).filter(([, v]) => v !== MISSING), ...more]),
  )
}

const HEX = '0123456789ABCDEF'
/** Keeps printable ASCII as is (so `%`, `&`, `=` and `/` stay raw) and percent-encodes the rest byte-wise (invalid UTF-8 included). */
const rawEscape = (s: string) =>
  [...s]
    .map((c) => {
      const n = c.charCodeAt(0)
      return n > 0x20 && n < 0x7f && c !== '#' && c !== '?' ? c : `%${HEX[(n >> 4) & 15]}${HEX[n & 15]}`
    })
    .join('')
/** encodeURIComponent, with a lone surrogate written as the (invalid) UTF-8 bytes of one. */
const encode = (s: string) =>
  [...s]
    .map((c) => {
      try {
        return encodeURIComponent(c)
      } catch {
        return '%ED%A0%80'
      }
    })
    .join('')

const evilPathSegment = fc.oneof(
  fc.string().map(encode),
  fc.string({ unit: 'grapheme', maxLength: 8 }).map(encode),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }).map(rawEscape),
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '..%2f..%2fetc%2fpasswd',
    '%00',
    '%ZZ',
    '%',
    '%E0%A4%A',
    '%ED%A0%80',
    '0',
    '-1',
    '9'.repeat(20),
    'x'.repeat(600),
    '1e3',
    '1.5',
    '',
    '%20',
  ),
  fc.oneof(fc.integer(), fc.constantFrom(...EDGE_NUMBERS)).map(String),
)
const evilQueryValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.constantFrom(...EDGE_NUMBERS.map(String), ...RAW_NUMBERS, ...NASTY),
  fc.integer().map(String),
)

function queryOf(sample: Record<string, string | number | boolean> = {}): fc.Arbitrary<string> {
  const fields = Object.fromEntries(
    Object.entries(sample).map(([k, v]) => [
      k,
      fc.oneof(
        { weight: 2, arbitrary: fc.constant(String(v)) },
        { weight: 2, arbitrary: evilQueryValue },
        { weight: 1, arbitrary: fc.constant(MISSING) },
      ),
    ]),
  ) as Record<string, fc.Arbitrary<string | typeof MISSING>>
  const structured = fc
    .tuple(fc.record(fields), fc.array(fc.tuple(fc.string({ maxLength: 8 }), evilQueryValue), { maxLength: 2 }), fc.boolean())
    .map(([o, extra, repeat]) => {
      const q = new URLSearchParams()
      for (const [k, v] of Object.entries(o)) if (v !== MISSING) q.append(k, v as string)
      for (const [k, v] of extra) q.append(k, v)
      const first = Object.keys(o)[0]
      if (repeat && first) q.append(first, '2')
      const s = q.toString()
      return s ? `?${s}` : ''
    })
  return fc.oneof(
    { weight: 4, arbitrary: structured },
    { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => `?${rawEscape(s)}`) },
  )
}

interface Req {
  path: string
  query: string
  body: string | undefined
  contentType: string
  auth: 'route' | 'none' | 'other' | 'garbage'
}

function requestOf(route: RouteSpec): fc.Arbitrary<Req> {
  const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!)
  const params = fc.tuple(
    ...names.map((n) =>
      fc.oneof({ weight: 2, arbitrary: fc.constant(encode(route.params?.[n] ?? '1')) }, { weight: 3, arbitrary: evilPathSegment }),
    ),
  )
  const body: fc.Arbitrary<string | undefined> =
    route.method === 'GET'
      ? fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.json() })
      : fc.oneof(
          { weight: 5, arbitrary: shaped(route.body ?? {}).map(toJsonText) },
          { weight: 1, arbitrary: fc.json() },
          {
            weight: 1,
            arbitrary: fc.anything().map((v) => {
              try {
                return JSON.stringify(v) ?? 'null'
              } catch {
                return 'null'
              }
            }),
          },
          { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
          { weight: 1, arbitrary: fc.constant(undefined) },
        )
  const contentType = fc.oneof(
    { weight: 12, arbitrary: fc.constant('application/json') },
    fc.constantFrom(
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/JSON',
      'application/json; charset=latin1',
      'multipart/form-data',
    ),
  )
  const auth = fc.oneof(
    { weight: 6, arbitrary: fc.constant('route' as const) },
    fc.constantFrom('none' as const, 'other' as const, 'garbage' as const),
  )
  return fc.record({ params, query: queryOf(route.query), body, contentType, auth }).map(({ params, query, body, contentType, auth }) => {
    let i = 0
    const path = route.path.replace(/:(\w+)/g, () => params[i++]!)
    return { path, query, body, contentType, auth }
  })
}

const tokens = { user: w.alice.token, admin: w.admin.token }
const garbageToken = forgeJwt({ sub: String(w.alice.id), role: 'admin' }, 'not-the-secret')
function tokenFor(route: RouteSpec, auth: Req['auth']): string | undefined {
  if (auth === 'none') return undefined
  if (auth === 'garbage') return garbageToken
  if (auth === 'other') return w.bob.token
  return route.auth === 'none' ? undefined : tokens[route.auth]
}

// ---- routes: the table, plus any route main's OpenAPI document lists that the table lacks ----

const table = mainRoutes(w)
async function discovered(): Promise<RouteSpec[]> {
  const doc = await send(w.main, { path: '/docs/json' }).catch(() => undefined)
  const paths = doc?.status === 200 ? (doc.json?.paths as Record<string, Record<string, unknown>> | undefined) : undefined
  if (!paths) return []
  const known = new Set(table.map((r) => `${r.method} ${r.path}`))
  const out: RouteSpec[] = []
  for (const [p, ops] of Object.entries(paths)) {
    if (!p.startsWith('/api/')) continue
    const path = p.replace(/\{(\w+)\}/g, ':$1')
    for (const m of Object.keys(ops)) {
      const method = m.toUpperCase() as RouteSpec['method']
      if (!['GET', 'POST', 'PATCH', 'DELETE'].includes(method) || known.has(`${method} ${path}`)) continue
      if (method === 'GET' && known.has(`GET ${path.replace(/\/$/, '')}`)) continue
      out.push({ method, path, auth: path.startsWith('/api/admin') ? 'admin' : 'user' })
    }
  }
  return out
}
const extra = await discovered()
const routes = [...table, ...extra]

t.test('fast-check: every main route answers arbitrary input below 500, in the envelope', async (t) => {
  let requests = 0
  let ran = 0
  const short: string[] = []
  let fiveXX = 0
  const classes: Record<string, number> = {}
  const failures: string[] = []
  const started = Date.now()
  for (const [i, route] of routes.entries()) {
    const property = fc.asyncProperty(requestOf(route), async (req) => {
      const headers: Record<string, string> = req.body === undefined ? {} : { 'content-type': req.contentType }
      let r: Sent
      try {
        r = await send(w.main, {
          method: route.method,
          path: req.path + req.query,
          headers,
          body: req.body,
          token: tokenFor(route, req.auth),
        })
      } finally {
        requests++
      }
      classes[`${String(r.status)[0]}xx`] = (classes[`${String(r.status)[0]}xx`] ?? 0) + 1
      if (r.status >= 500) fiveXX++
      if (r.status >= 500) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 300)}`)
      const problem = answerProblem(route.path, r)
      if (problem) throw new Error(`HTTP ${r.status}, not the route's answer shape (${problem})`)
    })
    const details = await fc.check(property, { seed: SEED + i, numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(ROUTE_TIME_LIMIT_MS)] })
    ran += details.numRuns
    if (details.interrupted || (!details.failed && details.numRuns !== RUNS))
      short.push(
        `${route.method} ${route.path}: ${details.numRuns} of ${RUNS} runs${details.interrupted ? ` (cut at ${ROUTE_TIME_LIMIT_MS} ms)` : ''}`,
      )
    if (details.failed)
      failures.push(
        `${route.method} ${route.path}: ${(details.errorInstance as Error | undefined)?.message ?? ''}\n${(fc.defaultReportMessage(details) ?? '').slice(0, 1500)}`,
      )
  }
  t.comment(
    `properties: ${routes.length} routes (${extra.length} found only in main's OpenAPI document), ${requests} requests, seed ${SEED}, ` +
      `${RUNS} runs per route, ${fiveXX} responses >= 500 (${Object.entries(classes)
        .sort()
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}), ` +
      `${failures.length} routes failing (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  )
  t.same(failures, [], 'no route answers arbitrary input with a 5xx or outside the envelope')
  t.same(short, [], `every route ran all its ${RUNS} cases`)
  if (!failures.length) {
    t.equal(ran, routes.length * RUNS, `fast-check ran ${routes.length} routes × ${RUNS} cases`)
    t.equal(requests, routes.length * RUNS, `requests sent = ${routes.length} routes × ${RUNS} runs`)
  }
})
