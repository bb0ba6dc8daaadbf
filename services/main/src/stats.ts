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
      const rows = await sql<DayRow[]>`
        with days as (
          select to_char(d, 'YYYY-MM-DD') as day from generate_series(${fromDay}::date, ${toDay}::date, interval '1 day') d
        ),
        created as (
          select to_char(created_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, count(*)::int as n
            from orders where created_at >= ${start} and created_at < ${end} group by 1
        ),
        paid as (
          select to_char(paid_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, count(*)::int as n,
                 coalesce(sum(paid_amount_fen) filter (where payment_method is distinct from 'CREDITS'), 0)::bigint as revenue,
                 coalesce(sum(credits) filter (where kind = 'credits' and credits_granted), 0)::bigint as credits_sold
            from orders where paid_at >= ${start} and paid_at < ${end} and paid_at is not null group by 1
        ),
        refunded as (
          select to_char(completed_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, coalesce(sum(amount_fen), 0)::bigint as n
            from refunds where status = 'SUCCEEDED' and via = 'PROVIDER' and completed_at >= ${start} and completed_at < ${end} group by 1
        ),
        consumed as (
          select to_char(created_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, coalesce(-sum(delta), 0)::bigint as n
            from credit_ledger where type = 'CONSUME' and created_at >= ${start} and created_at < ${end} group by 1
        )
        select days.day, coalesce(created.n, 0) as created, coalesce(paid.n, 0) as paid, coalesce(paid.revenue, 0) as revenue,
               coalesce(refunded.n, 0) as refunded, coalesce(paid.credits_sold, 0) as "creditsSold",
               coalesce(consumed.n, 0) as "creditsConsumed"
          from days left join created using (day) left join paid using (day) left join refunded using (day)
               left join consumed using (day)
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
