/**
 * The figures kept with the rows (migration 0009, issue 19): the daily roll-up behind /api/admin/stats/daily and the
 * per-user / per-address counts behind `totalElements` must equal what a direct computation over the raw rows gives,
 * after a mix of concurrent purchases, payments (provider and credits), consumes, refunds and edited timestamps.
 */
import t from 'tap'
import { createOrdersRepo } from '../src/orders/repo.ts'
import { bearer, giveCredits, registerAdmin, registerUser, startMain } from './helpers.ts'

const main = await startMain()
t.teardown(() => main.close())
const { app, sql } = main
const admin = await registerAdmin(app, sql, 'rollup-admin@example.com')
const orders = createOrdersRepo(sql)
const [credits] = await sql<{ id: number }[]>`select id from products where package_code = 'CREDITS_500'`
const [goods] = await sql<{ id: number }[]>`select id from products where sku = 'GOODS_GIFT_BOX'`
const call = (method: 'GET' | 'POST', url: string, token: string, payload?: object) =>
  app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) })

/** The daily figures computed from the raw rows, by the rules the roll-up keeps (the statement it replaced). */
async function direct(from: string, to: string) {
  const start = new Date(`${from}T00:00:00+08:00`)
  const end = new Date(new Date(`${to}T00:00:00+08:00`).getTime() + 86_400_000)
  const rows = await sql`
    with days as (select to_char(d, 'YYYY-MM-DD') as day from generate_series(${from}::date, ${to}::date, interval '1 day') d),
    created as (select to_char(created_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, count(*)::int as n
      from orders where created_at >= ${start} and created_at < ${end} group by 1),
    paid as (select to_char(paid_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, count(*)::int as n,
        coalesce(sum(paid_amount_fen) filter (where payment_method is distinct from 'CREDITS'), 0)::bigint as revenue,
        coalesce(sum(credits) filter (where kind = 'credits' and credits_granted), 0)::bigint as credits_sold
      from orders where paid_at >= ${start} and paid_at < ${end} group by 1),
    refunded as (select to_char(completed_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, sum(amount_fen)::bigint as n
      from refunds where status = 'SUCCEEDED' and via = 'PROVIDER' and completed_at >= ${start} and completed_at < ${end} group by 1),
    consumed as (select to_char(created_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, -sum(delta)::bigint as n
      from credit_ledger where type = 'CONSUME' and created_at >= ${start} and created_at < ${end} group by 1)
    select days.day as date, coalesce(created.n, 0)::int as "ordersCreated", coalesce(paid.n, 0)::int as "ordersPaid",
           coalesce(paid.revenue, 0)::int as revenue, coalesce(refunded.n, 0)::int as refunded,
           coalesce(paid.credits_sold, 0)::int as "creditsSold", coalesce(consumed.n, 0)::int as "creditsConsumed"
      from days left join created using (day) left join paid using (day) left join refunded using (day) left join consumed using (day)
     order by days.day`
  return rows.map((r) => ({ ...r, revenue: r.revenue / 100, refunded: r.refunded / 100 }))
}

