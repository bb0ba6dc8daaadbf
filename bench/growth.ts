/**
 * `pnpm bench:growth`: what the read paths cost as the history grows (issue 19, cost growth).
 * One stack on throwaway databases (dropped at the end). Main, pay and the sandbox are filled by COPY:
 * first 1,000 orders (with their payment attempts and ledger rows) over 10,000 users, one user holding 10%
 * of them, plus one reconciliation day of 1,000 Alipay trades; every query is measured through the real
 * HTTP API (median of BENCH_GROWTH_REPEAT (40, at least 20) requests after a warm-up); then the history grows to
 * BENCH_GROWTH_ROWS (1,000,000) orders with the same shape and everything is measured again.
 * A line meets its target when its cost at N is at most 2× its cost at 1k.
 */
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import postgres from 'postgres'
import { http, startStack, type Http } from '../test/e2e/fixtures/stack.ts'
import { fmt, outDir, xml } from './common.ts'

const N = Number(process.env.BENCH_GROWTH_ROWS ?? 1_000_000)
const SMALL = 1000
const USERS = 10_000
const HEAVY_SHARE = 0.1
const DAY_TRADES = 1000
/** The big bill day (issue 19: at most 100× the cost of the 1,000-trade day, linear in the day). */
const BIG_DAY_TRADES = Number(process.env.BENCH_GROWTH_BIG_DAY ?? 100_000)
const REPEAT = Math.max(20, Number(process.env.BENCH_GROWTH_REPEAT ?? 40))
const WARMUP = 3
const DAY_MS = 86_400_000
if (!(N > SMALL)) throw new Error(`BENCH_GROWTH_ROWS must be above ${SMALL}`)

