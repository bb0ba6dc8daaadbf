/**
 * Reconciliation (对账) of one provider's day: fetch the provider's bill (or, for a provider that
 * has none, query every attempt of the day), compare it with our attempts and refunds (compare.ts), ask
 * the provider about paid trades its bill does not list, repair what is safe, and store the run
 * and its differences.
 *
 * Safe repair = a trade the verified bill shows paid while it is pending or closed here, same
 * amount: recorded exactly as a verified notify would be (`recordProven`, via RECONCILIATION), so
 * main credits it once (latePayment if the order was cancelled/expired). Everything else waits for
 * a person (admin: resolve with a note). A bill that could not be had or did not verify fails the
 * run (stored as FAILED with the reason) and repairs nothing.
 */
import type { FastifyBaseLogger } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import type { PaymentFlows } from '../flows.ts'
import type { PaymentProvider, ProviderName, ProviderRegistry } from '../providers/types.ts'
import { chinaToday, isCalendarDay } from '../providers/bill-common.ts'
import { billTotals, compareBill, DIFFERENCE_CLASSES, type Difference, type LocalAttempt, type LocalRefund } from './compare.ts'
import { BillError, type BillDay, type BillRow } from './types.ts'
import { refundsOfDay, type RefundDayBasis } from './refund-day.ts'

export type RunTrigger = 'SCHEDULED' | 'MANUAL' | 'CLI'

export interface RunView {
  id: number
  provider: string
  billDay: string
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED'
  trigger: string
  error: string | null
  source: string | null
  billRows: number
  matched: number
  differences: number
  repaired: number
  billPaymentTotal: number
  billRefundTotal: number
  billFeeTotal: number
  localPaymentTotal: number
  localRefundTotal: number
  byClass: Record<string, number>
  startedAt: Date
  finishedAt: Date | null
}

export interface DifferenceView {
  id: number
  provider: string
  billDay: string
  class: string
  outTradeNo: string
  refundNo: string
  tradeNo: string | null
  orderNo: string | null
  billAmount: number | null
  localAmount: number | null
  billFee: number | null
  billStatus: string | null
  localStatus: string | null
  detail: string
  status: 'OPEN' | 'RESOLVED' | 'REPAIRED' | 'GONE'
  firstRunId: number
  lastRunId: number
  resolutionNote: string | null
  resolvedBy: string | null
  resolvedAt: Date | null
  createdAt: Date
}

const RUN_COLUMNS = `id, provider, bill_day as "billDay", status, trigger, error, source, bill_rows as "billRows", matched,
  differences, repaired, bill_payment_total as "billPaymentTotal", bill_refund_total as "billRefundTotal",
  bill_fee_total as "billFeeTotal", local_payment_total as "localPaymentTotal", local_refund_total as "localRefundTotal",
  by_class as "byClass", started_at as "startedAt", finished_at as "finishedAt"`
const DIFF_COLUMNS = `id, provider, bill_day as "billDay", class, out_trade_no as "outTradeNo", refund_no as "refundNo",
  trade_no as "tradeNo", order_no as "orderNo", bill_amount as "billAmount", local_amount as "localAmount", bill_fee as "billFee",
  bill_status as "billStatus", local_status as "localStatus", detail, status, first_run_id as "firstRunId",
  last_run_id as "lastRunId", resolution_note as "resolutionNote", resolved_by as "resolvedBy", resolved_at as "resolvedAt",
  created_at as "createdAt"`

const DAY_MS = 86_400_000
/** The day's bounds: a bill day is a calendar day in China time (UTC+8). */
export function dayWindow(day: BillDay): { start: Date; end: Date } {
  const start = new Date(`${day}T00:00:00+08:00`)
  return { start, end: new Date(start.getTime() + DAY_MS) }
}
/** A real `yyyy-MM-dd` date not after today (China time). */
export function validBillDay(day: unknown, now = new Date()): day is BillDay {
  return isCalendarDay(day) && day <= chinaToday(now.getTime()) && day >= '2000-01-01'
}