t.test('daily roll-up and kept counts equal a direct computation after purchases, payments, consumes and refunds', async (t) => {
  const users = await Promise.all(['r1', 'r2', 'r3'].map((n) => registerUser(app, `rollup-${n}@example.com`)))
  for (const u of users) await giveCredits(sql, u.userId, 10_000)
  // Concurrent purchases (several connections, so several rows per day in the roll-up).
  const created = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      call(
        'POST',
        '/api/orders',
        users[i % 3]!.token,
        i % 4 === 0 ? { productId: goods!.id, deliveryMethod: 'pickup' } : { productId: credits!.id },
      ),
    ),
  )
  t.same(
    created.map((r) => r.statusCode),
    created.map(() => 200),
    created.find((r) => r.statusCode !== 200)?.body ?? 'all created',
  )
  const made = created.map((r) => r.json().data as { id: number; orderNo: string; amount: number })
  // Half the credits orders paid through a provider (one of them twice: nothing counted twice), goods paid with credits.
  const paid = await Promise.all(
    made
      .filter((_, i) => i % 4 !== 0 && i % 2 === 1)
      .map((o) =>
        orders.markPaid({
          orderNo: o.orderNo,
          amountFen: Math.round(o.amount * 100),
          tradeNo: `T${o.id}`,
          paidAt: new Date(),
          provider: 'ALIPAY',
          channel: 'qr',
        }),
      ),
  )
  t.ok(paid.every((p) => p.outcome === 'PAID'))
  const again = made.find((_, i) => i % 4 !== 0 && i % 2 === 1)!
  const twice = await orders.markPaid({
    orderNo: again.orderNo,
    amountFen: Math.round(again.amount * 100),
    tradeNo: 'T',
    paidAt: new Date(),
    provider: 'ALIPAY',
    channel: 'qr',
  })
  t.equal(twice.outcome, 'ALREADY_PAID')
  for (const [i, o] of made.entries())
    if (i % 4 === 0 && i < 20)
      t.equal((await call('POST', `/api/orders/${o.id}/pay`, users[i % 3]!.token, { method: 'CREDITS' })).statusCode, 200)
  // Consumes, concurrently.
  const consumed = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      call('POST', '/api/credits/consume', users[i % 3]!.token, { credits: 7 + i, description: 'job', idempotencyKey: `rollup-${i}` }),
    ),
  )
  t.ok(consumed.every((r) => r.statusCode === 200))
  // Refunds: one through the provider succeeds, one fails, one through credits succeeds (not provider revenue).
  const paidIds = paid.map((p) => (p.outcome === 'PAID' ? p.order : null)!)
  const refund = async (o: { id: number; userId: number }, via: string, no: string) =>
    (
      await sql`insert into refunds (refund_no, order_id, user_id, amount_fen, via) values (${no}, ${o.id}, ${o.userId}, 1000, ${via}) returning id`
    )[0]!.id
  const r1 = await refund(paidIds[0]!, 'PROVIDER', 'RF-rollup-1')
  const r2 = await refund(paidIds[1]!, 'PROVIDER', 'RF-rollup-2')
  const r3 = await refund(paidIds[2]!, 'CREDITS', 'RF-rollup-3')
  await sql`update refunds set status = 'SUCCEEDED', completed_at = now() where id in (${r1}, ${r3}) and status = 'PENDING'`
  await sql`update refunds set status = 'FAILED' where id = ${r2} and status = 'PENDING'`
  // Timestamps moved by hand (as an operator or a test would): the figures move with them.
  await sql`update orders set created_at = '2026-03-10T23:00:00+08:00', paid_at = '2026-03-11T00:30:00+08:00' where id = ${paidIds[3]!.id}`
  await sql`update refunds set completed_at = '2026-03-12T08:00:00+08:00' where id = ${r1}`

  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10)
  for (const [from, to] of [
    ['2026-03-09', '2026-03-13'],
    [today, today],
    ['2026-01-01', today],
  ] as const) {
    const r = await call('GET', `/api/admin/stats/daily?from=${from}&to=${to}`, admin.token)
    t.equal(r.statusCode, 200, r.body)
    const days = r.json().data.days.map((d: Record<string, unknown>) => {
      const { netRevenue, ...rest } = d
      void netRevenue
      return rest
    })
    t.same(days, await direct(from, to), `${from}..${to}: the roll-up equals the raw rows`)
  }
  const all = (await call('GET', `/api/admin/stats/daily?from=2026-01-01&to=${today}`, admin.token)).json().data.totals
  t.ok(all.ordersCreated >= 30 && all.ordersPaid >= 15 && all.refunded > 0 && all.creditsConsumed > 0, 'figures moved')
  t.match((await call('GET', '/api/admin/stats/daily?from=2026-03-10&to=2026-03-12', admin.token)).json().data.totals, {
    ordersCreated: 1,
    ordersPaid: 1,
    refunded: 10,
  })

  // Admin search over whole China days counts from the roll-up: the same as counting the rows.
  for (const [from, to] of [
    ['2026-03-10', '2026-03-10'],
    ['2026-03-09', today],
  ] as const) {
    const [c] = await sql`select count(*)::int as n from orders
      where created_at >= ${new Date(`${from}T00:00:00+08:00`)} and created_at < ${new Date(new Date(`${to}T00:00:00+08:00`).getTime() + 86_400_000)}`
    const r = (await call('GET', `/api/admin/orders?from=${from}&to=${to}`, admin.token)).json().data
    t.equal(r.totalElements, c!.n, `admin search ${from}..${to}`)
  }
  t.equal((await call('GET', '/api/admin/orders?from=2026-03-10&to=2026-03-10', admin.token)).json().data.totalElements, 1)

  // The kept counts: per user (orders, ledger, and the numbering 1..n), per address.
  const [bad] = await sql`
    select count(*)::int as n from user_counters c
     where c.orders <> (select count(*) from orders o where o.user_id = c.user_id)
        or c.orders_seq <> (select coalesce(max(user_seq), 0) from orders o where o.user_id = c.user_id)
        or c.ledger <> (select count(*) from credit_ledger l where l.user_id = c.user_id)`
  t.equal(bad!.n, 0, 'user_counters equal the rows')
  const [gaps] = await sql`select count(*)::int as n from (select user_id, count(*) as n, max(user_seq) as m, count(distinct user_seq) as d
    from orders group by user_id) x where n <> m or n <> d`
  t.equal(gaps!.n, 0, 'each user numbered 1..n')
  const [emails] = await sql`select count(*)::int as n from email_order_counts e
    where e.orders <> (select count(*) from orders o where o.customer_email = e.email)`
  t.equal(emails!.n, 0, 'email_order_counts equal the rows')
  const u = users[0]!
  const [n] = await sql`select count(*)::int as n from orders where user_id = ${u.userId}`
  const page = (await call('GET', '/api/orders?page=1&size=4', u.token)).json().data
  t.equal(page.totalElements, n!.n)
  const ids = await sql`select id from orders where user_id = ${u.userId} order by created_at desc, id desc limit 4 offset 4`
  t.same(
    page.content.map((o: { id: number }) => o.id),
    ids.map((r) => r.id),
    'page 2 by key range: the same orders as by offset',
  )
  const ledger = (await call('GET', '/api/credits/ledger?page=0&size=3', u.token)).json().data
  const [ln] = await sql`select count(*)::int as n from credit_ledger where user_id = ${u.userId}`
  t.equal(ledger.totalElements, ln!.n)
  const byEmail = (await call('GET', `/api/admin/orders?email=${encodeURIComponent(u.email)}`, admin.token)).json().data
  t.equal(byEmail.totalElements, n!.n)
})

t.test('an order deleted by hand: counts follow, the history pages by offset, nothing missing or twice', async (t) => {
  const u = await registerUser(app, 'rollup-gap@example.com')
  const made: number[] = []
  for (let i = 0; i < 7; i++) made.push((await call('POST', '/api/orders', u.token, { productId: credits!.id })).json().data.id)
  await sql`delete from orders where id = ${made[2]!}`
  const pages = await Promise.all([0, 1, 2].map((p) => call('GET', `/api/orders?page=${p}&size=3`, u.token)))
  t.equal(pages[0]!.json().data.totalElements, 6)
  t.same(
    pages.flatMap((p) => p.json().data.content.map((o: { id: number }) => o.id)),
    made.filter((_, i) => i !== 2).reverse(),
  )
})
