/**
 * Exactly-once under duplicates and concurrency: two main and two pay instances on the same
 * databases. CHAOS_ORDERS (default 1000) Alipay QR orders are paid at the sandbox without its own
 * notify, then every notify is delivered 5 times to EACH pay instance, all concurrently, while
 * payment-status polls hit both main instances. Every order must end PAID and credited once.
 */
import t from 'tap'
import { http, until } from '../e2e/fixtures/stack.ts'
import { moneyInvariants, pool, startCluster } from './fixtures/cluster.ts'

t.setTimeout(900_000)
const ORDERS = Number(process.env.CHAOS_ORDERS ?? 1000)
const USERS = 20
const COPIES = 5 // per pay instance

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const cluster = await startCluster({ mains: 2, pays: 2, extra: { main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password } } })
t.teardown(() => cluster.stop())
const { mains, pays, sandbox } = cluster

let paidOrders: { id: number; orderNo: string; user: number }[] = []

t.test(`${ORDERS} orders, every notify ×${COPIES} to both pay instances → each credited once`, async (t) => {
  const started = Date.now()
  const users = await pool(
    Array.from({ length: USERS }, (_, i) => i),
    4,
    async (i) => {
      const res = await http(`${mains[i % 2]!.url}/api/auth/register`, { body: { email: `once${i}@example.com`, password: 'password123' } })
      if (res.status !== 200) throw new Error(res.text)
      return res.json.data.token as string
    },
  )

  // Orders over both main instances (each talks to its own pay instance).
  const orders = await pool(
    Array.from({ length: ORDERS }, (_, i) => i),
    12,
    async (i) => {
      const res = await http(`${mains[i % 2]!.url}/api/credits/purchase`, {
        token: users[i % USERS],
        body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
      })
      if (res.status !== 200) throw new Error(`purchase ${i}: ${res.status} ${res.text}`)
      return { id: res.json.data.id as number, orderNo: res.json.data.orderNo as string, user: i % USERS }
    },
  )
  t.equal(new Set(orders.map((o) => o.orderNo)).size, ORDERS, 'distinct orders')

  // Pollers: payment-status on both mains for random orders until the run ends.
  let polling = true
  let polls = 0
  let pollErrors = 0
  const pollers = Array.from({ length: 4 }, async (_, k) => {
    while (polling) {
      const o = orders[Math.floor(Math.random() * orders.length)]!
      const res = await http(`${mains[k % 2]!.url}/api/orders/${o.id}/payment-status`, { token: users[o.user] })
      polls++
      if (res.status >= 500) pollErrors++
    }
  })

  // Pay at the provider (no notify from the sandbox itself), then send the duplicates.
  let sent = 0
  let acked = 0
  let notify5xx = 0
  await pool(orders, 10, async (o) => {
    const paid = await http(`${sandbox}/control/alipay/trades/${o.orderNo}/pay`, { body: { notify: false } })
    if (paid.status !== 200) throw new Error(`sandbox pay ${o.orderNo}: ${paid.text}`)
    const results = await Promise.all(
      pays.map((p) =>
        http(`${sandbox}/control/alipay/trades/${o.orderNo}/notify`, {
          body: { times: COPIES, notifyUrl: `${p.url}/api/pay/notify/alipay` },
        }),
      ),
    )
    for (const r of results) {
      if (r.status !== 200) throw new Error(`sandbox notify ${o.orderNo}: ${r.text}`)
      for (const d of r.json.deliveries as { status: number | null; body: string | null }[]) {
        sent++
        if (d.status === 200 && d.body?.trim() === 'success') acked++
        if (d.status !== null && d.status >= 500) notify5xx++
      }
    }
  })

  await until(
    'every order PAID and credited in main',
    async () => {
      const [r] = await cluster.mainSql<{ paid: number; credited: number }[]>`
        select count(*) filter (where status = 'PAID')::int as paid,
               count(*) filter (where credits_granted)::int as credited
          from orders`
      return r!.paid === ORDERS && r!.credited === ORDERS
    },
    180_000,
  )
  polling = false
  await Promise.all(pollers)

  const inv = await moneyInvariants(cluster.mainSql)
  const [ledger] = await cluster.mainSql<{ rows: number; total: number }[]>`
    select count(*)::int as rows, coalesce(sum(delta), 0)::int as total from credit_ledger where type = 'PURCHASE'`
  const [balances] = await cluster.mainSql<{ total: number }[]>`select coalesce(sum(credit_balance), 0)::int as total from users`
  const [attempts] = await cluster.paySql<{ paid: number; events: number }[]>`
    select (select count(*) from payment_attempts where status = 'PAID')::int as paid,
           (select count(*) from outbox)::int as events`
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  t.comment(
    `exactly-once: orders ${ORDERS}, notifies sent ${sent} (duplicates ${sent - ORDERS}), acknowledged ${acked}, ` +
      `notify 5xx ${notify5xx}, payment-status polls ${polls} (5xx ${pollErrors}), ledger rows ${ledger!.rows}, ` +
      `double credits ${inv.doubleCredits}, balance≠ledger users ${inv.balanceDrift}, paid-not-credited ${inv.paidNotCredited}, ` +
      `pay attempts PAID ${attempts!.paid}, events ${attempts!.events}, ${seconds} s`,
  )
  t.equal(sent, ORDERS * COPIES * pays.length, 'every duplicate was sent')
  t.equal(acked, sent, 'pay acknowledged every copy (success)')
  t.equal(notify5xx, 0)
  t.equal(pollErrors, 0, 'no payment-status poll failed')
  t.equal(inv.doubleCredits, 0, 'double credits')
  t.equal(inv.balanceDrift, 0, 'every balance equals its ledger')
  t.equal(inv.paidNotCredited, 0)
  t.equal(ledger!.rows, ORDERS, 'one PURCHASE row per order')
  t.equal(ledger!.total, ORDERS * 200)
  t.equal(balances!.total, ORDERS * 200, 'the balances sum to what was bought')
  t.equal(attempts!.paid, ORDERS, 'one paid attempt per order in pay')
  paidOrders = orders
})

