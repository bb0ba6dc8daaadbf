/** What `pnpm bench` and `pnpm bench:growth` share: where results go, how figures and chart labels are written. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '@paysys/devkit'

export const outDir = join(REPO_ROOT, 'bench-output')
mkdirSync(outDir, { recursive: true })

/** A figure for a table: whole numbers from 100 up, one decimal below. */
export const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))

/** Text for an SVG label. */
export const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** The p-th percentile (0–100) of some figures; NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y)
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN
}

export interface PacedResult {
  rps: number
  p50: number
  p99: number
  sent: number
  non2xx: number
  errors: number
}

/**
 * An open-loop load at `rate` per second: request k leaves at start + k / rate, whether or not the earlier ones have
 * answered (the arrivals of many independent buyers), and its latency counts from that planned moment, so a sender
 * held up by a slow service is not hidden (no coordinated omission). autocannon's `overallRate` is not this: each of
 * its connections sends its quota for the second back to back, then waits for the next second, a burst every second.
 */
export async function paced(opts: {
  url: string
  rate: number
  count: number
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  /** The body of request k (the same for all when a string). */
  body?: string | ((k: number) => string)
  /** Called as request k leaves (e.g. to note the time). */
  onSend?: (k: number) => void
}): Promise<PacedResult> {
  const { Pool } = await import('undici')
  const u = new URL(opts.url)
  const pool = new Pool(u.origin, { connections: 256, pipelining: 1 })
  const latencies: number[] = []
  let non2xx = 0
  let errors = 0
  const start = performance.now() + 20
  const inFlight: Promise<void>[] = []
  for (let k = 0; k < opts.count; k++) {
    const planned = start + (k * 1000) / opts.rate
    const wait = planned - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    opts.onSend?.(k)
    inFlight.push(
      pool
        .request({
          path: u.pathname + u.search,
          method: opts.method ?? 'GET',
          headers: opts.headers,
          body: typeof opts.body === 'function' ? opts.body(k) : opts.body,
        })
        .then(async (res) => {
          await res.body.dump()
          if (res.statusCode < 200 || res.statusCode >= 300) non2xx++
          latencies.push(performance.now() - planned)
        })
        .catch(() => {
          errors++
        }),
    )
  }
  await Promise.all(inFlight)
  const secs = (performance.now() - start) / 1000
  await pool.close()
  const ms = (x: number) => Math.round(x * 10) / 10
  return {
    rps: opts.count / secs,
    p50: ms(percentile(latencies, 50)),
    p99: ms(percentile(latencies, 99)),
    sent: opts.count,
    non2xx,
    errors,
  }
}
