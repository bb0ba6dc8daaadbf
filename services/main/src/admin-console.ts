/**
 * Read-only queries behind the operator console (`/api/admin/console/*`, routes/admin-console.ts):
 * what a refund would claw back before anyone confirms it, users by email, a user's or an order's
 * ledger rows, and an order's whole story in time order (main's rows plus what pay holds).
 *
 * The claw-back preview repeats the arithmetic of refunds.ts's reserve step (cumulative floor of
 * credits × refunded / paid, capped by the balance when forced); test/admin-console.test.ts checks
 * that a real refund then claws back exactly what the preview said.
 */
import type { Sql } from '@paysys/db'
import { fenToYuanNumber } from '@paysys/money'
import type { OrderRow } from './orders/repo.ts'
import { createLedger, presentLedgerRow, type LedgerRow } from './ledger.ts'
import { REFUNDABLE_STATUSES, type RefundRow } from './refunds.ts'
import { presentUser, type UserRow } from './users.ts'

const LEDGER_COLUMNS = `id, user_id as "userId", type, delta, balance_after as "balanceAfter", description, order_id as "orderId",
  idempotency_key as "idempotencyKey", created_at as "createdAt"`
const USER_COLUMNS = `id, email, password_hash as "passwordHash", name, role, wechat_openid as "wechatOpenid",
  credit_balance as "creditBalance", created_at as "createdAt"`

export interface RefundPreview {
  refundable: boolean
  /** Why not, when not refundable. */
  reason: string | null
  /** Fen: paid, refunded or reserved by pending refunds, what is left. */
  paidFen: number
  reservedFen: number
  leftFen: number
  amountFen: number
  /** A credits order paid through a provider: credits to take back, the buyer's balance, and what a forced refund would take. */
  clawBack: number
  balance: number
  creditsAlreadySpent: boolean
  forcedClawBack: number
  /** A goods order paid with credits: credits given back to the buyer. */
  creditsReturned: number
}

