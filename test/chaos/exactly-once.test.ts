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

const cluster = await startCluster({ mains: 2, pays: 2 })
t.teardown(() => cluster.stop())
const { mains, pays, sandbox } = cluster

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
})
