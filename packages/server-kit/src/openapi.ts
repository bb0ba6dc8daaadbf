/**
 * OpenAPI 3.1 for a service: @fastify/swagger builds the document from the route schemas,
 * @fastify/swagger-ui serves it at `/docs/json` (and `/docs/yaml`) with a browsable UI at `/docs`
 * from its bundled assets (nothing is fetched from a CDN: it works offline).
 *
 * `registerOpenApi` must run before any route is added: @fastify/swagger and the route list kept
 * here both collect routes with an `onRoute` hook, which only sees routes added after it. The
 * swagger plugin's hook is in place once the app's plugins load, so routes belong in plugins (as
 * every service registers them); `documentGaps` reports a route the document missed.
 *
 * Route schemas do double duty: fastify validates requests with them and writes responses with
 * them (fast-json-stringify), which drops what a response schema does not declare and coerces what
 * it declares. The shared response schemas in @paysys/contracts are written for that (open objects,
 * nullable fields, yuan as `number`); `PAYSYS_CHECK_RESPONSE_SCHEMAS=1` makes every JSON answer be
 * compared with plain `JSON.stringify` of the same value, and fail loudly if the schema changed it
 * (run the tests with it after editing a response schema).
 *
 * `routeSchemaGaps` is the rule the schema-coverage tests hold every route to.
 */
import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export interface OpenApiOptions {
  title: string
  version: string
  description?: string
  /** `components.securitySchemes`, referred to by the routes' `schema.security`. */
  securitySchemes?: Record<string, Record<string, unknown>>
  tags?: { name: string; description?: string }[]
}

/** A route as added to the app (one entry per method). */
export interface RouteRecord {
  method: string
  url: string
  schema?: Record<string, unknown>
}

const routesByApp = new WeakMap<FastifyInstance, RouteRecord[]>()

export const DOCS_PREFIX = '/docs'

export function registerOpenApi(app: FastifyInstance, opts: OpenApiOptions): void {
  const routes: RouteRecord[] = []
  routesByApp.set(app, routes)
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, schema: route.schema as RouteRecord['schema'] })
  })

  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: opts.title, version: opts.version, ...(opts.description ? { description: opts.description } : {}) },
      ...(opts.tags ? { tags: opts.tags } : {}),
      components: { securitySchemes: (opts.securitySchemes ?? {}) as never },
    },
  })
  app.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { docExpansion: 'list', deepLinking: true } })

  if (process.env.PAYSYS_CHECK_RESPONSE_SCHEMAS === '1') checkResponseSerialisation(app)
}

/** Every route added to the app since `registerOpenApi` (undefined when it was not called). */
export function registeredRoutes(app: FastifyInstance): readonly RouteRecord[] | undefined {
  return routesByApp.get(app)
}

export interface SchemaGap {
  /** `METHOD /url` */
  route: string
  missing: string[]
}

const SUCCESS = /^[23](\d\d|xx)$/i
const CLIENT_ERROR = /^4(\d\d|xx)$/i
const REQUEST_PARTS = ['params', 'querystring', 'body', 'headers', 'security'] as const

/**
 * The routes that do not describe themselves: no schema, hidden from the document, a path
 * parameter without a `params` schema, no request description at all (params, querystring, body,
 * headers, or the credentials of `security`: a route with no input states it with an empty
 * querystring), no response schema for a 2xx/3xx, or none for a 4xx. A HEAD route that fastify
 * added for a GET is judged with that GET. `exempt` names routes (`METHOD /url`) that are not API.
 */
export function routeSchemaGaps(routes: readonly RouteRecord[], exempt: (route: string) => boolean): SchemaGap[] {
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url))
  const gaps: SchemaGap[] = []
  for (const r of routes) {
    const name = `${r.method} ${r.url}`
    if (exempt(name) || (r.method === 'HEAD' && gets.has(r.url))) continue
    const s = r.schema
    if (!s) {
      gaps.push({ route: name, missing: ['schema'] })
      continue
    }
    const missing: string[] = []
    if (s.hide) missing.push('visible in the document (schema.hide)')
    const declared = Object.keys(((s.params as { properties?: object } | undefined)?.properties ?? {}) as object)
    for (const p of pathParams(r.url)) if (!declared.includes(p)) missing.push(`params.${p}`)
    if (!REQUEST_PARTS.some((k) => s[k] !== undefined)) missing.push('request (params, querystring, body, headers or security)')
    const codes = Object.keys((s.response as object | undefined) ?? {})
    if (!codes.some((c) => SUCCESS.test(c))) missing.push('response 2xx/3xx')
    if (!codes.some((c) => CLIENT_ERROR.test(c))) missing.push('response 4xx')
    if (missing.length) gaps.push({ route: name, missing })
  }
  return gaps
}

