/**
 * Epay's control API for tests (JSON; see services/sandbox/README.md): its trades for the shared
 * trade routes (../control.ts) under /control/epay/…, and `notify-raw` (forged notifies).
 * Errors use the common envelope (404 NOT_FOUND, 409 CONFLICT, 400 INVALID_PARAMS).
 */
import type { FastifyInstance } from 'fastify'
import type { TradeControl } from '../control.ts'
import { fenToYuan, httpUrl } from '../util.ts'
import type { EpayContext } from './api.ts'
import { notifySigner, payAndNotify, qrCodeOf, returnUrlOf } from './cashier.ts'
import { NOTIFY_TAMPER_FIELDS, notifyDelivery, notifyParams, signedNotifyParams, type NotifyTamper } from './notify.ts'
import { randomKey, signParams } from './signing.ts'
import { closeTrade, findTrade, type EpayTrade, type MoneyStyle } from './trades.ts'
import { type Json, bad, objectBody, optBool, rawNotifyInput, stringRecord } from '../control-input.ts'

function optMoneyStyle(b: Json): MoneyStyle | undefined {
  const v = b.moneyStyle
  if (v === undefined) return undefined
  if (v !== 'fixed' && v !== 'float') throw bad('moneyStyle 必须是 fixed 或 float')
  return v
}

const STATE: Record<number, string> = { 0: 'UNPAID', 1: 'PAID', 2: 'REFUNDED' }

export function epayTradeView(ctx: EpayContext, t: EpayTrade) {
  return {
    outTradeNo: t.out_trade_no,
    tradeNo: t.trade_no,
    pid: t.pid,
    type: t.type,
    /** Epay's order status: 0 unpaid, 1 paid, 2 refunded. */
    status: t.status,
    state: t.status === 0 && t.closed_at ? 'CLOSED' : (STATE[t.status] ?? 'UNKNOWN'),
    money: fenToYuan(t.money),
    moneyFen: t.money,
    refundedMoney: fenToYuan(t.refunded_money),
    name: t.name,
    notifyUrl: t.notify_url,
    returnUrl: t.return_url,
    param: t.param,
    device: t.device,
    api: t.api,
    qrCode: qrCodeOf(ctx, t),
    paymentId: t.id,
    cashierUrl: `${ctx.config.publicUrl}/cashier/${t.id}`,
    moneyStyle: t.money_style,
    createdAt: t.created_at.toISOString(),
    paidAt: t.paid_at?.toISOString() ?? null,
    closedAt: t.closed_at?.toISOString() ?? null,
  }
}

export function epayTradeControl(ctx: EpayContext): TradeControl<EpayTrade> {
  return {
    outTradeNo: /^[a-zA-Z0-9._\-|]{1,150}$/,
    find: (outTradeNo) => findTrade(ctx.sql, ctx.epay.pid, { outTradeNo }),
    view: (t) => epayTradeView(ctx, t),
    words: { notFound: '订单不存在', closedCannotPay: '订单已关闭，不能支付', paidCannotClose: '订单已支付，不能关闭' },
    pay(b) {
      const moneyStyle = optMoneyStyle(b)
      return (t, opts) => payAndNotify(ctx, t.id, { ...opts, moneyStyle })
    },
    payAnswer: (r, notify) => ({ returnUrl: returnUrlOf(ctx, r.trade), notifyScheduled: r.outcome === 'paid' && notify }),
    notify(b, notifyUrl) {
      const wrongKey = optBool(b, 'wrongKey', false)
      const tamperAfterSign = optBool(b, 'tamperAfterSign', false)
      const tamper = stringRecord(b.tamper, 'tamper', NOTIFY_TAMPER_FIELDS) as NotifyTamper
      const moneyStyle = optMoneyStyle(b)
      return (t) => {
        const signed = signedNotifyParams(notifyParams(t, moneyStyle), notifySigner(ctx, t, wrongKey), { tamper, tamperAfterSign })
        const delivery = notifyDelivery(t.out_trade_no, notifyUrl ?? t.notify_url, signed, 'manual')
        return { delivery, answer: () => ({ params: signed, url: delivery.url }) }
      }
    },
    close: (t) => closeTrade(ctx.sql, t),
    maxReference: 150,
    attemptView(sent) {
      let params: Record<string, string> = {}
      try {
        params = Object.fromEntries(new URL(sent.url).searchParams)
      } catch {
        /* not a URL */
      }
      return { params }
    },
  }
}

/** `POST /control/epay/notify-raw {notifyUrl, params, wrongKey?}`: signs `params` as a notify and sends it once. */
export function registerEpayControl(app: FastifyInstance, ctx: EpayContext) {
  /**
   * `POST /control/epay/modes {refundBalanceInsufficient?, ipLimit?}`: the operator's settings that make
   * Epay refuse (refunds with 商户余额不足; creates per pay_iplimit, `ipLimit: null` off). Answers the modes.
   */
  app.post('/control/epay/modes', async (req) => {
    const b = objectBody(req.body)
    if (b.refundBalanceInsufficient !== undefined) ctx.modes.refundBalanceInsufficient = optBool(b, 'refundBalanceInsufficient', false)
    if (b.ipLimit !== undefined) {
      if (b.ipLimit !== null && (typeof b.ipLimit !== 'number' || !Number.isInteger(b.ipLimit) || b.ipLimit < 0 || b.ipLimit > 1_000_000))
        throw bad('ipLimit 必须是非负整数或 null')
      ctx.modes.ipLimit = b.ipLimit
    }
    return { ...ctx.modes }
  })

  app.post('/control/epay/notify-raw', async (req) => {
    const { url, params, wrongKey } = rawNotifyInput(req.body)
    const signed = signParams(params, wrongKey ? randomKey() : ctx.epay.key)
    const delivery = notifyDelivery(signed.out_trade_no ?? null, url, signed, 'raw')
    const r = await ctx.deliveries.sendNow(delivery)
    return { status: r.status, body: r.body, error: r.error, params: signed, url: delivery.url }
  })
}
