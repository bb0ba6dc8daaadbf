/**
 * WeChat Pay's control API for tests (JSON): its trades for the shared trade routes (../control.ts)
 * under /control/wechat/… (notify with duplicates, tampering, wrong key or serial, corrupted
 * ciphertext), and notify-raw (forged notifies for unknown trades).
 */
import type { FastifyInstance } from 'fastify'
import type { TradeControl } from '../control.ts'
import { httpUrl } from '../util.ts'
import { payAndNotify } from './cashier.ts'
import type { WechatContext } from './index.ts'
import {
  NOTIFY_TAMPER_FIELDS,
  applyTamper,
  buildNotify,
  notifyDelivery,
  refundNotifier,
  transactionObject,
  type NotifyTamper,
} from './notify.ts'
import { randomPrivateKey, randomSerial } from './signing.ts'
import { REFUND_STATUSES, findByOutTradeNo, findById, findRefund, settleRefund, type RefundStatus, type WxTrade } from './trades.ts'
import { type Json, bad, objectBody, optBool } from '../control-input.ts'

function tamperOf(v: unknown): NotifyTamper {
  if (v === undefined) return {}
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('tamper 必须是对象')
  const out: NotifyTamper = {}
  for (const [k, val] of Object.entries(v as Json)) {
    if (!(NOTIFY_TAMPER_FIELDS as readonly string[]).includes(k))
      throw bad(`tamper.${k} 不支持（可用：${NOTIFY_TAMPER_FIELDS.join(', ')}）`)
    if (typeof val !== 'string' && typeof val !== 'number') throw bad(`tamper.${k} 必须是字符串或数字`)
    out[k as keyof NotifyTamper] = val
  }
  return out
}

export function wechatTradeView(ctx: WechatContext, t: WxTrade) {
  return {
    outTradeNo: t.out_trade_no,
    transactionId: t.paid_at ? t.transaction_id : null,
    tradeState: t.trade_state,
    tradeType: t.trade_type,
    amountTotal: t.total,
    refunded: t.refunded,
    description: t.description,
    notifyUrl: t.notify_url,
    codeUrl: t.code_url,
    prepayId: t.prepay_id,
    payerOpenid: t.payer_openid,
    redirectUrl: t.redirect_url,
    paymentId: t.id,
    cashierUrl: `${ctx.config.publicUrl}/cashier/${t.id}`,
    timeExpire: t.time_expire?.toISOString() ?? null,
    paidAt: t.paid_at?.toISOString() ?? null,
    closedAt: t.closed_at?.toISOString() ?? null,
  }
}

export function wechatTradeControl(ctx: WechatContext): TradeControl<WxTrade> {
  const { sql, keys } = ctx
  return {
    outTradeNo: /^[A-Za-z0-9_\-|*]{1,64}$/,
    find: (outTradeNo) => findByOutTradeNo(sql, keys.mchId, outTradeNo),
    view: (t) => wechatTradeView(ctx, t),
    words: { notFound: '交易不存在', closedCannotPay: '订单已关闭，不能支付', paidCannotClose: '订单已支付，不能关闭' },
    pay: () => (t, opts) => payAndNotify(ctx, t.id, opts),
    payAnswer: (r, notify) => ({ redirectUrl: r.trade.redirect_url, notifyScheduled: r.outcome === 'paid' && notify }),
    /**
     * The TRANSACTION.SUCCESS notify. `tamper` values go into the resource before it is encrypted and
     * signed (a valid notify carrying wrong data); `wrongKey` signs with a fresh key; `wrongSerial`
     * names another certificate; `corruptCiphertext` flips ciphertext bits that only the GCM tag check detects.
     */
    notify(b, notifyUrl) {
      const tamper = tamperOf(b.tamper)
      const opts = signing(b)
      return (t) => {
        const tx = applyTamper(transactionObject(t, { asPaid: true }), tamper)
        const n = buildNotify(tx, keys, opts)
        const delivery = { ...notifyDelivery(t, n, 'manual'), url: notifyUrl ?? t.notify_url }
        return { delivery, answer: () => ({ notification: JSON.parse(n.body) as unknown, resource: tx }) }
      }
    },
    async close(t) {
      const [closed] = await sql<WxTrade[]>`
        update wechat_trades set trade_state = 'CLOSED', closed_at = now() where id = ${t.id} and trade_state = 'NOTPAY' returning *`
      if (closed) return closed
      const now = (await findById(sql, t.id))!
      return now.trade_state === 'CLOSED' ? now : null
    },
    maxReference: 64,
    attemptView(sent) {
      let notification: unknown = null
      try {
        notification = JSON.parse(sent.body ?? '')
      } catch {
        /* not JSON */
      }
      return { notification }
    },
  }
}

