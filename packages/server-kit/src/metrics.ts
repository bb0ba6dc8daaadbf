/**
 * Prometheus metrics for a service: one registry per app (tests build several apps in one
 * process; the global registry would mix their series), an HTTP latency histogram by route
 * pattern, and `GET /metrics` in the text format, behind an optional bearer token.
 *
 * Services add their own collectors to `app.metrics`. Figures that live in the database (orders by
 * status, outbox backlog) are gauges computed at scrape time with one cheap query, so they are
 * right however many instances run and survive restarts; events that happen in one process
 * (a rejected notify) are counters.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { AppError } from '@paysys/contracts'

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry: service collectors register here (`registers: [app.metrics]`). */
    metrics: Registry
  }
}

// CPU, memory, event loop and GC describe the process, not one app: collected once per process
// (each collector set starts its own event-loop monitor) and served next to every app's registry.
let processRegistry: Registry | undefined
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * Creates the app's registry (as `app.metrics`), times every request, and serves `GET /metrics`.
 * With `token`, a scrape must send `Authorization: Bearer <token>` (401 otherwise); without one
 * the endpoint is open (development) — in production keep it off the Ingress as well.
 */
export function installMetrics(app: FastifyInstance, opts: { token?: string } = {}): Registry {
  const registry = new Registry()
  app.decorate('metrics', registry)

  const duration = new Histogram({
    name: 'paysys_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status code, with their duration',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  })
  // One labelled child per series, found by a string key: prom-client hashes the label object on every observe.
  const series = new Map<string, { observe(v: number): void }>()
  app.addHook('onResponse', (req, reply, done) => {
    // The route pattern (`/api/orders/:id`), never the raw URL: ids and probes would each make a series.
    const route = req.routeOptions.url ?? 'UNMATCHED'
    const key = `${req.method} ${reply.statusCode} ${route}`
    let child = series.get(key)
    if (!child) series.set(key, (child = duration.labels({ method: req.method, route, status_code: reply.statusCode })))
    child.observe(reply.elapsedTime / 1000)
    done()
  })

  const expected = opts.token ? digest(opts.token) : undefined
  app.get('/metrics', { schema: { hide: true } as object }, async (req, reply) => {
    if (expected) {
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
      // Compared as digests: equal length for timingSafeEqual, nothing learnt from the timing.
      if (!given || !timingSafeEqual(digest(given), expected)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"')
        throw new AppError(401, 'UNAUTHORIZED', '指标接口需要有效的访问令牌')
      }
    }
    const text = (await processMetrics().metrics()) + (await registry.metrics())
    return reply.header('content-type', registry.contentType).send(text)
  })
  return registry
}

/**
 * One database read shared by every gauge that needs it during a scrape (prom-client collects
 * metrics in parallel), bounded by `timeoutMs`: a slow or unreachable database never hangs nor
 * fails `/metrics` — the read answers undefined, and the caller empties its gauges rather than
 * serving stale figures. (`/readyz` is what reports the database down.)
 */
export function sharedScrapeRead<T>(
  read: () => Promise<T>,
  opts: { timeoutMs?: number; log?: { warn(o: object, m: string): void } } = {},
): () => Promise<T | undefined> {
  let inflight: Promise<T | undefined> | undefined
  const timeoutMs = opts.timeoutMs ?? 2000
  async function readBounded(): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
    } catch (err) {
      opts.log?.warn({ err: { message: (err as Error).message } }, 'metrics: database read failed')
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }
  return () => {
    if (!inflight) {
      const p = readBounded()
      inflight = p
      // Settles asynchronously (never rejects), so this runs after the assignment above.
      void p.finally(() => {
        if (inflight === p) inflight = undefined
      })
    }
    return inflight
  }
}