t.test('the same full refund sent twice to each main instance at once refunds once', async (t) => {
  const REFUNDS = Math.min(100, paidOrders.length)
  const admin = (await http(`${mains[0]!.url}/api/auth/login`, { body: ADMIN })).json.data.token as string
  const targets = paidOrders.slice(0, REFUNDS)
  const outcome = { succeeded: 0, refused4xx: 0, errors5xx: 0 }
  await pool(targets, 5, async (o) => {
    const answers = await Promise.all(
      [0, 1, 0, 1].map((k) => http(`${mains[k]!.url}/api/admin/orders/${o.id}/refund`, { token: admin, body: { reason: '重复退款测试' } })),
    )
    for (const a of answers) {
      if (a.status === 200) outcome.succeeded++
      else if (a.status >= 500) outcome.errors5xx++
      else outcome.refused4xx++
    }
  })
  const ids = targets.map((o) => o.id)
  const [main] = await cluster.mainSql<{ refunded: number; rows: number; clawed: number }[]>`
    select (select count(*) from orders where id = any(${ids}) and status = 'REFUNDED')::int as refunded,
           (select count(*) from credit_ledger where type = 'REFUND' and order_id = any(${ids}))::int as rows,
           (select coalesce(-sum(delta), 0) from credit_ledger where type = 'REFUND' and order_id = any(${ids}))::int as clawed`
  const nos = targets.map((o) => o.orderNo)
  const [sandboxSide] = await cluster.sandboxSql<{ n: number; fen: number }[]>`
    select count(*)::int as n, coalesce(sum(r.refund_amount), 0)::int as fen from alipay_refunds r
      join alipay_trades t on t.id = r.trade_id where t.out_trade_no = any(${nos})`
  const [price] = await cluster.mainSql<{ fen: number }[]>`select amount_fen::int as fen from orders where id = ${ids[0]!}`
  const inv = await moneyInvariants(cluster.mainSql)
  t.comment(
    `exactly-once refunds: orders ${REFUNDS}, requests ${REFUNDS * 4} (2 per main instance), succeeded ${outcome.succeeded}, ` +
      `refused ${outcome.refused4xx}, 5xx ${outcome.errors5xx}, REFUNDED ${main!.refunded}, REFUND ledger rows ${main!.rows}, ` +
      `provider refunds ${sandboxSide!.n}, double refunds ${sandboxSide!.n - REFUNDS}, balance≠ledger users ${inv.balanceDrift}`,
  )
  t.equal(outcome.errors5xx, 0)
  t.equal(outcome.succeeded, REFUNDS, 'one request per order succeeded')
  t.equal(main!.refunded, REFUNDS)
  t.equal(main!.rows, REFUNDS, 'credits clawed back once per order')
  t.equal(main!.clawed, REFUNDS * 200)
  t.equal(sandboxSide!.n, REFUNDS, 'the provider refunded each order once')
  t.equal(sandboxSide!.fen, REFUNDS * price!.fen, 'the provider refunded exactly the paid amounts')
  t.equal(inv.balanceDrift, 0)
})
