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
import { Registry, collectDefaultMetrics } from 'prom-client'
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

  const duration = new RequestDurations()
  registry.registerMetric(duration as never)
  app.addHook('onResponse', (req, reply, done) => {
    // The route pattern (`/api/orders/:id`), never the raw URL: ids and probes would each make a series.
    duration.observe(req.method, req.routeOptions.url ?? 'UNMATCHED', reply.statusCode, reply.elapsedTime / 1000)
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

/** prom-client's default buckets, in seconds. */
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * `paysys_http_request_duration_seconds`, the histogram every request passes: a series per method, route pattern
 * and status, found by one string key and counted in a typed array. prom-client's Histogram validates and hashes
 * the label object on every observe (a labelled child too), 3% of the catalogue's CPU per request (bench profile);
 * this collector renders what it would, in the registry's text format, at scrape time.
 */
class RequestDurations {
  readonly name = 'paysys_http_request_duration_seconds'
  readonly help = 'HTTP requests by method, route pattern and status code, with their duration'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly series = new Map<string, { labels: Record<string, string | number>; counts: Float64Array; sum: number; count: number }>()

  observe(method: string, route: string, statusCode: number, seconds: number) {
    const key = `${method} ${statusCode} ${route}`
    let s = this.series.get(key)
    if (!s)
      this.series.set(
        key,
        (s = { labels: { method, route, status_code: statusCode }, counts: new Float64Array(BOUNDS.length), sum: 0, count: 0 }),
      )
    for (let i = 0; i < BOUNDS.length; i++) {
      if (seconds <= BOUNDS[i]!) {
        s.counts[i]!++
        break
      }
    }
    s.sum += seconds
    s.count++
  }

  /** Cumulative buckets, `+Inf`, sum and count per series, as prom-client's Histogram answers `get()`. */
  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = []
    for (const s of this.series.values()) {
      let acc = 0
      BOUNDS.forEach((le, i) => {
        acc += s.counts[i]!
        values.push({ labels: { ...s.labels, le }, value: acc, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset() {
    this.series.clear()
  }
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
