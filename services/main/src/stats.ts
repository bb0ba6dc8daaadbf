/** Daily figures for admins (Asia/Shanghai days): orders created and paid, revenue, refunds, credits sold and spent. */
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { fenToYuanNumber } from '@paysys/money'
import { chinaDay, parseInstant } from './days.ts'

interface DayRow {
  day: string
  created: number
  paid: number
  revenue: number
  refunded: number
  creditsSold: number
  creditsConsumed: number
}

function present(r: DayRow) {
  return {
    date: r.day,
    ordersCreated: Number(r.created),
    ordersPaid: Number(r.paid),
    revenue: fenToYuanNumber(Number(r.revenue)),
    refunded: fenToYuanNumber(Number(r.refunded)),
    netRevenue: fenToYuanNumber(Number(r.revenue) - Number(r.refunded)),
    creditsSold: Number(r.creditsSold),
    creditsConsumed: Number(r.creditsConsumed),
  }
}

export function createStats(sql: Sql) {
  return {
    /** `from`..`to` inclusive (YYYY-MM-DD; default the last 7 days up to today), at most 366 days; 400 otherwise. */
    async daily(q: { from?: string; to?: string }) {
      const DAY = /^\d{4}-\d{2}-\d{2}$/
      const toDay = q.to ?? chinaDay(Date.now())
      const fromDay = q.from ?? chinaDay(parseInstant(toDay, 'to').getTime() - 6 * 86_400_000)
      if (!DAY.test(fromDay) || !DAY.test(toDay)) throw new AppError(400, 'INVALID_PARAMS', 'from/to 格式为 YYYY-MM-DD')
      const start = parseInstant(fromDay, 'from')
      const end = parseInstant(toDay, 'to', true)
      const days = Math.round((end.getTime() - start.getTime()) / 86_400_000)
      if (days < 1) throw new AppError(400, 'INVALID_PARAMS', 'from 不能晚于 to')
      if (days > 366) throw new AppError(400, 'INVALID_PARAMS', '统计区间最长 366 天')
      // The daily roll-up (migration 0009), kept by triggers in the same transaction as each order, payment,
      // refund and ledger row it sums: a day's few rows (one per writing connection), not the day's orders.
      const rows = await sql<DayRow[]>`
        with days as (
          select d::date as day from generate_series(${fromDay}::date, ${toDay}::date, interval '1 day') d
        ),
        kept as (
          select day, sum(created) as created, sum(paid) as paid, sum(revenue) as revenue, sum(refunded) as refunded,
                 sum(credits_sold) as credits_sold, sum(credits_consumed) as credits_consumed
            from daily_stats where day >= ${fromDay}::date and day <= ${toDay}::date group by day
        )
        select to_char(days.day, 'YYYY-MM-DD') as day, coalesce(kept.created, 0)::bigint as created,
               coalesce(kept.paid, 0)::bigint as paid, coalesce(kept.revenue, 0)::bigint as revenue,
               coalesce(kept.refunded, 0)::bigint as refunded, coalesce(kept.credits_sold, 0)::bigint as "creditsSold",
               coalesce(kept.credits_consumed, 0)::bigint as "creditsConsumed"
          from days left join kept using (day)
         order by days.day`
      const sum = (k: Exclude<keyof DayRow, 'day'>) => rows.reduce((a, r) => a + Number(r[k]), 0)
      return {
        from: fromDay,
        to: toDay,
        timezone: 'Asia/Shanghai',
        days: rows.map(present),
        totals: present({
          day: '',
          created: sum('created'),
          paid: sum('paid'),
          revenue: sum('revenue'),
          refunded: sum('refunded'),
          creditsSold: sum('creditsSold'),
          creditsConsumed: sum('creditsConsumed'),
        }),
      }
    },
  }
}
export type Stats = ReturnType<typeof createStats>
