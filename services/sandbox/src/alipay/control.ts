/**
 * Alipay's control API for tests (JSON; see docs/ARCHITECTURE.md "Sandbox control API"): its trades
 * for the shared trade routes (../control.ts) under /control/alipay/…, and `notify-raw` (forged
 * notifies for any parameters). Errors use the common envelope (404 NOT_FOUND, 409 CONFLICT, 400 INVALID_PARAMS).
 */
import type { FastifyInstance } from 'fastify'
import type { TradeControl } from '../control.ts'
import { fenToYuan, httpUrl } from '../util.ts'
import { bad, objectBody, optBool, rawNotifyInput, stringRecord } from '../control-input.ts'
import { AppError } from '@paysys/contracts'
import type { AlipayContext } from './gateway.ts'
import { payAndNotify, returnUrlOf } from './cashier.ts'
import { NOTIFY_TAMPER_FIELDS, notifyDelivery, notifyParams, signedNotify, type NotifyTamper } from './notify.ts'
import { randomPrivateKey, signNotifyParams } from './signing.ts'
import { findTrade, findTradeById, type Trade } from './trades.ts'

export function tradeView(ctx: AlipayContext, t: Trade) {
  return {
    outTradeNo: t.out_trade_no,
    tradeNo: t.trade_no,
    status: t.status,
    totalAmount: fenToYuan(t.total_amount),
    totalAmountFen: t.total_amount,
    refundedAmount: fenToYuan(t.refunded_amount),
    subject: t.subject,
    channel: t.channel,
    notifyUrl: t.notify_url,
    returnUrl: t.return_url,
    qrCode: t.qr_code,
    paymentId: t.id,
    cashierUrl: `${ctx.config.publicUrl}/cashier/${t.id}`,
    paidAt: t.paid_at?.toISOString() ?? null,
    closedAt: t.closed_at?.toISOString() ?? null,
  }
}

export function alipayTradeControl(ctx: AlipayContext): TradeControl<Trade> {
  const { sql } = ctx
  return {
    outTradeNo: /^[A-Za-z0-9_.\-]{1,64}$/,
    find: (outTradeNo) => findTrade(sql, ctx.alipay.appId, { outTradeNo }),
    view: (t) => tradeView(ctx, t),
    words: { notFound: '交易不存在', closedCannotPay: '交易已关闭，不能支付', paidCannotClose: '交易已支付，不能关闭' },
    pay: () => (t, opts) => payAndNotify(ctx, t.id, opts),
    payAnswer: (r, notify) => ({
      returnUrl: returnUrlOf(ctx, r.trade),
      notifyScheduled: r.outcome === 'paid' && notify && r.trade.notify_url !== null,
    }),
    notify(b, notifyUrl) {
      const wrongKey = optBool(b, 'wrongKey', false)
      const tamperAfterSign = optBool(b, 'tamperAfterSign', false)
      const tamper = stringRecord(b.tamper, 'tamper', NOTIFY_TAMPER_FIELDS) as NotifyTamper
      return (t) => {
        const url = notifyUrl ?? t.notify_url
        if (!url) throw new AppError(409, 'CONFLICT', '该交易没有 notify_url')
        const key = wrongKey ? randomPrivateKey() : ctx.keys.platformPrivate
        const notify = signedNotify(notifyParams(t, ctx.alipay.sellerId), key, { tamper, tamperAfterSign })
        return { delivery: { ...notifyDelivery(t, notify, 'manual'), url }, answer: () => ({ params: notify.params }) }
      }
    },
    async close(t) {
      const [closed] = await sql<Trade[]>`
        update alipay_trades set status = 'TRADE_CLOSED', closed_at = now()
        where id = ${t.id} and status = 'WAIT_BUYER_PAY' returning *`
      if (closed) return closed
      const now = await findTradeById(sql, t.id)
      return now?.status === 'TRADE_CLOSED' ? now : null
    },
    maxReference: 64,
    attemptView: (sent) => ({ params: Object.fromEntries(new URLSearchParams(sent.body ?? '')) }),
  }
}

/** `POST /control/alipay/notify-raw {notifyUrl, params, wrongKey?}`: signs `params` as a notify and POSTs it once. */
export function registerAlipayControl(app: FastifyInstance, ctx: AlipayContext) {
  app.post('/control/alipay/notify-raw', async (req) => {
    const { url, params, wrongKey } = rawNotifyInput(req.body)
    const key = wrongKey ? randomPrivateKey() : ctx.keys.platformPrivate
    const signed = signNotifyParams(params, key)
    const r = await ctx.deliveries.sendNow({
      provider: 'alipay',
      kind: 'raw',
      reference: signed.out_trade_no ?? null,
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: new URLSearchParams(signed).toString(),
    })
    return { status: r.status, body: r.body, error: r.error, params: signed }
  })
}
