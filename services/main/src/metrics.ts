/**
 * main's business metrics, next to server-kit's HTTP and process metrics on `app.metrics`.
 * Orders by status are read from the database at scrape time: one group-by over the
 * (status, expire_at) index, right whatever instance is scraped and however often it restarted.
 */
import type { FastifyBaseLogger } from 'fastify'
import { Gauge, type Registry } from 'prom-client'
import type { Sql } from '@paysys/db'
import { sharedScrapeRead } from '@paysys/server-kit'
import { ORDER_STATUSES } from './orders/repo.ts'

export function registerMainMetrics(registry: Registry, deps: { sql: Sql; log: FastifyBaseLogger }) {
  const readOrders = sharedScrapeRead(
    async () =>
      (await deps.sql<{ status: string; n: number }[]>`select status, count(*)::int as n from orders group by status`) as {
        status: string
        n: number
      }[],
    { log: deps.log },
  )
  new Gauge({
    name: 'paysys_orders',
    help: 'Orders by status (all time, read from the database at scrape time)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const rows = await readOrders()
      this.reset()
      // Database unreachable: no figures rather than stale ones (/readyz says why).
      if (!rows) return
      // Every status is present, zero included, so rates and alerts start from a value.
      for (const status of ORDER_STATUSES) this.set({ status }, 0)
      for (const r of rows) this.set({ status: r.status }, r.n)
    },
  })
}
