/**
 * Exactly-once under duplicates and concurrency: two main and two pay instances on the same
 * databases, over Alipay (QR), WeChat Pay (native), Epay and Stripe (BANK_CARD, Checkout).
 * 1. CHAOS_ORDERS (default 200) orders, round robin over the providers, are paid at the sandbox
 *    without its own notify; every notify is then delivered COPIES times to EACH pay instance, all
 *    concurrently, while payment-status polls hit both mains. Meanwhile every event pay writes for
 *    main (its outbox) is pushed again by this test, signed with the service key and a fresh nonce,
 *    PUSH_COPIES times to EACH main, racing pay's own delivery; once everything is delivered each
 *    event is replayed to both mains a second time, and one signed request is re-posted byte for
 *    byte (same nonce), which main must refuse.
 * 2. On REFUNDS paid orders, partial refunds race full refunds (two of each, over both mains at once).
 * After each part the independent audit (fixtures/audit.ts) compares the provider's records, pay's
 * attempts, refunds and events, and main's orders, ledger and processed event ids, and scans every
 * process's log for error-level and unique-violation lines.
 */
import t from 'tap'
import { request } from 'undici'
import { http, until } from '../e2e/fixtures/stack.ts'
import { moneyInvariants, pool, startCluster } from './fixtures/cluster.ts'
import { figuresLine, logsIn, moneyAudit, providerTrades, serviceKey, signedHeaders, type ExpectedLine } from './fixtures/audit.ts'

t.setTimeout(900_000)
const ORDERS = Number(process.env.CHAOS_ORDERS ?? 200)
const USERS = 20
const COPIES = 3 // notifies per pay instance
const PUSH_COPIES = 2 // pushes of each event per main instance, racing pay's own
const PACKAGE = { code: 'CREDITS_200', credits: 200 }
const PARTIAL_YUAN = 3 // 300 fen of 1000: a whole number of credits (200 × 300 / 1000 = 60)

interface Provider {
  method: string
  channel: string
  sandbox: 'alipay' | 'wechat' | 'epay' | 'stripe'
  notifyPath: string
  /** The body a protocol acknowledges with (others: any 2xx). */
  ack?: string
}
const PROVIDERS: Provider[] = [
  { method: 'ALIPAY', channel: 'qr', sandbox: 'alipay', notifyPath: '/api/pay/notify/alipay', ack: 'success' },
  { method: 'WECHAT_PAY', channel: 'native', sandbox: 'wechat', notifyPath: '/api/pay/notify/wechat' },
  { method: 'EPAY', channel: 'alipay', sandbox: 'epay', notifyPath: '/api/pay/notify/epay', ack: 'success' },
  { method: 'BANK_CARD', channel: 'card', sandbox: 'stripe', notifyPath: '/api/pay/notify/stripe' },
]

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const cluster = await startCluster({ mains: 2, pays: 2, extra: { main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password } } })
t.teardown(() => cluster.stop())
const { mains, pays, sandbox } = cluster
const dbs = { main: cluster.mainSql, pay: cluster.paySql, sandbox: cluster.sandboxSql }
const key = serviceKey(cluster.keys.serviceKeys)
const CALLBACK = '/api/orders/callback'

/** Log lines this suite provokes on purpose. */
const EXPECTED: ExpectedLine[] = []

type Order = { id: number; orderNo: string; user: number; provider: Provider }
let paidOrders: Order[] = []
let users: string[] = []