type Content = Record<string, { schema?: unknown }>
type Operation = {
  parameters?: { in?: string; name?: string; required?: boolean; schema?: unknown }[]
  requestBody?: { content?: Content }
  responses?: Record<string, { description?: string; content?: Content }>
}
export interface OpenApiDocument {
  openapi?: string
  info?: { title?: string; version?: string }
  paths?: Record<string, Record<string, Operation>>
}

/**
 * Where the served document and the app disagree: a route (not exempt) missing from the document,
 * an operation of the document that is no route, an operation without a described 2xx/3xx and 4xx
 * response, or a path parameter it does not declare.
 */
export function documentGaps(doc: OpenApiDocument, routes: readonly RouteRecord[], exempt: (route: string) => boolean): string[] {
  const gaps: string[] = []
  if (!/^3\.\d+\.\d+$/.test(doc.openapi ?? '')) gaps.push(`openapi: ${doc.openapi} is not 3.x.y`)
  if (!doc.info?.title || !doc.info.version) gaps.push('info: title and version')
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url))
  const expected = new Set<string>()
  for (const r of routes) {
    const name = `${r.method} ${r.url}`
    if (exempt(name) || (r.method === 'HEAD' && gets.has(r.url))) continue
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    expected.add(`${r.method.toLowerCase()} ${path}`)
    const op = doc.paths?.[path]?.[r.method.toLowerCase()]
    if (!op) {
      gaps.push(`${name}: not in the document`)
      continue
    }
    const codes = Object.keys(op.responses ?? {})
    if (!codes.some((c) => SUCCESS.test(c))) gaps.push(`${name}: no 2xx/3xx response`)
    if (!codes.some((c) => CLIENT_ERROR.test(c))) gaps.push(`${name}: no 4xx response`)
    for (const [code, res] of Object.entries(op.responses ?? {}))
      if (!res.description) gaps.push(`${name}: response ${code} has no description`)
    for (const p of pathParams(r.url))
      if (!op.parameters?.some((q) => q.in === 'path' && q.name === p && q.required)) gaps.push(`${name}: path parameter ${p} not declared`)
  }
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const method of Object.keys(item))
      if (HTTP_METHODS.has(method) && !expected.has(`${method} ${path}`))
        gaps.push(`${method.toUpperCase()} ${path}: in the document but no route`)
  return gaps
}

/** Every JSON Schema of the document's operations, with where it is (tests compile them). */
export function documentSchemas(doc: OpenApiDocument): { where: string; schema: unknown }[] {
  const found: { where: string; schema: unknown }[] = []
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const [method, op] of Object.entries(item)) {
      const at = `${method.toUpperCase()} ${path}`
      for (const p of op.parameters ?? []) found.push({ where: `${at} ${p.in} ${p.name}`, schema: p.schema })
      for (const [type, c] of Object.entries(op.requestBody?.content ?? {})) found.push({ where: `${at} body ${type}`, schema: c.schema })
      for (const [code, r] of Object.entries(op.responses ?? {}))
        for (const [type, c] of Object.entries(r.content ?? {})) found.push({ where: `${at} ${code} ${type}`, schema: c.schema })
    }
  return found
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** `:name` path parameters, and `*` for a wildcard. */
export function pathParams(url: string): string[] {
  const names = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!)
  return url.endsWith('*') ? [...names, '*'] : names
}

// ---- PAYSYS_CHECK_RESPONSE_SCHEMAS ----

const plainJson = new WeakMap<FastifyRequest, string>()

function checkResponseSerialisation(app: FastifyInstance) {
  app.addHook('preSerialization', async (req, _reply, payload) => {
    plainJson.set(req, JSON.stringify(payload))
    return payload
  })
  app.addHook('onSend', async (req, reply, payload) => {
    const plain = plainJson.get(req)
    plainJson.delete(req)
    if (plain === undefined || typeof payload !== 'string') return payload
    const expected: unknown = JSON.parse(plain)
    const written: unknown = JSON.parse(payload)
    if (!isDeepStrictEqual(written, expected)) {
      const where = firstDifference(expected, written, '$')
      req.log.error({ route: req.routeOptions.url, status: reply.statusCode, where }, 'response schema changed the answer')
      throw new Error(`response schema of ${req.method} ${req.routeOptions.url} (${reply.statusCode}) changed the answer at ${where}`)
    }
    return payload
  })
}

function firstDifference(a: unknown, b: unknown, path: string): string {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`)
      if (d) return d
    }
    return ''
  }
  return isDeepStrictEqual(a, b) ? '' : `${path}: ${JSON.stringify(a)} → ${JSON.stringify(b) ?? 'missing'}`
}