/** Signing options shared by notify and notify-raw. */
const signing = (b: Json) => ({
  signingKey: optBool(b, 'wrongKey', false) ? randomPrivateKey() : undefined,
  serial: optBool(b, 'wrongSerial', false) ? randomSerial() : undefined,
  corruptCiphertext: optBool(b, 'corruptCiphertext', false),
})

/**
 * `POST /control/wechat/refund-mode {status}`: what new refunds become (SUCCESS, PROCESSING, ABNORMAL,
 * CLOSED). `POST /control/wechat/refunds/:outRefundNo {status}`: a PROCESSING or ABNORMAL refund
 * becomes SUCCESS, ABNORMAL or CLOSED (409 when it is final already), and its REFUND.<status> notify
 * is sent to the refund's notify_url as WeChat sends it. Both answer the current state.
 */
function registerRefundControl(app: FastifyInstance, ctx: WechatContext) {
  const statusOf = (v: unknown, allowed: readonly string[]) => {
    if (typeof v !== 'string' || !allowed.includes(v)) throw bad(`status 必须是 ${allowed.join(', ')} 之一`)
    return v
  }
  app.post('/control/wechat/refund-mode', async (req) => {
    ctx.refundMode.status = statusOf(objectBody(req.body).status, REFUND_STATUSES) as RefundStatus
    return { refundMode: ctx.refundMode.status }
  })
  app.post<{ Params: { no: string } }>('/control/wechat/refunds/:no', async (req, reply) => {
    const status = statusOf(objectBody(req.body).status, ['SUCCESS', 'ABNORMAL', 'CLOSED']) as 'SUCCESS' | 'ABNORMAL' | 'CLOSED'
    const settled = await settleRefund(ctx.sql, ctx.keys.mchId, req.params.no, status, refundNotifier(ctx.deliveries, ctx.keys))
    if (settled) ctx.deliveries.kick()
    const now = await findRefund(ctx.sql, ctx.keys.mchId, req.params.no)
    if (!now) return reply.status(404).send({ error: 'NOT_FOUND', message: '退款单不存在' })
    const view = { outRefundNo: now.out_refund_no, status: now.status, refund: now.refund, tradeRefunded: now.trade.refunded }
    if (!settled) return reply.status(409).send({ error: 'REFUND_FINAL', message: `退款已是 ${now.status}`, refund: view })
    return { refund: view }
  })
}

/**
 * `POST /control/wechat/notify-raw`: encrypts `resource` (a transaction object, or a refund object with
 * `originalType: "refund"`, sent as given), signs and POSTs it once to `notifyUrl`.
 */
export function registerWechatControl(app: FastifyInstance, ctx: WechatContext) {
  registerRefundControl(app, ctx)
  app.post('/control/wechat/notify-raw', async (req) => {
    const b = objectBody(req.body)
    const url = httpUrl(b.notifyUrl)
    if (!url) throw bad('notifyUrl 必须是 http(s) URL')
    if (typeof b.resource !== 'object' || b.resource === null || Array.isArray(b.resource)) throw bad('resource 必须是对象')
    const eventType = b.eventType === undefined ? undefined : String(b.eventType)
    const tx = b.resource as Json
    const originalType = b.originalType === 'refund' ? ('refund' as const) : undefined
    const n = buildNotify(tx, ctx.keys, { ...signing(b), eventType, originalType })
    const reference = typeof tx.out_trade_no === 'string' ? tx.out_trade_no.slice(0, 64) : null
    const r = await ctx.deliveries.sendNow({ ...notifyDelivery({ out_trade_no: reference ?? '', notify_url: url }, n, 'raw'), reference })
    return { status: r.status, body: r.body, error: r.error, notification: JSON.parse(n.body) as unknown }
  })
}