// ---- pushes of pay's events, replayed by the test ----
/** Per event id: main's answers to this test's pushes. */
const answers = new Map<string, { status: number; outcome: string | null }[]>()
async function push(payload: unknown, mainIndex: number, copies: number) {
  const body = JSON.stringify(payload)
  const eventId = (payload as { eventId: string }).eventId
  await Promise.all(
    Array.from({ length: copies }, async () => {
      const res = await request(`${mains[mainIndex]!.url}${CALLBACK}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signedHeaders(key, 'POST', CALLBACK, body) },
        body,
      })
      const text = await res.body.text()
      let outcome: string | null = null
      try {
        outcome = (JSON.parse(text) as { data?: { outcome?: string } }).data?.outcome ?? null
      } catch {
        /* not JSON */
      }
      const list = answers.get(eventId) ?? []
      list.push({ status: res.statusCode, outcome })
      answers.set(eventId, list)
    }),
  )
}
/** Every event in pay's outbox not pushed yet, pushed PUSH_COPIES times to each main at once. */
const pushedIds = new Set<string>()
async function pushNewEvents() {
  const rows = await cluster.paySql<{ event_id: string; payload: unknown }[]>`select event_id::text, payload from outbox order by id`
  const fresh = rows.filter((r) => !pushedIds.has(r.event_id))
  for (const r of fresh) pushedIds.add(r.event_id)
  await pool(fresh, 8, (r) => Promise.all(mains.map((_, k) => push(r.payload, k, PUSH_COPIES))))
  return fresh.length
}
/** A pusher racing pay's own deliveries until stopped. */
function startPusher() {
  let running = true
  const loop = (async () => {
    while (running) {
      await pushNewEvents()
      await new Promise((r) => setTimeout(r, 150))
    }
    await pushNewEvents()
  })()
  return async () => {
    running = false
    await loop
  }
}
/** Pushes answered: applied (the first application of the event id, by whichever push), duplicates, others. */
function pushTally(ids: string[]) {
  let sent = 0
  let duplicate = 0
  let applied = 0
  const refused: string[] = []
  const appliedTwice: string[] = []
  for (const id of ids) {
    const list = answers.get(id) ?? []
    sent += list.length
    let firsts = 0
    for (const a of list) {
      if (a.status !== 200) refused.push(`${id}: ${a.status}`)
      else if (a.outcome === 'DUPLICATE') duplicate++
      else firsts++
    }
    applied += firsts
    if (firsts > 1) appliedTwice.push(`${id}: applied ${firsts} times`)
  }
  return { sent, duplicate, applied, refused, appliedTwice }
}
/** Waits until pay has delivered every event (its own push, whatever ours did). */
const outboxDrained = () =>
  until(
    'every event in pay’s outbox DELIVERED',
    async () => {
      const [r] = await cluster.paySql<{ n: number }[]>`select count(*)::int as n from outbox where status <> 'DELIVERED'`
      return r!.n === 0
    },
    120_000,
  )

/** The audit over everything, with every process's log file. */
const audit = () => moneyAudit(dbs, { logs: logsIn(cluster.logDir), expected: EXPECTED })

t.test(`${ORDERS} orders, 4 providers: notifies and pushes duplicated to both instances credit once`, async (t) => {
  const started = Date.now()
  users = await pool(
    Array.from({ length: USERS }, (_, i) => i),
    4,
    async (i) => {
      const res = await http(`${mains[i % 2]!.url}/api/auth/register`, { body: { email: `once${i}@example.com`, password: 'password123' } })
      if (res.status !== 200) throw new Error(res.text)
      return res.json.data.token as string
    },
  )

  // Orders over both main instances (each talks to its own pay instance), round robin over the providers.
  const orders = await pool(
    Array.from({ length: ORDERS }, (_, i) => i),
    8,
    async (i): Promise<Order> => {
      const provider = PROVIDERS[i % PROVIDERS.length]!
      const res = await http(`${mains[i % 2]!.url}/api/credits/purchase`, {
        token: users[i % USERS],
        body: { packageCode: PACKAGE.code, paymentMethod: provider.method, channel: provider.channel, device: 'pc' },
      })
      if (res.status !== 200) throw new Error(`purchase ${i} ${provider.method}: ${res.status} ${res.text}`)
      return { id: res.json.data.id as number, orderNo: res.json.data.orderNo as string, user: i % USERS, provider }
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
  const stopPusher = startPusher()

  // Pay at the provider (no notify from the sandbox itself), then send the duplicate notifies.
  let sent = 0
  let acked = 0
  let notify5xx = 0
  const notAcked: string[] = []
  await pool(orders, 8, async (o) => {
    const s = o.provider.sandbox
    const paid = await http(`${sandbox}/control/${s}/trades/${o.orderNo}/pay`, { body: { notify: false } })
    if (paid.status !== 200) throw new Error(`sandbox pay ${s} ${o.orderNo}: ${paid.text}`)
    const results = await Promise.all(
      pays.map((p) =>
        http(`${sandbox}/control/${s}/trades/${o.orderNo}/notify`, {
          body: { times: COPIES, notifyUrl: `${p.url}${o.provider.notifyPath}` },
        }),
      ),
    )
    for (const r of results) {
      if (r.status !== 200) throw new Error(`sandbox notify ${s} ${o.orderNo}: ${r.text}`)
      for (const d of r.json.deliveries as { status: number | null; body: string | null }[]) {
        sent++
        const ok = d.status !== null && d.status >= 200 && d.status < 300 && (!o.provider.ack || d.body?.trim() === o.provider.ack)
        if (ok) acked++
        else notAcked.push(`${s} ${o.orderNo}: ${d.status} ${d.body?.slice(0, 100)}`)
        if (d.status !== null && d.status >= 500) notify5xx++
      }
    }
  })

  await until(
    'every order PAID in main',
    async () => {
      const [r] = await cluster.mainSql<{ paid: number }[]>`select count(*) filter (where status = 'PAID')::int as paid from orders`
      return r!.paid === ORDERS
    },
    180_000,
  )
  await outboxDrained()
  await stopPusher()
  polling = false
  await Promise.all(pollers)

  // The second replay: every event again, to both mains; then one signed request re-posted byte for byte.
  const events = await cluster.paySql<{ event_id: string; payload: unknown }[]>`select event_id::text, payload from outbox order by id`
  const before = new Map([...answers].map(([id, list]) => [id, list.length]))
  await pool(events, 8, (e) => Promise.all(mains.map((_, k) => push(e.payload, k, 1))))
  const replayed = events.flatMap((e) => (answers.get(e.event_id) ?? []).slice(before.get(e.event_id) ?? 0))
  const replayedDuplicate = replayed.filter((a) => a.status === 200 && a.outcome === 'DUPLICATE').length
  const sample = JSON.stringify(events[0]!.payload)
  const headers = { 'content-type': 'application/json', ...signedHeaders(key, 'POST', CALLBACK, sample) }
  const firstPost = await request(`${mains[0]!.url}${CALLBACK}`, { method: 'POST', headers, body: sample })
  await firstPost.body.text()
  const sameBytes = await request(`${mains[1]!.url}${CALLBACK}`, { method: 'POST', headers, body: sample })
  const sameBytesAnswer = await sameBytes.body.text()

  const pushes = pushTally(events.map((e) => e.event_id))
  const a = await audit()
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const perProvider = PROVIDERS.map((p) => `${p.sandbox}=${orders.filter((o) => o.provider === p).length}`).join(',')
  t.comment(
    `exactly-once: orders ${ORDERS} (${perProvider}), notifies sent ${sent} (duplicates ${sent - ORDERS}), acknowledged ${acked}, ` +
      `notify 5xx ${notify5xx}, payment-status polls ${polls} (5xx ${pollErrors}), events ${events.length}, ` +
      `pushes by the test ${pushes.sent} (first applications ${pushes.applied}, duplicate ${pushes.duplicate}, refused ${pushes.refused.length}, ` +
      `applied twice ${pushes.appliedTwice.length}), second replay ${replayed.length} (duplicate ${replayedDuplicate}), ` +
      `same-nonce re-post ${sameBytes.statusCode}, ${seconds} s`,
  )
  t.comment(figuresLine('exactly-once', a.figures))
  t.equal(sent, ORDERS * COPIES * pays.length, 'every duplicate notify was sent')
  t.same(notAcked, [], 'pay acknowledged every copy in its protocol')
  t.equal(notify5xx, 0)
  t.equal(pollErrors, 0, 'no payment-status poll failed')
  t.ok(pushes.sent >= events.length * mains.length * PUSH_COPIES, 'every event was pushed by the test to both mains, racing pay')
  t.same(pushes.refused, [], 'main answered every signed push 200')
  t.same(pushes.appliedTwice, [], 'no event id was applied twice, whichever push came first')
  t.equal(replayed.length, events.length * mains.length, 'the second replay reached both mains')
  t.equal(replayedDuplicate, replayed.length, 'every replayed event was answered DUPLICATE')
  t.equal(firstPost.statusCode, 200, 'a signed push is accepted once…')
  t.equal(sameBytes.statusCode, 401, `…and the same bytes (same nonce) are refused by the other main: ${sameBytesAnswer.slice(0, 200)}`)
  t.same(a.problems, [], 'the audit finds nothing')
  t.equal(a.figures.logFiles, mains.length + pays.length + 1, 'every process’s log was scanned')
  t.equal(a.figures.paidAtProvider, ORDERS, 'the provider took money for every order')
  t.equal(a.figures.paidInMain, ORDERS)
  t.equal(a.figures.purchaseRows, ORDERS, 'PURCHASE rows counted: one per order')
  t.equal(a.figures.purchaseCredits, ORDERS * PACKAGE.credits)
  t.equal(a.figures.paymentEvents, ORDERS, 'one PAYMENT_SUCCEEDED event per order')
  t.equal(a.figures.processedPaymentEvents, ORDERS, 'main processed one event id per order')
  t.equal(a.figures.paidAttempts, ORDERS, 'one paid attempt per order in pay')
  const [balances] = await cluster.mainSql<{ total: number }[]>`select coalesce(sum(credit_balance), 0)::int as total from users`
  t.equal(balances!.total, ORDERS * PACKAGE.credits, 'the balances sum to what was bought')
  paidOrders = orders
})

t.test('partial refunds racing full refunds on the same order, over both mains: refunded once, never above what was paid', async (t) => {
  // Up to 25 orders of each provider.
  const targets = PROVIDERS.flatMap((p) => paidOrders.filter((o) => o.provider === p).slice(0, 25))
  const admin = (await http(`${mains[0]!.url}/api/auth/login`, { body: ADMIN })).json.data.token as string
  const outcome = { succeeded: 0, pending: 0, failed: 0, refused4xx: 0, errors5xx: 0 }
  const other: string[] = []
  const stopPusher = startPusher()
  await pool(targets, 5, async (o) => {
    const requests = [
      { main: 0, amount: PARTIAL_YUAN },
      { main: 1, amount: undefined },
      { main: 1, amount: PARTIAL_YUAN },
      { main: 0, amount: undefined },
    ]
    const res = await Promise.all(
      requests.map((r) =>
        http(`${mains[r.main]!.url}/api/admin/orders/${o.id}/refund`, {
          token: admin,
          body: { reason: '部分与全额退款竞争', ...(r.amount ? { amount: r.amount } : {}) },
        }),
      ),
    )
    for (const a of res) {
      if (a.status === 200) {
        const s = a.json.data.refund.status as string
        if (s === 'SUCCEEDED') outcome.succeeded++
        else if (s === 'PENDING') outcome.pending++
        else outcome.failed++
      } else if (a.status >= 500) outcome.errors5xx++
      else if (a.status === 409 || a.status === 422) outcome.refused4xx++
      else other.push(`${a.status} ${a.text.slice(0, 200)}`)
    }
  })
  await until(
    'no refund PENDING',
    async () => {
      const [r] = await cluster.mainSql<{ n: number }[]>`select count(*)::int as n from refunds where status = 'PENDING'`
      return r!.n === 0
    },
    120_000,
  )
  await outboxDrained()
  await stopPusher()

  // Per order, from the provider's own refund records.
  const nos = new Set(targets.map((o) => o.orderNo))
  const trades = (await providerTrades(cluster.sandboxSql)).filter((tr) => nos.has(tr.outTradeNo))
  const refundedAt = new Map(trades.map((tr) => [tr.outTradeNo, tr]))
  const ids = targets.map((o) => o.id)
  const mainOrders = await cluster.mainSql<{ order_no: string; status: string; refunded: number; paid: number }[]>`
    select order_no, status, refunded_amount_fen::int as refunded, paid_amount_fen::int as paid from orders where id = any(${ids})`
  const [clawed] = await cluster.mainSql<{ net: number }[]>`
    select coalesce(-sum(delta), 0)::int as net from credit_ledger where type in ('REFUND', 'ADJUST') and order_id = any(${ids})`
  const notWhole = targets.filter(
    (o) => o.provider.sandbox !== 'epay' && refundedAt.get(o.orderNo)?.refunded !== refundedAt.get(o.orderNo)?.amount,
  )
  const epayPartial = targets.filter(
    (o) => o.provider.sandbox === 'epay' && refundedAt.get(o.orderNo)!.refunded < refundedAt.get(o.orderNo)!.amount,
  )
  const statusWrong = mainOrders.filter((m) => m.status !== (m.refunded === m.paid ? 'REFUNDED' : 'PARTIALLY_REFUNDED'))
  const providerFen = trades.reduce((n, tr) => n + tr.refunded, 0)
  const paidFen = trades.reduce((n, tr) => n + tr.amount, 0)
  const pushes = pushTally([...answers.keys()])
  const a = await audit()
  t.comment(
    `exactly-once refunds: orders ${targets.length}, requests ${targets.length * 4} (2 partial + 2 full, over both mains), ` +
      `succeeded ${outcome.succeeded}, pending ${outcome.pending}, failed ${outcome.failed}, refused ${outcome.refused4xx}, 5xx ${outcome.errors5xx}, ` +
      `provider refunded ${providerFen} of ${paidFen} fen, provider refund records ${trades.reduce((n, tr) => n + tr.refunds, 0)}, ` +
      `orders refunded in part ${mainOrders.filter((m) => m.refunded < m.paid).length} (Epay, one refund per order: ${epayPartial.length}), ` +
      `credits clawed back ${clawed!.net}, pushes applied twice ${pushes.appliedTwice.length}`,
  )
  t.comment(figuresLine('exactly-once refunds', a.figures))
  t.equal(outcome.errors5xx, 0)
  t.same(other, [], 'every refund request answered 200 or 409')
  t.same(a.problems, [], 'the audit finds nothing: provider refunds = main’s = pay’s per order, ≤ paid, clawback in proportion')
  t.same(notWhole, [], 'Alipay, WeChat and Stripe orders: a full refund was among the requests, so exactly what was paid went back')
  t.same(statusWrong, [], 'each order REFUNDED or PARTIALLY_REFUNDED as its refunded amount says')
  t.equal(clawed!.net, a.figures.refundedAtProviderFen / 5, 'credits clawed back = refunded fen × 200 credits / 1000 fen')
  t.same(pushes.appliedTwice, [], 'no refund event applied twice')
  const inv = await moneyInvariants(cluster.mainSql)
  t.equal(inv.balanceDrift, 0)
})