export function createAdminConsole(sql: Sql) {
  const ledger = createLedger(sql)
  return {
    /** main's own health figures: refunds the provider has not confirmed yet, orders awaiting payment. */
    async localHealth(): Promise<{ refundsPending: number; ordersPendingPayment: number }> {
      const [r] = await sql<{ refunds: number; pending: number }[]>`
        select (select count(*) from refunds where status = 'PENDING')::int as refunds,
               (select count(*) from orders where status = 'PENDING_PAYMENT')::int as pending`
      return { refundsPending: r!.refunds, ordersPendingPayment: r!.pending }
    },

    async refundPreview(order: OrderRow, amountFen?: number): Promise<RefundPreview> {
      const [sums] = await sql<{ amount: number; clawed: number; returned: number }[]>`
        select coalesce(sum(amount_fen), 0)::bigint as amount, coalesce(sum(credits_clawed_back), 0)::bigint as clawed,
               coalesce(sum(credits_returned), 0)::bigint as returned
          from refunds where order_id = ${order.id} and status in ('PENDING', 'SUCCEEDED')`
      const [u] = await sql<{ b: number }[]>`select credit_balance as b from users where id = ${order.userId}`
      const balance = Number(u?.b ?? 0)
      const paid = order.paidAmountFen ?? 0
      const reserved = Number(sums!.amount)
      const left = Math.max(0, paid - reserved)
      const amount = amountFen ?? left
      const base = { paidFen: paid, reservedFen: reserved, leftFen: left, amountFen: amount, balance }
      const none = { clawBack: 0, creditsAlreadySpent: false, forcedClawBack: 0, creditsReturned: 0 }
      if (!(REFUNDABLE_STATUSES as readonly string[]).includes(order.status)) {
        return { refundable: false, reason: `订单状态为 ${order.status}，不能退款`, ...base, ...none }
      }
      if (left <= 0) return { refundable: false, reason: '该订单已无可退金额（含处理中的退款）', ...base, ...none }
      if (amount <= 0 || amount > left) {
        return { refundable: false, reason: `退款金额须在 0.01 与 ${fenToYuanNumber(left).toFixed(2)} 元之间`, ...base, ...none }
      }
      const share = (total: number) => Math.floor((total * (reserved + amount)) / paid)
      if (order.paymentMethod === 'CREDITS') {
        return {
          refundable: true,
          reason: null,
          ...base,
          ...none,
          creditsReturned: Math.max(0, share(order.creditsSpent) - Number(sums!.returned)),
        }
      }
      if (order.kind === 'credits' && order.creditsGranted) {
        const due = Math.max(0, share(order.credits) - Number(sums!.clawed))
        return {
          refundable: true,
          reason: null,
          ...base,
          clawBack: due,
          creditsAlreadySpent: balance < due,
          forcedClawBack: Math.min(due, balance),
          creditsReturned: 0,
        }
      }
      return { refundable: true, reason: null, ...base, ...none }
    },

    /** Users whose email contains `q` (case-insensitive), or the user with id `q`; newest first. */
    async searchUsers(q: string | undefined, p: { limit: number; offset: number }) {
      const term = (q ?? '').trim().toLowerCase()
      const id = /^\d{1,15}$/.test(term) ? Number(term) : null
      const like = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      const where = `where ($1 = '' or lower(email) like $2 or id = $3)`
      const params = [term, like, id] as never[]
      const [rows, [count]] = await Promise.all([
        sql.unsafe<UserRow[]>(`select ${USER_COLUMNS} from users ${where} order by id desc limit $4 offset $5`, [
          ...params,
          p.limit,
          p.offset,
        ] as never[]),
        sql.unsafe<{ n: number }[]>(`select count(*)::int as n from users ${where}`, params),
      ])
      return { rows: rows.map(presentUser), total: count!.n }
    },

    async userLedger(userId: number, p: { limit: number; offset: number }) {
      const { rows, total } = await ledger.page(userId, p)
      return { rows: rows.map(presentLedgerRow), total }
    },

    async orderLedger(orderId: number) {
      const rows = await sql.unsafe<LedgerRow[]>(`select ${LEDGER_COLUMNS} from credit_ledger where order_id = $1 order by id`, [orderId])
      return rows.map(presentLedgerRow)
    },
  }
}
export type AdminConsole = ReturnType<typeof createAdminConsole>

/** What pay answers for `orderTrail` (amounts in fen). */
export interface PayTrail {
  attempts: {
    outTradeNo: string
    provider: string
    channel: string
    amount: number
    status: string
    tradeNo: string | null
    paidVia: string | null
    createdAt: string
    paidAt: string | null
    closedAt: string | null
  }[]
  notifies: { provider: string; outTradeNo: string; verdict: string; reason: string | null; receivedAt: string }[]
  events: {
    eventId: string
    type: string
    status: string
    attempts: number
    lastError: string | null
    refundNo: string | null
    createdAt: string
    deliveredAt: string | null
  }[]
  refunds: {
    refundNo: string
    provider: string
    amount: number
    /** REQUESTED (main's refunds, shown from main's own rows) | DUPLICATE_PAYMENT (pay's own, ledger-free). */
    kind?: string
    status: string
    failureReason: string | null
    createdAt: string
    refundedAt: string | null
  }[]
}

export interface TimelineEntry {
  at: string
  source: 'order' | 'attempt' | 'notify' | 'event' | 'refund' | 'ledger'
  title: string
  detail: string
  status: string | null
}

const yuan = (fen: number) => `¥${fenToYuanNumber(fen).toFixed(2)}`