/** At most `limit` calls in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export function createReconciler(deps: {
  sql: Sql
  providers: ProviderRegistry
  flows: Pick<PaymentFlows, 'recordProven'>
  log: FastifyBaseLogger
  /** Fee rates to check bill fees against, per provider (e.g. 0.006). Absent = not checked. */
  feeRates?: Partial<Record<ProviderName, number>>
  /** Parallel provider queries (a day without a bill, and paid trades a bill does not list). */
  queryConcurrency?: number
}) {
  const { sql, providers, flows, log } = deps
  const concurrency = deps.queryConcurrency ?? 4

  function adapterOr422(provider: string): PaymentProvider {
    const adapter = (providers as Record<string, PaymentProvider | undefined>)[provider]
    if (!adapter) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `支付方式未启用: ${provider.slice(0, 32)}`)
    return adapter
  }

  /** A provider without a bill: its "bill" is an order query of every attempt of the day. */
  async function queryDay(adapter: PaymentProvider, day: BillDay): Promise<BillRow[]> {
    const { start, end } = dayWindow(day)
    const attempts = await sql<{ outTradeNo: string; providerRef: string | null }[]>`
      select distinct out_trade_no as "outTradeNo", provider_ref as "providerRef" from payment_attempts
       where provider = ${adapter.name}
         and ((created_at >= ${start} and created_at < ${end}) or (paid_at >= ${start} and paid_at < ${end}))`
    const rows = await mapLimit(attempts, concurrency, async ({ outTradeNo, providerRef }): Promise<BillRow | null> => {
      let trade
      try {
        trade = await adapter.query(outTradeNo, providerRef)
      } catch (err) {
        throw new BillError(`查询 ${outTradeNo} 失败: ${(err as Error).message}`, adapter.name, 'UNAVAILABLE')
      }
      if (!trade.found || trade.state !== 'SUCCEEDED' || trade.amount === null) return null
      return {
        kind: 'PAYMENT',
        outTradeNo: trade.outTradeNo,
        tradeNo: trade.tradeNo,
        amount: trade.amount,
        fee: 0,
        refundNo: null,
        time: trade.paidAt ?? new Date(),
        providerStatus: trade.providerStatus,
      }
    })
    return rows.filter((r): r is BillRow => r !== null)
  }

  async function loadLocal(provider: ProviderName, day: BillDay, rows: readonly BillRow[], basis: RefundDayBasis) {
    const { start, end } = dayWindow(day)
    const tradeNos = [...new Set(rows.filter((r) => r.kind === 'PAYMENT').map((r) => r.outTradeNo))]
    const refundNos = [...new Set(rows.filter((r) => r.kind === 'REFUND' && r.refundNo).map((r) => r.refundNo!))]
    const attemptCols = sql`id, order_no as "orderNo", out_trade_no as "outTradeNo", provider, amount, status,
      trade_no as "tradeNo", paid_at as "paidAt", provider_ref as "providerRef"`
    const listed = tradeNos.length
      ? await sql<LocalAttempt[]>`select ${attemptCols} from payment_attempts
           where provider = ${provider} and out_trade_no = any(${tradeNos}) order by created_at, id`
      : []
    const paidOnDay = await sql<LocalAttempt[]>`select ${attemptCols} from payment_attempts
       where provider = ${provider} and status in ('PAID', 'REFUNDED') and paid_at >= ${start} and paid_at < ${end}`
    const refundCols = sql`r.refund_no as "refundNo", a.out_trade_no as "outTradeNo", r.amount, r.status, r.refunded_at as "refundedAt"`
    const listedRefunds = refundNos.length
      ? await sql<LocalRefund[]>`select ${refundCols} from refunds r join payment_attempts a on a.id = r.payment_attempt_id
           where r.provider = ${provider} and r.refund_no = any(${refundNos})`
      : []
    // The refunds this bill should list: by acceptance or by completion, as the provider dates them (refund-day.ts).
    const refundedOnDay = await sql<
      LocalRefund[]
    >`select ${refundCols} from refunds r join payment_attempts a on a.id = r.payment_attempt_id
       where r.provider = ${provider} and ${refundsOfDay(sql, basis, start, end)}`
    return { attempts: [...listed, ...paidOnDay], refunds: [...listedRefunds, ...refundedOnDay], paidOnDay, refundedOnDay }
  }

  /**
   * Our paid trades the bill does not list: the provider is asked. Paid there too (the bill put it
   * on another day) → no difference; known there but not paid → STATUS_MISMATCH; unknown → LOCAL_ONLY.
   */
  async function checkUnlisted(adapter: PaymentProvider, unlisted: LocalAttempt[]): Promise<Difference[]> {
    const found = await mapLimit(unlisted, concurrency, async (a): Promise<Difference | null> => {
      const base = {
        outTradeNo: a.outTradeNo,
        refundNo: '',
        tradeNo: a.tradeNo,
        attempt: a,
        billAmount: null,
        localAmount: a.amount,
        billFee: null,
        localStatus: a.status,
        repairable: false,
        row: null,
      }
      try {
        const trade = await adapter.query(a.outTradeNo, a.providerRef)
        if (trade.found && trade.state === 'SUCCEEDED' && trade.amount === a.amount) return null
        if (trade.found) {
          return {
            ...base,
            class: 'STATUS_MISMATCH',
            billStatus: trade.providerStatus,
            detail: `本地已支付，渠道为 ${trade.providerStatus}`,
          }
        }
        return { ...base, class: 'LOCAL_ONLY', billStatus: null, detail: '本地已支付，渠道没有此交易' }
      } catch (err) {
        return {
          ...base,
          class: 'LOCAL_ONLY',
          billStatus: null,
          detail: `本地已支付，渠道账单没有此交易（查询失败: ${(err as Error).message.slice(0, 200)}）`,
        }
      }
    })
    return found.filter((d): d is Difference => d !== null)
  }

  /** Records the payments the bill proves (same as a verified notify). Returns the status each difference ends in. */
  async function repair(provider: ProviderName, d: Difference): Promise<'REPAIRED' | 'GONE' | 'OPEN'> {
    if (!d.repairable || !d.row?.tradeNo) return 'OPEN'
    const r = await flows.recordProven({
      outTradeNo: d.row.outTradeNo,
      provider,
      tradeNo: d.row.tradeNo,
      amount: d.row.amount,
      paidAt: d.row.time,
      via: 'RECONCILIATION',
    })
    if (r.outcome === 'RECORDED') return 'REPAIRED'
    if (r.outcome === 'DUPLICATE') return 'GONE'
    log.warn({ provider, outTradeNo: d.outTradeNo, outcome: r.outcome }, 'reconciliation could not repair a difference')
    return 'OPEN'
  }

  async function store(runId: number, provider: ProviderName, day: BillDay, d: Difference, status: 'REPAIRED' | 'GONE' | 'OPEN') {
    await sql`
      insert into reconciliation_differences
        (provider, bill_day, class, out_trade_no, refund_no, trade_no, payment_attempt_id, order_no, bill_amount, local_amount,
         bill_fee, bill_status, local_status, detail, status, first_run_id, last_run_id)
      values (${provider}, ${day}, ${d.class}, ${d.outTradeNo}, ${d.refundNo}, ${d.tradeNo}, ${d.attempt?.id ?? null},
              ${d.attempt?.orderNo ?? null}, ${d.billAmount}, ${d.localAmount}, ${d.billFee}, ${d.billStatus}, ${d.localStatus},
              ${d.detail}, ${status}, ${runId}, ${runId})
      on conflict (provider, bill_day, class, out_trade_no, refund_no) do update set
        last_run_id = excluded.last_run_id,
        trade_no = excluded.trade_no, bill_amount = excluded.bill_amount, local_amount = excluded.local_amount,
        bill_fee = excluded.bill_fee, bill_status = excluded.bill_status, local_status = excluded.local_status,
        detail = excluded.detail, updated_at = now(),
        status = case
          when reconciliation_differences.status in ('RESOLVED', 'REPAIRED') then reconciliation_differences.status
          else excluded.status end`
  }

  async function finish(
    runId: number,
    provider: ProviderName,
    day: BillDay,
    rows: readonly BillRow[],
    source: string,
    basis: RefundDayBasis,
  ): Promise<RunView> {
    const { start, end } = dayWindow(day)
    // Still-open differences this run did not see any more resolved themselves (e.g. a late notify).
    await sql`update reconciliation_differences set status = 'GONE', updated_at = now()
               where provider = ${provider} and bill_day = ${day} and status = 'OPEN' and last_run_id <> ${runId}`
    const counts = await sql<{ class: string; status: string; fromBill: boolean; n: number }[]>`
      select class, status, bill_amount is not null as "fromBill", count(*)::int as n from reconciliation_differences
       where provider = ${provider} and bill_day = ${day} and status <> 'GONE' group by 1, 2, 3`
    const byClass: Record<string, number> = {}
    for (const c of DIFFERENCE_CLASSES) byClass[c] = 0
    let differences = 0
    let repaired = 0
    let billRowDiffs = 0
    for (const c of counts) {
      byClass[c.class] = (byClass[c.class] ?? 0) + c.n
      differences += c.n
      if (c.status === 'REPAIRED') repaired += c.n
      if (c.fromBill) billRowDiffs += c.n
    }
    const [local] = await sql<{ payments: number; refunds: number }[]>`
      select
        (select coalesce(sum(amount), 0)::bigint from payment_attempts
          where provider = ${provider} and status in ('PAID', 'REFUNDED') and paid_at >= ${start} and paid_at < ${end}) as payments,
        (select coalesce(sum(r.amount), 0)::bigint from refunds r
          where r.provider = ${provider} and ${refundsOfDay(sql, basis, start, end)}) as refunds`
    const totals = billTotals(rows)
    const [run] = await sql.unsafe<RunView[]>(
      `update reconciliation_runs set status = 'SUCCEEDED', source = $2, bill_rows = $3, matched = $4, differences = $5,
         repaired = $6, bill_payment_total = $7, bill_refund_total = $8, bill_fee_total = $9, local_payment_total = $10,
         local_refund_total = $11, by_class = $12, finished_at = now()
       where id = $1 returning ${RUN_COLUMNS}`,
      [
        runId,
        source,
        rows.length,
        Math.max(0, rows.length - billRowDiffs),
        differences,
        repaired,
        totals.payments,
        totals.refunds,
        totals.fees,
        Number(local!.payments),
        Number(local!.refunds),
        sql.json(byClass),
      ] as never[],
    )
    return run!
  }

  /** Throws the 4xx a run of this provider and day would fail with before doing anything. */
  function assertRunnable(provider: string, day: string): PaymentProvider {
    const adapter = adapterOr422(provider)
    if (!validBillDay(day)) throw new AppError(400, 'INVALID_PARAMS', `对账日期无效（yyyy-MM-dd，不晚于今天）: ${String(day).slice(0, 20)}`)
    return adapter
  }

  async function run(provider: string, day: string, trigger: RunTrigger): Promise<RunView> {
    const adapter = assertRunnable(provider, day)
    const name = adapter.name
    // One run of a (provider, day) at a time, across instances.
    const conn = await sql.reserve()
    try {
      const [lock] = await conn<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtextextended(${`${name}:${day}`}, 41932)) as ok`
      if (!lock!.ok) throw new AppError(409, 'RECONCILIATION_RUNNING', `${name} ${day} 的对账正在进行`)
      try {
        const [created] = await sql<{ id: number }[]>`
          insert into reconciliation_runs (provider, bill_day, trigger) values (${name}, ${day}, ${trigger}) returning id`
        const runId = created!.id
        let rows: BillRow[]
        let source: string
        try {
          if (adapter.fetchBill) {
            source = 'BILL'
            rows = await adapter.fetchBill(day)
          } else {
            source = 'QUERY'
            rows = await queryDay(adapter, day)
          }
        } catch (err) {
          const reason = err instanceof BillError ? `${err.reason}: ${err.message}` : `UNAVAILABLE: ${(err as Error).message}`
          await sql`update reconciliation_runs set status = 'FAILED', error = ${reason.slice(0, 1000)}, finished_at = now() where id = ${runId}`
          log.warn({ provider: name, day, runId, reason }, 'reconciliation failed: no verified bill, nothing repaired')
          throw new AppError(502, 'BILL_UNAVAILABLE', `对账失败（${name} ${day}）: ${reason.slice(0, 300)}`, { runId })
        }
        const basis = adapter.billRefundDay ?? 'COMPLETED'
        const local = await loadLocal(name, day, rows, basis)
        const compared = compareBill({ provider: name, rows, ...local, feeRate: deps.feeRates?.[name] ?? null })
        const differences = [...compared.differences, ...(await checkUnlisted(adapter, compared.unlisted))]
        let repairedNow = 0
        for (const d of differences) {
          const status = await repair(name, d)
          if (status === 'REPAIRED') repairedNow++
          await store(runId, name, day, d, status)
        }
        const view = await finish(runId, name, day, rows, source, basis)
        log.info(
          { provider: name, day, runId, billRows: view.billRows, matched: view.matched, differences: view.differences, repairedNow },
          'reconciliation finished',
        )
        return view
      } finally {
        await conn`select pg_advisory_unlock(hashtextextended(${`${name}:${day}`}, 41932))`
      }
    } finally {
      conn.release()
    }
  }

  return {
    run,
    assertRunnable,

    async listRuns(q: { provider?: string; day?: string; page: number; size: number }) {
      const [count] = await sql.unsafe<{ n: number }[]>(
        `select count(*)::int as n from reconciliation_runs where ($1::text is null or provider = $1) and ($2::text is null or bill_day = $2)`,
        [q.provider ?? null, q.day ?? null] as never[],
      )
      const content = await sql.unsafe<RunView[]>(
        `select ${RUN_COLUMNS} from reconciliation_runs
          where ($1::text is null or provider = $1) and ($2::text is null or bill_day = $2)
          order by id desc limit $3 offset $4`,
        [q.provider ?? null, q.day ?? null, q.size, q.page * q.size] as never[],
      )
      return { content, totalElements: count!.n, totalPages: Math.ceil(count!.n / q.size), page: q.page, size: q.size }
    },

    async getRun(id: number): Promise<RunView & { differenceList: DifferenceView[] }> {
      const [r] = await sql.unsafe<RunView[]>(`select ${RUN_COLUMNS} from reconciliation_runs where id = $1`, [id])
      if (!r) throw new AppError(404, 'NOT_FOUND', `对账记录不存在: ${id}`)
      // The day's differences as they stand (all runs of a day share them), GONE ones left out.
      const differenceList = await sql.unsafe<DifferenceView[]>(
        `select ${DIFF_COLUMNS} from reconciliation_differences
          where provider = $1 and bill_day = $2 and status <> 'GONE' and first_run_id <= $3 order by id`,
        [r.provider, r.billDay, r.id] as never[],
      )
      return { ...r, differenceList }
    },

    /** A person has looked at an OPEN difference: RESOLVED with their note. Resolving again is 409. */
    async resolve(id: number, note: string, by: string): Promise<DifferenceView> {
      const [row] = await sql.unsafe<DifferenceView[]>(
        `update reconciliation_differences set status = 'RESOLVED', resolution_note = $2, resolved_by = $3, resolved_at = now(),
                updated_at = now()
          where id = $1 and status = 'OPEN' returning ${DIFF_COLUMNS}`,
        [id, note, by],
      )
      if (row) {
        log.info({ differenceId: id, by }, 'reconciliation difference resolved')
        return row
      }
      const [existing] = await sql.unsafe<DifferenceView[]>(`select ${DIFF_COLUMNS} from reconciliation_differences where id = $1`, [id])
      if (!existing) throw new AppError(404, 'NOT_FOUND', `对账差异不存在: ${id}`)
      throw new AppError(409, 'CONFLICT', `该差异的状态为 ${existing.status}，不能再处理`)
    },
  }
}

export type Reconciler = ReturnType<typeof createReconciler>
