/**
 * Control API for WeChat bills (tests; JSON, errors in the common envelope):
 * - `POST /control/bills/format {provider: 'wechat', bom?: boolean, layout?: 'CURRENT'|'LEGACY'}`
 *   and `GET /control/bills/format`: how later bills are written (options.ts).
 * - `POST /control/wechat/trades/{outTradeNo}/bill-coupon {amount: fen | null}`: the trade had a
 *   non-top-up coupon (免充值券) of `amount` — its bill row shows 应结订单金额 = 订单金额 − amount and
 *   the fee on that; null: none. The trade itself is unchanged.
 * - `POST /control/wechat/trades/{outTradeNo}/timeline {paidAt}` and
 *   `POST /control/wechat/refunds/{outRefundNo}/timeline {acceptedAt?, status?, successAt?}`: move
 *   a paid trade or a refund in time, and set how the refund ended (SUCCESS, PROCESSING, ABNORMAL,
 *   CLOSED; successAt only with SUCCESS) — a refund accepted one day and done (or failed) the next,
 *   as WeChat's refunds to bank cards are. Times are ISO 8601, not in the future.
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { MAX_TRADE_FEN } from '../util.ts'
import { bad, objectBody, optBool, type Json } from '../control-input.ts'
import { BILL_LAYOUTS, billFormatOf, setBillCoupon, setBillFormat, type BillLayout } from './bill-options.ts'

const REFUND_STATUSES = ['SUCCESS', 'PROCESSING', 'ABNORMAL', 'CLOSED'] as const
const NO_RE = /^[A-Za-z0-9_.\-|*@]{1,64}$/

function pastTime(b: Json, key: string): Date | undefined {
  const v = b[key]
  if (v === undefined) return undefined
  const d = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : null
  if (!d || Number.isNaN(d.getTime())) throw bad(`${key} 必须是 ISO 8601 时间`)
  if (d.getTime() > Date.now() + 1000) throw bad(`${key} 不能晚于现在`)
  return d
}

export function registerWechatBillControl(app: FastifyInstance, deps: { sql: Sql; mchid: string }) {
  const { sql, mchid } = deps

  app.post('/control/bills/format', async (req) => {
    const b = objectBody(req.body)
    if (b.provider !== 'wechat') throw bad('provider 只能是 wechat（支付宝账单只有一种格式）')
    const now = await billFormatOf(sql, 'wechat')
    const layout = b.layout === undefined ? now.layout : (b.layout as BillLayout)
    if (!BILL_LAYOUTS.includes(layout)) throw bad(`layout 必须是 ${BILL_LAYOUTS.join(' 或 ')}`)
    const format = { bom: optBool(b, 'bom', now.bom), layout }
    await setBillFormat(sql, 'wechat', format)
    return { provider: 'wechat', ...format }
  })
  app.get('/control/bills/format', async () => ({ wechat: await billFormatOf(sql, 'wechat') }))

  app.post<{ Params: { outTradeNo: string } }>('/control/wechat/trades/:outTradeNo/bill-coupon', async (req) => {
    const amount = objectBody(req.body).amount
    if (amount !== null && (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > MAX_TRADE_FEN))
      throw bad(`amount 必须是 1～${MAX_TRADE_FEN} 的整数（分），或 null 取消`)
    const { outTradeNo } = req.params
    const [trade] = NO_RE.test(outTradeNo)
      ? await sql<{ total: number }[]>`select total from wechat_trades where mchid = ${mchid} and out_trade_no = ${outTradeNo}`
      : []
    if (!trade) throw new AppError(404, 'NOT_FOUND', '交易不存在')
    if (amount !== null && amount >= Number(trade.total)) throw bad('免充值券金额必须小于订单金额')
    await setBillCoupon(sql, 'wechat', outTradeNo, amount as number | null)
    return { provider: 'wechat', outTradeNo, coupon: amount }
  })

  app.post<{ Params: { outTradeNo: string } }>('/control/wechat/trades/:outTradeNo/timeline', async (req) => {
    const b = objectBody(req.body)
    const paidAt = pastTime(b, 'paidAt')
    if (!paidAt) throw bad('paidAt 必填')
    const { outTradeNo } = req.params
    const [row] = NO_RE.test(outTradeNo)
      ? await sql<{ paid_at: Date }[]>`update wechat_trades set paid_at = ${paidAt}
          where mchid = ${mchid} and out_trade_no = ${outTradeNo} and paid_at is not null returning paid_at`
      : []
    if (!row) throw new AppError(404, 'NOT_FOUND', '已支付的交易不存在')
    return { provider: 'wechat', outTradeNo, paidAt: row.paid_at.toISOString() }
  })

  app.post<{ Params: { outRefundNo: string } }>('/control/wechat/refunds/:outRefundNo/timeline', async (req) => {
    const b = objectBody(req.body)
    const acceptedAt = pastTime(b, 'acceptedAt')
    const status = b.status
    if (status !== undefined && !REFUND_STATUSES.includes(status as never)) throw bad(`status 必须是 ${REFUND_STATUSES.join(', ')} 之一`)
    const successAt = b.successAt === null ? null : pastTime(b, 'successAt')
    const { outRefundNo } = req.params
    const [now] = NO_RE.test(outRefundNo)
      ? await sql<{ status: string; created_at: Date; success_time: Date | null }[]>`
          select status, created_at, success_time from wechat_refunds where mchid = ${mchid} and out_refund_no = ${outRefundNo}`
      : []
    if (!now) throw new AppError(404, 'NOT_FOUND', '退款不存在')
    const next = {
      status: (status as string | undefined) ?? now.status,
      createdAt: acceptedAt ?? now.created_at,
      successTime: successAt === undefined ? now.success_time : successAt,
    }
    if (next.status !== 'SUCCESS') next.successTime = null
    else if (!next.successTime) throw bad('status 为 SUCCESS 时需要 successAt')
    if (next.successTime && next.successTime < next.createdAt) throw bad('successAt 不能早于 acceptedAt')
    await sql`update wechat_refunds set status = ${next.status}, created_at = ${next.createdAt}, success_time = ${next.successTime}
              where mchid = ${mchid} and out_refund_no = ${outRefundNo}`
    return {
      provider: 'wechat',
      outRefundNo,
      status: next.status,
      acceptedAt: next.createdAt.toISOString(),
      successAt: next.successTime?.toISOString() ?? null,
    }
  })
}
