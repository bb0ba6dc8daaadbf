/**
 * Schema coverage: every route of main describes its request and its responses (a 2xx/3xx and the
 * error envelope of a 4xx), and /docs serves them as a valid OpenAPI 3 document. A route added
 * without schemas fails here with its name.
 */
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { Type } from 'typebox'
import { errorResponses, OkEnvelope } from '@paysys/contracts'
import { createApp, documentGaps, documentSchemas, registeredRoutes, routeSchemaGaps, type OpenApiDocument } from '@paysys/server-kit'
import { startMain } from './helpers.ts'

/** Not API, so not held to the rule: the probes, the metrics scrape, and the document with its UI. */
const EXEMPT = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics'])
const exempt = (route: string) => EXEMPT.has(route) || /^(GET|HEAD) \/docs(\/|$)/.test(route)

/** The document's schemas that do not compile (OpenAPI 3.1 schemas are JSON Schema 2020-12). */
function invalidSchemas(doc: OpenApiDocument): string[] {
  const ajv = new Ajv2020({ strict: false })
  addFormats.default(ajv)
  const errors: string[] = []
  for (const { where, schema } of documentSchemas(doc)) {
    try {
      ajv.compile(schema as object)
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`)
    }
  }
  return errors
}

t.test('the checker reports a route without schemas, and passes a described one', async (t) => {
  const app = createApp({ name: 'probe', logLevel: 'silent', openapi: { title: 'probe', version: '1' } })
  // As the services add theirs: in a plugin, loaded after the document's own plugins.
  app.register(async (app) => {
    app.get('/bare', async () => ({ ok: true }))
    app.post('/items/:id', { schema: { response: { 200: OkEnvelope(Type.Object({})) } } }, async () => ({}))
    app.get(
      '/hidden',
      { schema: { hide: true, querystring: Type.Object({}), response: { 200: Type.Object({}), ...errorResponses(400) } } },
      async () => ({}),
    )
    app.get(
      '/described/:id',
      { schema: { params: Type.Object({ id: Type.String() }), response: { 200: OkEnvelope(Type.Object({})), ...errorResponses(404) } } },
      async () => ({}),
    )
  })
  await app.ready()
  t.teardown(() => app.close())
  const routes = registeredRoutes(app)!
  t.same(routeSchemaGaps(routes, exempt), [
    { route: 'GET /bare', missing: ['schema'] },
    { route: 'POST /items/:id', missing: ['params.id', 'request (params, querystring, body, headers or security)', 'response 4xx'] },
    { route: 'GET /hidden', missing: ['visible in the document (schema.hide)'] },
  ])
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApiDocument
  t.same(documentGaps(doc, routes, exempt), [
    'GET /bare: no 4xx response',
    'POST /items/:id: no 4xx response',
    'GET /hidden: not in the document',
  ])
})

t.test('every route of main has request and response schemas, and /docs serves them', async (t) => {
  const main = await startMain()
  t.teardown(() => main.close())
  const routes = registeredRoutes(main.app)
  if (!routes) throw new Error('main was built without openapi')
  // Sanity: the collector saw the API (a broken hook would make every check below pass vacuously).
  t.ok(routes.some((r) => r.method === 'POST' && r.url === '/api/orders/:id/pay'))
  t.ok(routes.filter((r) => r.url.startsWith('/api/')).length >= 40, 'the API routes were collected')
  // Seed 001's dialect under /mp (its errors are FastAPI's {detail}, not the envelope).
  const mp = routes.filter((r) => r.url.startsWith('/mp/api/') && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`)
  t.same(mp.sort(), [
    'GET /mp/api/orders',
    'GET /mp/api/orders/',
    'GET /mp/api/orders/:order_id',
    'GET /mp/api/orders/payment-status/:order_id',
    'GET /mp/api/products',
    'GET /mp/api/products/',
    'GET /mp/api/products/:product_id',
    'POST /mp/api/auth/wechat-login',
    'POST /mp/api/orders/callback',
    'POST /mp/api/orders/create',
    'POST /mp/api/orders/pay/:order_id',
  ])

  const gaps = routeSchemaGaps(routes, exempt)
  t.same(gaps, [], `routes without complete schemas:\n${gaps.map((g) => `  ${g.route}: ${g.missing.join(', ')}`).join('\n')}`)

  const res = await main.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as OpenApiDocument & { components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> } }
  t.match(doc.openapi, /^3\.1\.\d+$/)
  t.equal(doc.components?.securitySchemes?.bearerAuth?.scheme, 'bearer')
  const docGaps = documentGaps(doc, routes, exempt)
  t.same(docGaps, [], docGaps.join('\n'))
  t.ok(documentSchemas(doc).length > 100, 'the schemas were found')
  const invalid = invalidSchemas(doc)
  t.same(invalid, [], invalid.join('\n'))
  t.notOk(doc.paths?.['/healthz'], 'probes stay out of the document')

  const ui = await main.app.inject({ method: 'GET', url: '/docs' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
  t.match(ui.body, /swagger-ui/i)
  // Served from the package's own files: nothing is fetched from a CDN.
  t.notMatch(ui.body, /https?:\/\//)
  const bundle = await main.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(bundle.statusCode, 200)
  t.match(bundle.headers['content-type'], /javascript/)
  const yaml = await main.app.inject({ method: 'GET', url: '/docs/yaml' })
  t.equal(yaml.statusCode, 200)
  t.match(yaml.body, /^openapi: 3\.1/m)
})
