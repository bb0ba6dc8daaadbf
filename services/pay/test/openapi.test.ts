/**
 * Schema coverage: every route of pay describes its request and its responses (a 2xx/3xx and a
 * 4xx; provider notifies and browser returns included, with their text and redirect answers), and
 * /docs serves them as a valid OpenAPI 3 document. A route added without schemas fails here with
 * its name. (The checker itself is tested in services/main/test/openapi.test.ts.)
 */
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { documentGaps, documentSchemas, registeredRoutes, routeSchemaGaps, type OpenApiDocument } from '@paysys/server-kit'
import { setupPay } from './helpers.ts'

/** Not API, so not held to the rule: the probes, the metrics scrape, and the document with its UI. */
const EXEMPT = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics'])
const exempt = (route: string) => EXEMPT.has(route) || /^(GET|HEAD) \/docs(\/|$)/.test(route)

t.test('every route of pay has request and response schemas, and /docs serves them', async (t) => {
  const pay = await setupPay(t)
  const routes = registeredRoutes(pay.app)
  if (!routes) throw new Error('pay was built without openapi')
  for (const route of ['POST /api/pay/create', 'POST /api/pay/notify/alipay', 'GET /api/pay/notify/epay', 'GET /api/pay/return'])
    t.ok(
      routes.some((r) => `${r.method} ${r.url}` === route),
      `collected ${route}`,
    )

  const gaps = routeSchemaGaps(routes, exempt)
  t.same(gaps, [], `routes without complete schemas:\n${gaps.map((g) => `  ${g.route}: ${g.missing.join(', ')}`).join('\n')}`)

  const res = await pay.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as OpenApiDocument
  t.match(doc.openapi, /^3\.1\.\d+$/)
  const docGaps = documentGaps(doc, routes, exempt)
  t.same(docGaps, [], docGaps.join('\n'))

  // The service API documents its signature headers; the notifies their text answers; the returns their redirect.
  const create = doc.paths!['/api/pay/create']!.post as { parameters?: { in: string; name: string }[] }
  t.same(
    (create.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name),
    ['x-svc-key-id', 'x-svc-timestamp', 'x-svc-nonce', 'x-svc-signature'],
  )
  const alipay = doc.paths!['/api/pay/notify/alipay']!.post as { responses: Record<string, { content?: object }> }
  t.ok(alipay.responses['200']?.content && 'text/plain' in alipay.responses['200'].content)
  const back = doc.paths!['/api/pay/return']!.get as { responses: Record<string, { content?: object; headers?: object }> }
  t.ok(back.responses['302'] && !back.responses['302'].content && back.responses['302'].headers)

  const ajv = new Ajv2020({ strict: false })
  addFormats.default(ajv)
  const schemas = documentSchemas(doc)
  t.ok(schemas.length > 30, 'the schemas were found')
  const invalid: string[] = []
  for (const { where, schema } of schemas) {
    try {
      ajv.compile(schema as object)
    } catch (err) {
      invalid.push(`${where}: ${(err as Error).message}`)
    }
  }
  t.same(invalid, [], invalid.join('\n'))

  const ui = await pay.app.inject({ method: 'GET', url: '/docs' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
  t.match(ui.body, /swagger-ui/i)
})

t.test('provider notifies are not validated by their documented schemas: anything reaches the handler and is logged', async (t) => {
  const pay = await setupPay(t)
  const form = await pay.app.inject({
    method: 'POST',
    url: '/api/pay/notify/alipay',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'garbage=1',
  })
  t.equal(form.statusCode, 200)
  t.equal(form.body, 'failure')
  const wechat = await pay.app.inject({
    method: 'POST',
    url: '/api/pay/notify/wechat',
    headers: { 'content-type': 'application/json' },
    payload: '[]',
  })
  t.not(wechat.statusCode, 500)
  const epay = await pay.app.inject({ method: 'GET', url: '/api/pay/notify/epay?money=abc' })
  t.equal(epay.statusCode, 503) // Epay not configured in this harness: retried later
  const [row] = await pay.sql<{ n: number }[]>`select count(*)::int as n from notify_log`
  t.equal(row?.n, 3, 'every one logged with its verdict')
})
