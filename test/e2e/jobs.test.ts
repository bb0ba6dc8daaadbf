/**
 * main's background work on pg-boss with two main processes on one database: overdue orders are
 * expired and their provider trades closed once, paid orders nobody told main about (pay's push off,
 * some notifies never sent) are found by reconciliation and credited once, and after one instance
 * is stopped with SIGTERM (a graceful exit) the other keeps doing all of it.
 */
import t, { type Test } from 'tap'
import { freePort, startService, type RunningService } from '@paysys/devkit'
import { http, scanQr, startStack, until } from './fixtures/stack.ts'

const stack = await startStack({
  extra: {
    pay: { OUTBOX_PUSH_ENABLED: 'false' },
    // info: the sweep logs each order it expired and each trade it closed (counted below).
    main: { LOG_LEVEL: 'info', RECONCILE_AFTER_SECONDS: '0', EXPIRY_SWEEP_MS: '300' },
  },
})
const main1 = stack.services.main
const main2: RunningService = await startService('main', { ...stack.env.main, PORT: String(await freePort()) })
t.teardown(async () => {
  await main2.stop()
  await stack.stop()
})
const { sandbox, mainSql, paySql } = stack
const TASKS = ['idempotency-prune', 'orders-expire', 'orders-reconcile', 'refunds-retry']

/** Order numbers in the sweep's log lines with this message, from both processes. */
function logged(msg: string): string[] {
  const out: string[] = []
  for (const line of (main1.output() + main2.output()).split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line) as { msg?: string; orders?: string[] }
      if (entry.msg === msg) out.push(...(entry.orders ?? []))
    } catch {
      /* not a log line */
    }
  }
  return out
}
const times = (list: string[], x: string) => list.filter((y) => y === x).length

async function register(base: string, email: string) {
  const res = await http(`${base}/api/auth/register`, { body: { email, password: 'password123' } })
  if (res.status !== 200) throw new Error(res.text)
  return res.json.data.token as string
}
/** A CREDITS_200 order with an Alipay QR trade started at the sandbox, scanned by the buyer (so a close closes it). */
async function purchase(base: string, token: string): Promise<{ id: number; orderNo: string }> {
  const res = await http(`${base}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' },
  })
  if (res.status !== 200) throw new Error(res.text)
  await scanQr(sandbox, res.json.data.paymentInfo.qrCode)
  return res.json.data
}
const completedRuns = async (queue: string) => {
  const [r] = await mainSql`select count(*)::int as n from pgboss.job where name = ${queue} and state = 'completed'`
  return r!.n as number
}
const trade = async (orderNo: string) => (await http(`${sandbox}/control/alipay/trades/${orderNo}`)).json

/** Expired once, trade closed once (sandbox, pay's attempt, main's flag, one close in the logs of both instances). */
async function expiredOnce(t: Test, orders: { id: number; orderNo: string }[]) {
  const ids = orders.map((o) => o.id)
  await until('overdue orders EXPIRED with their trades closed', async () => {
    const rows = await mainSql`select 1 from orders where id = any(${ids}) and status = 'EXPIRED' and not trade_close_pending`
    return rows.length === orders.length
  })
  for (const o of orders) {
    t.match(await trade(o.orderNo), { status: 'TRADE_CLOSED', closedAt: String }, `${o.orderNo} closed at the sandbox`)
    const attempts = await paySql`select status, closed_at from payment_attempts where order_no = ${o.orderNo}`
    t.equal(attempts.length, 1)
    t.equal(attempts[0]!.status, 'CLOSED', `${o.orderNo} closed in pay`)
  }
  // Give both instances more runs: nothing is expired or closed a second time.
  const runs = await completedRuns('orders-expire')
  await until('two more expiry runs', async () => (await completedRuns('orders-expire')) >= runs + 2)
  const expired = logged('orders expired')
  const closed = logged('provider trades closed')
  for (const o of orders) {
    t.equal(times(expired, o.orderNo), 1, `${o.orderNo} expired once`)
    t.equal(times(closed, o.orderNo), 1, `${o.orderNo} trade closed once`)
  }
}

t.test('the pgboss schema in main database holds the four periodic tasks', async (t) => {
  const queues = await mainSql`select name, policy from pgboss.queue where not starts_with(name, '__pgboss') order by name`
  t.same(
    queues.map((q) => q.name),
    TASKS,
  )
  t.ok(
    queues.every((q) => q.policy === 'stately'),
    'one queued and one running job per task',
  )
  const schedules = await mainSql`select name from pgboss.schedule order by name`
  t.same(
    schedules.map((s) => s.name),
    TASKS,
    're-seeded by cron',
  )
  await until('every task has run', async () => {
    const rows = await mainSql`select distinct name from pgboss.job where state = 'completed'`
    return TASKS.every((n) => rows.some((r) => r.name === n))
  })
})

t.test('two instances: overdue orders expired and trades closed once; unnotified payments credited once', async (t) => {
  const token = await register(main1.url, 'jobs@example.com')
  const overdue = [await purchase(main1.url, token), await purchase(main2.url, token), await purchase(main1.url, token)]
  const paid: { id: number; orderNo: string }[] = []
  for (let i = 0; i < 4; i++) {
    const o = await purchase(i % 2 ? main2.url : main1.url, token)
    paid.push(o)
    // Odd: the provider never notifies; even: pay hears the notify but does not push it to main.
    const r = await http(`${sandbox}/control/alipay/trades/${o.orderNo}/pay`, { body: { notify: i % 2 === 0 } })
    t.equal(r.status, 200, `paid ${o.orderNo} at the sandbox`)
  }
  await mainSql`update orders set expire_at = now() - interval '1 second' where id = any(${overdue.map((o) => o.id)})`

  await until('paid orders PAID in main', async () => {
    const rows = await mainSql`select 1 from orders where id = any(${paid.map((o) => o.id)}) and status = 'PAID' and credits_granted`
    return rows.length === paid.length
  })
  await expiredOnce(t, overdue)
  const ledger = await mainSql`select order_id, count(*)::int as n from credit_ledger where type = 'PURCHASE' group by order_id`
  t.same(ledger.map((r) => r.n).sort(), [1, 1, 1, 1], 'one PURCHASE row per paid order')
  t.equal((await http(`${main2.url}/api/credits/balance`, { token })).json.data.balance, 4 * 200)
  const [pushed] = await paySql`select count(*)::int as n from outbox where status = 'DELIVERED'`
  t.equal(pushed!.n, 0, 'nothing was pushed: reconciliation did it')
})

t.test('after SIGTERM of one instance, the other keeps sweeping', async (t) => {
  await main1.stop()
  t.equal(main1.child.exitCode, 0, 'graceful exit (jobs drained, pool closed) before the forced-exit deadline')
  t.match(main1.output(), /shutting down/)
  t.notMatch(main1.output(), /periodic task failed/)

  const token = await register(main2.url, 'jobs-after@example.com')
  const overdue = await purchase(main2.url, token)
  const paid = await purchase(main2.url, token)
  t.equal((await http(`${sandbox}/control/alipay/trades/${paid.orderNo}/pay`, { body: { notify: false } })).status, 200)
  await mainSql`update orders set expire_at = now() - interval '1 second' where id = ${overdue.id}`
  await until('the unnotified payment is credited', async () => {
    const [r] = await mainSql`select status, credits_granted from orders where id = ${paid.id}`
    return r!.status === 'PAID' && r!.credits_granted
  })
  await expiredOnce(t, [overdue])
  t.equal((await http(`${main2.url}/api/credits/balance`, { token })).json.data.balance, 200)
})