/** Everything that happened to an order, oldest first (ties keep the order of the sources above). */
export function orderTimeline(
  order: OrderRow,
  refunds: RefundRow[],
  ledger: ReturnType<typeof presentLedgerRow>[],
  trail: PayTrail | null,
): TimelineEntry[] {
  const out: TimelineEntry[] = []
  const add = (at: Date | string | null | undefined, e: Omit<TimelineEntry, 'at'>) => {
    if (!at) return
    out.push({ at: typeof at === 'string' ? at : at.toISOString(), ...e })
  }
  add(order.createdAt, { source: 'order', title: '订单创建', detail: `${order.productName} · ${yuan(order.amountFen)}`, status: null })
  add(order.paidAt, {
    source: 'order',
    title: '订单已支付',
    detail: `${order.paymentMethod ?? ''}${order.paymentChannel ? `/${order.paymentChannel}` : ''} · ${yuan(order.paidAmountFen ?? 0)}${
      order.latePayment ? '（关闭后到账）' : ''
    }`,
    status: 'PAID',
  })
  add(order.closedAt, { source: 'order', title: '订单关闭', detail: order.status, status: order.status })
  for (const a of trail?.attempts ?? []) {
    add(a.createdAt, {
      source: 'attempt',
      title: '发起支付',
      detail: `${a.provider}/${a.channel} · ${a.outTradeNo} · ${yuan(a.amount)}`,
      status: a.status,
    })
    add(a.paidAt, {
      source: 'attempt',
      title: '渠道确认支付',
      detail: `${a.tradeNo ?? ''}${a.paidVia ? ` · 来源 ${a.paidVia}` : ''}`,
      status: 'PAID',
    })
    add(a.closedAt, { source: 'attempt', title: '支付尝试关闭', detail: a.outTradeNo, status: 'CLOSED' })
  }
  for (const n of trail?.notifies ?? []) {
    add(n.receivedAt, {
      source: 'notify',
      title: '收到渠道通知',
      detail: `${n.provider} · ${n.outTradeNo}${n.reason ? ` · ${n.reason}` : ''}`,
      status: n.verdict,
    })
  }
  for (const e of trail?.events ?? []) {
    add(e.createdAt, {
      source: 'event',
      title: `事件 ${e.type}`,
      detail: `${e.eventId} · 投递 ${e.attempts} 次${e.lastError ? ` · ${e.lastError}` : ''}`,
      status: e.status,
    })
    add(e.deliveredAt, { source: 'event', title: '事件已送达', detail: e.eventId, status: 'DELIVERED' })
  }
  for (const r of refunds) {
    const credits = r.creditsClawedBack
      ? ` · 扣回 ${r.creditsClawedBack} 积分`
      : r.creditsReturned
        ? ` · 返还 ${r.creditsReturned} 积分`
        : ''
    add(r.createdAt, {
      source: 'refund',
      title: '申请退款',
      detail: `${r.refundNo} · ${yuan(r.amountFen)}${credits} · ${r.reason}`,
      status: 'PENDING',
    })
    add(r.completedAt, {
      source: 'refund',
      title: r.status === 'SUCCEEDED' ? '退款成功' : '退款失败',
      detail: `${r.refundNo}${r.failureReason ? ` · ${r.failureReason}` : ''}`,
      status: r.status,
    })
  }
  // A payment taken twice: pay refunds the later one by itself; main's credits are not touched.
  for (const r of trail?.refunds ?? []) {
    if (r.kind !== 'DUPLICATE_PAYMENT') continue
    add(r.createdAt, {
      source: 'refund',
      title: '重复支付自动退款',
      detail: `${r.provider} · ${r.refundNo} · ${yuan(r.amount)} · 不涉及积分`,
      status: 'PENDING',
    })
    add(r.refundedAt ?? (r.status === 'FAILED' ? r.createdAt : null), {
      source: 'refund',
      title: r.status === 'SUCCEEDED' ? '重复支付已退回' : '重复支付退款失败，需人工处理',
      detail: `${r.refundNo}${r.failureReason ? ` · ${r.failureReason}` : ''}`,
      status: r.status,
    })
  }
  for (const l of ledger) {
    add(l.createdAt, {
      source: 'ledger',
      title: `积分 ${l.type}`,
      detail: `${l.delta > 0 ? '+' : ''}${l.delta} → 余额 ${l.balanceAfter} · ${l.description}`,
      status: null,
    })
  }
  return out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at.localeCompare(b.e.at) || a.i - b.i)
    .map(({ e }) => e)
}