const ADMIN = { email: 'growth-admin@example.com', password: 'admin12345' }
const quiet = { LOG_LEVEL: 'error' }
const stack = await startStack({
  startTimeoutMs: 180_000,
  extra: {
    // Main's own pull-based reconciliation of pending orders stays out of the way (the filled orders are all settled).
    main: { ...quiet, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, RECONCILE_AFTER_SECONDS: '86400' },
    pay: quiet,
    sandbox: quiet,
  },
})
let stopped = false
const stop = async () => {
  if (stopped) return
  stopped = true
  await Promise.allSettled([mainDb.end({ timeout: 5 }), payDb.end({ timeout: 5 }), sandboxDb.end({ timeout: 5 })])
  await stack.stop()
}
process.once('SIGINT', () => void stop().then(() => process.exit(130)))
const opts = { max: 3, onnotice: () => {} }
const mainDb = postgres(stack.env.main.DATABASE_URL!, opts)
const payDb = postgres(stack.env.pay.DATABASE_URL!, opts)
const sandboxDb = postgres(stack.env.sandbox.DATABASE_URL!, opts)
const dbName = (url: string) => new URL(url).pathname.slice(1)
console.log(
  `databases (dropped at the end): ${['main', 'pay', 'sandbox'].map((n) => dbName(stack.env[n as 'main'].DATABASE_URL!)).join(', ')}`,
)
try {
  /** COPY … FROM STDIN of `rows` (text format: tab-separated, \N for null), streamed in chunks. */
  async function copy(sql: postgres.Sql, table: string, columns: string[], rows: Iterable<unknown[]>): Promise<void> {
    const cell = (v: unknown) =>
      v === null || v === undefined
        ? '\\N'
        : v instanceof Date
          ? v.toISOString()
          : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n')
    function* lines() {
      let chunk = ''
      for (const r of rows) {
        chunk += r.map(cell).join('\t') + '\n'
        if (chunk.length > 1 << 16) {
          yield chunk
          chunk = ''
        }
      }
      if (chunk) yield chunk
    }
    const target = await sql.unsafe(`copy ${table} (${columns.join(', ')}) from stdin`).writable()
    await pipeline(Readable.from(lines()), target)
  }

  // The users: the heavy one registers through the API (so it can log in), 9,999 more are COPYed (guest accounts).
  const heavyEmail = `growth-heavy-${Date.now()}@example.com`
  const reg = await http(`${stack.main}/api/auth/register`, { body: { email: heavyEmail, password: 'password123' } })
  if (reg.status !== 200) throw new Error(`register: ${reg.status} ${reg.text}`)
  const token = reg.json.data.token as string
  const adminToken = (await http(`${stack.main}/api/auth/login`, { body: ADMIN })).json.data.token as string
  const [{ id: heavyId }] = (await mainDb`select id from users where email = ${heavyEmail}`) as unknown as [{ id: string }]
  const [{ max: lastUserId }] = (await mainDb`select max(id)::bigint as max from users`) as unknown as [{ max: string }]
  const firstUser = Number(lastUserId) + 1
  await copy(
    mainDb,
    'users',
    ['id', 'email', 'name'],
    (function* () {
      for (let i = 0; i < USERS - 1; i++) yield [firstUser + i, `growth-${i}@example.com`, `user ${i}`]
    })(),
  )
  await mainDb`select setval('users_id_seq', (select max(id) from users))`
  const userIds = [Number(heavyId), ...Array.from({ length: USERS - 1 }, (_, i) => firstUser + i)]
  const emailOf = (uid: number) => (uid === Number(heavyId) ? heavyEmail : `growth-${uid - firstUser}@example.com`)
  const balances = new Map<number, number>()

  const products = await mainDb<{ id: number; packageCode: string; name: string; credits: number; priceFen: string }[]>`
  select id, package_code as "packageCode", name, credits, price_fen as "priceFen" from products
   where kind = 'credits' and package_code is not null and credits > 0 and price_fen > 0 order by id`
  if (!products.length) throw new Error('no credits packages to order')

  /** The bill day: yesterday in China time; the big bill day the day before; the history before both (367 to 3 days ago). */
  const chinaDay = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 10)
  const now = Date.now()
  const billDay = chinaDay(now - DAY_MS)
  const billStart = Date.parse(`${billDay}T00:00:00+08:00`)
  const bigDay = chinaDay(now - 2 * DAY_MS)
  const bigStart = Date.parse(`${bigDay}T00:00:00+08:00`)
  const historyFrom = now - 367 * DAY_MS
  const historyTo = now - 3 * DAY_MS
  const appId = stack.keys.alipay.appId

  let nextOrderId = Number((await mainDb`select coalesce(max(id), 0)::bigint as m from orders`)[0]!.m) + 1
  let nextLedgerId = Number((await mainDb`select coalesce(max(id), 0)::bigint as m from credit_ledger`)[0]!.m) + 1
  let seq = 0
  const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  function orderNo(at: number): string {
    let n = ++seq
    let tail = ''
    for (let i = 0; i < 14; i++) {
      tail = B32[n & 31]! + tail
      n = Math.floor(n / 32)
    }
    return `P${new Date(at + 8 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, '')}${tail}`
  }
  let rnd = 0x2545f491
  /** Deterministic, so both sizes see the same mix (xorshift32). */
  function random(): number {
    rnd ^= rnd << 13
    rnd ^= rnd >>> 17
    rnd ^= rnd << 5
    return (rnd >>> 0) / 0x1_0000_0000
  }

  interface Gen {
    id: number
    orderNo: string
    userId: number
    product: (typeof products)[number]
    status: 'PAID' | 'EXPIRED' | 'CANCELLED' | 'FAILED'
    createdAt: Date
    paidAt: Date | null
    tradeNo: string | null
  }

  /** `count` orders (PAID 70%, EXPIRED 15%, CANCELLED 10%, FAILED 5%), in time order across [from, to), or all paid on the bill day. */
  function generate(count: number, from: number, to: number, billTrades = false): Gen[] {
    const out: Gen[] = []
    for (let i = 0; i < count; i++) {
      const at = Math.floor(from + ((i + random()) / count) * (to - from))
      const userId = random() < HEAVY_SHARE ? userIds[0]! : userIds[1 + Math.floor(random() * (USERS - 1))]!
      const product = products[Math.floor(random() * products.length)]!
      const r = billTrades ? 0 : random()
      const status = r < 0.7 ? 'PAID' : r < 0.85 ? 'EXPIRED' : r < 0.95 ? 'CANCELLED' : 'FAILED'
      const id = nextOrderId++
      const paid = status === 'PAID'
      out.push({
        id,
        orderNo: orderNo(at),
        userId,
        product,
        status,
        createdAt: new Date(at),
        paidAt: paid ? new Date(at + 60_000) : null,
        tradeNo: paid ? `2026${String(id).padStart(12, '0')}22001` : null,
      })
    }
    return out
  }

  /**
   * COPYs `gen` in chunks of FILL_CHUNK orders, each its own transaction: main's triggers (migration 0009) update one
   * counter row per user and one roll-up row per day for every row copied, and updates of one row within one
   * transaction pile up versions that each later update walks (a bill day's 100,000 orders in one COPY would be
   * quadratic); committed chunks let those versions be pruned, as the service's one-order transactions do.
   */
  async function fill(gen: Gen[], billTrades: boolean): Promise<void> {
    const FILL_CHUNK = 2000
    for (let i = 0; i < gen.length; i += FILL_CHUNK) await fillChunk(gen.slice(i, i + FILL_CHUNK), billTrades)
  }

  async function fillChunk(gen: Gen[], billTrades: boolean): Promise<void> {
    await copy(
      mainDb,
      'orders',
      [
        'id',
        'order_no',
        'user_id',
        'product_id',
        'kind',
        'package_code',
        'product_name',
        'credits',
        'amount_fen',
        'status',
        'payment_method',
        'payment_provider',
        'payment_channel',
        'trade_no',
        'paid_amount_fen',
        'paid_at',
        'expire_at',
        'credits_granted',
        'customer_email',
        'unit_price_fen',
        'closed_at',
        'created_at',
        'updated_at',
      ],
      gen.map((o) => {
        const closed = o.status === 'PAID' ? null : new Date(o.createdAt.getTime() + 15 * 60_000)
        return [
          o.id,
          o.orderNo,
          o.userId,
          o.product.id,
          'credits',
          o.product.packageCode,
          o.product.name,
          o.product.credits,
          o.product.priceFen,
          o.status,
          'ALIPAY',
          'ALIPAY',
          'qr',
          o.tradeNo,
          o.paidAt ? o.product.priceFen : null,
          o.paidAt,
          new Date(o.createdAt.getTime() + 15 * 60_000),
          o.paidAt ? 't' : 'f',
          emailOf(o.userId),
          o.product.priceFen,
          closed,
          o.createdAt,
          o.paidAt ?? closed ?? o.createdAt,
        ]
      }),
    )
    const paid = gen.filter((o) => o.paidAt)
    await copy(
      mainDb,
      'credit_ledger',
      ['id', 'user_id', 'type', 'delta', 'balance_after', 'description', 'order_id', 'created_at'],
      paid.map((o) => {
        const after = (balances.get(o.userId) ?? 0) + o.product.credits
        balances.set(o.userId, after)
        return [nextLedgerId++, o.userId, 'PURCHASE', o.product.credits, after, `购买 ${o.product.name}`, o.id, o.paidAt]
      }),
    )
    await copy(
      payDb,
      'payment_attempts',
      [
        'id',
        'order_id',
        'order_no',
        'out_trade_no',
        'provider',
        'channel',
        'amount',
        'subject',
        'status',
        'trade_no',
        'paid_at',
        'closed_at',
        'expire_at',
        'paid_via',
        'created_at',
        'updated_at',
      ],
      gen.map((o) => {
        const closed = o.paidAt ? null : new Date(o.createdAt.getTime() + 15 * 60_000)
        return [
          randomUUID(),
          o.id,
          o.orderNo,
          o.orderNo,
          'ALIPAY',
          'qr',
          o.product.priceFen,
          o.product.name,
          o.paidAt ? 'PAID' : o.status === 'FAILED' ? 'FAILED' : 'CLOSED',
          o.tradeNo,
          o.paidAt,
          closed,
          new Date(o.createdAt.getTime() + 15 * 60_000),
          o.paidAt ? 'NOTIFY' : null,
          o.createdAt,
          o.paidAt ?? closed,
        ]
      }),
    )
    if (billTrades)
      await copy(
        sandboxDb,
        'alipay_trades',
        ['id', 'app_id', 'out_trade_no', 'trade_no', 'channel', 'status', 'total_amount', 'subject', 'created_at', 'paid_at'],
        paid.map((o) => [
          `ali_growth_${o.id}`,
          appId,
          o.orderNo,
          o.tradeNo,
          'precreate',
          'TRADE_SUCCESS',
          o.product.priceFen,
          o.product.name,
          o.createdAt,
          o.paidAt,
        ]),
      )
  }

  /** After the COPYs of a size: the users' balances follow their ledgers, sequences past the ids, statistics and visibility fresh. */
  async function settle(): Promise<void> {
    // The users' balances follow their ledgers.
    await mainDb`update users u set credit_balance = b.balance_after
                 from (select distinct on (user_id) user_id, balance_after from credit_ledger order by user_id, id desc) b
                where b.user_id = u.id and u.credit_balance <> b.balance_after`
    await mainDb`select setval('orders_id_seq', (select max(id) from orders))`
    await mainDb`select setval('credit_ledger_id_seq', (select max(id) from credit_ledger))`
    await mainDb`vacuum analyze`
    await payDb`vacuum analyze`
    await sandboxDb`vacuum analyze`
    // The fill's writes checkpointed now, not by the checkpoints their WAL triggers during the timing: in one run the
    // server log showed them back to back under the 1M column, which read every query 1.4–2.4× its 1k time, key
    // lookups too (the next run, with this line, read 0.65–0.93×; the reference line shows the machine's own drift).
    await mainDb`checkpoint`
  }

  const elapsed = async (what: string, fn: () => Promise<void>) => {
    const t0 = Date.now()
    await fn()
    console.log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }

  // Size 1: 1,000 orders of history + the bill day.
  const first = generate(SMALL, historyFrom, historyTo)
  const heavyPaid = first.filter((o) => o.userId === userIds[0] && o.paidAt).at(-1)!
  const someOrder = first[Math.floor(SMALL / 2)]!
  await elapsed(`fill ${SMALL} orders + a bill day of ${DAY_TRADES} trades`, async () => {
    await fill(first, false)
    await fill(generate(DAY_TRADES, billStart + 60_000, billStart + DAY_MS - 3 * 60_000, true), true)
    await settle()
  })

  type Call = () => Promise<Http>
  const get =
    (path: string, t = token): Call =>
    () =>
      http(`${stack.main}${path}`, { token: t })
  const admin = (path: string) => get(`/api/admin${path}`, adminToken)
  const dayRange = `from=${chinaDay(historyTo - 60 * DAY_MS)}&to=${chinaDay(historyTo - 59 * DAY_MS)}`
  const queries: { name: string; call: () => Promise<Call> }[] = [
    { name: 'payment-status (PAID order)', call: async () => get(`/api/orders/${heavyPaid.id}/payment-status`) },
    { name: 'order history, page 1', call: async () => get('/api/orders?page=0&size=10') },
    {
      name: 'order history, middle page',
      call: async () => {
        const total = (await get('/api/orders?page=0&size=10')()).json.data.totalElements as number
        return get(`/api/orders?page=${Math.floor(total / 20)}&size=10`)
      },
    },
    { name: 'ledger, page 1', call: async () => get('/api/credits/ledger?page=0&size=10') },
    { name: 'balance', call: async () => get('/api/credits/balance') },
    { name: 'admin search by email', call: async () => admin(`/orders?email=${encodeURIComponent(heavyEmail)}`) },
    { name: 'admin search by orderNo', call: async () => admin(`/orders?orderNo=${someOrder.orderNo}`) },
    { name: 'admin search by date range (1 day)', call: async () => admin(`/orders?${dayRange}`) },
    { name: 'daily stats, 30 days', call: async () => admin(`/stats/daily?from=${chinaDay(billStart - 29 * DAY_MS)}&to=${billDay}`) },
    {
      name: `reconciliation day of ${DAY_TRADES} trades`,
      call: async () => reconcile(billDay),
    },
  ]
  function reconcile(day: string): Call {
    return () => http(`${stack.main}/api/admin/reconciliations`, { token: adminToken, body: { provider: 'ALIPAY', day } })
  }
  /** Every trade of the day matched: the history is not in the day. */
  const allMatched = (trades: number) => (r: Http) => {
    if (r.json.data.matched !== trades)
      throw new Error(`reconciliation matched ${r.json.data.matched} of ${trades}: ${r.text.slice(0, 300)}`)
  }

  /** Median ms of `repeat` sequential requests after `warmup`; every answer must be a 200. */
  async function measure(call: Call, check?: (r: Http) => void, repeat = REPEAT, warmup = WARMUP): Promise<number> {
    const times: number[] = []
    for (let i = 0; i < warmup + repeat; i++) {
      const t0 = performance.now()
      const r = await call()
      const ms = performance.now() - t0
      if (r.status !== 200) throw new Error(`${r.status} ${r.text.slice(0, 300)}`)
      check?.(r)
      if (i >= warmup) times.push(ms)
    }
    times.sort((a, b) => a - b)
    return times[Math.floor(times.length / 2)]!
  }
  async function measureAll(size: number): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    for (const q of queries) {
      const call = await q.call()
      // The bill day reconciles to exactly its trades, at every size.
      const ms = await measure(call, q.name.startsWith('reconciliation') ? allMatched(DAY_TRADES) : undefined)
      console.log(`  ${size} rows: ${q.name}: ${ms.toFixed(1)} ms`)
      out.set(q.name, ms)
    }
    return out
  }

  /** BENCH_GROWTH_EXPLAIN=1: the plans of the statements behind the lines, at N (the SQL as the services send it). */
  async function explain(): Promise<void> {
    const [u] = await mainDb`select id from users where email = ${heavyEmail}`
    const total = Number((await mainDb`select count(*)::int as n from orders where user_id = ${u!.id}`)[0]!.n)
    const from = new Date(billStart - 29 * DAY_MS)
    const end = new Date(billStart + DAY_MS)
    const [c] = await mainDb`select orders_seq as seq from user_counters where user_id = ${u!.id}`
    const plans: [string, postgres.Sql, string, unknown[]][] = [
      ['history count (kept)', mainDb, 'select orders, orders_seq from user_counters where user_id = $1', [u!.id]],
      [
        'history page 1',
        mainDb,
        'select * from orders where user_id = $1 and user_seq <= $2 order by user_seq desc limit 10',
        [u!.id, Number(c!.seq)],
      ],
      [
        'history middle page',
        mainDb,
        'select * from orders where user_id = $1 and user_seq <= $2 order by user_seq desc limit 10',
        [u!.id, Number(c!.seq) - Math.floor(total / 2)],
      ],
      ['ledger page 1', mainDb, 'select * from credit_ledger where user_id = $1 order by id desc limit 10 offset 0', [u!.id]],
      ['ledger count (kept)', mainDb, 'select ledger from user_counters where user_id = $1', [u!.id]],
      ['admin orderNo', mainDb, 'select * from orders where order_no = $1 order by created_at desc, id desc limit 20', [someOrder.orderNo]],
      ['admin email', mainDb, 'select * from orders where customer_email = $1 order by created_at desc, id desc limit 20', [heavyEmail]],
      ['admin email count (kept)', mainDb, 'select orders from email_order_counts where email = $1', [heavyEmail]],
      [
        'stats 30 days (roll-up)',
        mainDb,
        'select day, sum(created), sum(paid), sum(revenue) from daily_stats where day >= $1::date and day <= $2::date group by day',
        [chinaDay(from.getTime()), billDay],
      ],
      [
        'pay: attempts of the day',
        payDb,
        "select distinct out_trade_no from payment_attempts where provider = 'ALIPAY' and ((created_at >= $1 and created_at < $2) or (paid_at >= $1 and paid_at < $2))",
        [new Date(billStart), end],
      ],
      [
        'pay: paid on the day',
        payDb,
        "select * from payment_attempts where provider = 'ALIPAY' and status in ('PAID', 'REFUNDED') and paid_at >= $1 and paid_at < $2",
        [new Date(billStart), end],
      ],
    ]
    for (const [name, sql, text, args] of plans) {
      const plan = await sql.unsafe(`explain (analyze, buffers off) ${text}`, args as never[])
      console.log(`\n-- ${name}\n${plan.map((r) => r['QUERY PLAN']).join('\n')}`)
    }
  }

  interface Row {
    query: string
    smallMs: number
    largeMs: number
    ratio: number
    /** At most this many times the small cost. */
    target: number
    met: boolean
  }
  const rows: Row[] = []
  // The machine's drift between the two sizes: a request that reads no history (the catalogue), timed alongside.
  const reference = () => measure(get('/api/credits/packages'))
  const refSmall = await reference()
  const small = await measureAll(SMALL)
  // Size 2: the history grows to N orders, in batches (one COPY per table per batch).
  await elapsed(`fill to ${N} orders`, async () => {
    const BATCH = 100_000
    for (let done = SMALL; done < N; done += BATCH) {
      const k = Math.min(BATCH, N - done)
      await fill(generate(k, historyFrom, historyTo), false)
    }
    await settle()
  })
  const counts = {
    orders: Number((await mainDb`select count(*)::int as n from orders`)[0]!.n),
    heavyOrders: Number((await mainDb`select count(*)::int as n from orders where user_id = ${heavyId}`)[0]!.n),
    ledger: Number((await mainDb`select count(*)::int as n from credit_ledger`)[0]!.n),
    attempts: Number((await payDb`select count(*)::int as n from payment_attempts`)[0]!.n),
  }
  console.log(`filled: ${JSON.stringify(counts)}`)
  const refLarge = await reference()
  const large = await measureAll(N)
  for (const q of queries) {
    const s = small.get(q.name)!
    const l = large.get(q.name)!
    rows.push({ query: q.name, smallMs: s, largeMs: l, ratio: l / s, target: 2, met: l / s <= 2 })
  }
  // A bill day of BIG_DAY_TRADES trades against the day of DAY_TRADES, both at N orders of history, side by side:
  // at most 100× (linear in the day, never in the history).
  await elapsed(`fill a bill day of ${BIG_DAY_TRADES} trades`, async () => {
    await fill(generate(BIG_DAY_TRADES, bigStart + 60_000, bigStart + DAY_MS - 3 * 60_000, true), true)
    await settle()
  })
  const dayMs = await measure(reconcile(billDay), allMatched(DAY_TRADES), 5, 1)
  const bigMs = await measure(reconcile(bigDay), allMatched(BIG_DAY_TRADES), 3, 1)
  const dayTarget = BIG_DAY_TRADES / DAY_TRADES
  console.log(`  ${N} rows: reconciliation day of ${DAY_TRADES}: ${dayMs.toFixed(1)} ms, of ${BIG_DAY_TRADES}: ${bigMs.toFixed(1)} ms`)
  rows.push({
    query: `reconciliation day of ${BIG_DAY_TRADES} trades (vs ${DAY_TRADES}, at ${N} orders)`,
    smallMs: dayMs,
    largeMs: bigMs,
    ratio: bigMs / dayMs,
    target: dayTarget,
    met: bigMs / dayMs <= dayTarget,
  })
  const sizeLabel = N >= 1_000_000 ? `${N / 1_000_000}M` : `${N / 1000}k`
  console.log(`\n| query | 1k ms | ${sizeLabel} ms | ratio | target | met |`)
  console.log('|---|---|---|---|---|---|')
  for (const r of rows)
    console.log(
      `| ${r.query} | ${fmt(r.smallMs)} | ${fmt(r.largeMs)} | ${r.ratio.toFixed(2)}× | ≤ ${r.target}× | ${r.met ? 'yes' : 'NO'} |`,
    )
  console.log(
    `reference without history (GET /api/credits/packages): ${fmt(refSmall)} ms at 1k, ${fmt(refLarge)} ms at ${sizeLabel} ` +
      `(${(refLarge / refSmall).toFixed(2)}×: the machine's own drift between the two columns)`,
  )
  const os = await import('node:os')
  writeFileSync(
    join(outDir, 'growth.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        small: SMALL,
        large: N,
        repeat: REPEAT,
        cpus: os.cpus().length,
        loadavg: os.loadavg(),
        counts,
        reference: { query: 'GET /api/credits/packages', smallMs: refSmall, largeMs: refLarge },
        rows,
      },
      null,
      2,
    ),
  )
  // Two bars per query (1k grey, N green or red when it misses), on one log scale of milliseconds.
  const maxMs = Math.max(...rows.map((r) => Math.max(r.smallMs, r.largeMs)))
  const scale = (ms: number) => (Math.log10(Math.max(ms, 0.1) * 10) / Math.log10(maxMs * 10)) * 420
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="${70 + rows.length * 56}" font-family="sans-serif" font-size="13">`,
    `<text x="10" y="24" font-size="16">pnpm bench:growth — median ms at ${SMALL} and ${N} orders, log scale (${new Date().toISOString().slice(0, 16)})</text>`,
    ...rows.flatMap((r, k) => {
      const y = 46 + k * 56
      return [
        `<text x="10" y="${y + 12}">${xml(r.query)} — ${r.ratio.toFixed(2)}×</text>`,
        `<rect x="10" y="${y + 18}" width="${scale(r.smallMs).toFixed(0)}" height="14" fill="#999"/>`,
        `<text x="${(scale(r.smallMs) + 16).toFixed(0)}" y="${y + 30}">${fmt(r.smallMs)} ms</text>`,
        `<rect x="10" y="${y + 34}" width="${scale(r.largeMs).toFixed(0)}" height="14" fill="${r.met ? '#3a3' : '#c33'}"/>`,
        `<text x="${(scale(r.largeMs) + 16).toFixed(0)}" y="${y + 46}">${fmt(r.largeMs)} ms</text>`,
      ]
    }),
    '</svg>',
  ].join('\n')
  writeFileSync(join(outDir, 'growth.svg'), svg)
  console.log(`\nresults: ${join(outDir, 'growth.json')}, chart: ${join(outDir, 'growth.svg')}`)
  if (process.env.BENCH_GROWTH_EXPLAIN === '1') await explain()
} finally {
  await stop()
}
process.exit(0)
