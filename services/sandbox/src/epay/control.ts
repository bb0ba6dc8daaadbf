/**
 * Epay control API for tests (JSON), mirroring Alipay's (see services/sandbox/README.md):
 * trades (get / pay / notify / close), the notifications list and forged raw notifies.
 * Errors use the common envelope (404 NOT_FOUND, 409 CONFLICT, 400 INVALID_PARAMS).
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import { fenToYuan, httpUrl } from '../util.ts'
import type { EpayContext } from './api.ts'
import { payAndNotify, qrCodeOf, returnUrlOf } from './cashier.ts'
import { NOTIFY_TAMPER_FIELDS, notifyDelivery, notifyParams, signedNotifyParams, type NotifyTamper } from './notify.ts'
import { randomKey, signParams, type Params } from './signing.ts'
import { closeTrade, findTrade, type EpayTrade, type MoneyStyle } from './trades.ts'
import { type Json, bad, objectBody, optBool, optInt, stringRecord } from '../control-input.ts'

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

export function registerEpayControl(app: FastifyInstance, ctx: EpayContext) {
  const { sql } = ctx
  const load = async (outTradeNo: string): Promise<EpayTrade> => {
    const t = /^[a-zA-Z0-9._\-|]{1,150}$/.test(outTradeNo) ? await findTrade(sql, ctx.epay.pid, { outTradeNo }) : null
    if (!t) throw new AppError(404, 'NOT_FOUND', '订单不存在')
    return t
  }

  app.get<{ Params: { outTradeNo: string } }>('/control/epay/trades/:outTradeNo', async (req) =>
    epayTradeView(ctx, await load(req.params.outTradeNo)),
  )

  app.post<{ Params: { outTradeNo: string } }>('/control/epay/trades/:outTradeNo/pay', async (req) => {
    const b = objectBody(req.body)
    const notify = optBool(b, 'notify', true)
    const delayMs = optInt(b, 'notifyDelayMs', 0, 0, 86_400_000)
    const moneyStyle = optMoneyStyle(b)
    const t = await load(req.params.outTradeNo)
    const r = await payAndNotify(ctx, t.id, { notify, delayMs, moneyStyle })
    if (!r) throw new AppError(404, 'NOT_FOUND', '订单不存在')
    if (r.outcome === 'closed') throw new AppError(409, 'CONFLICT', '订单已关闭，不能支付')
    return {
      trade: epayTradeView(ctx, r.trade),
      returnUrl: returnUrlOf(ctx, r.trade),
      alreadyPaid: r.outcome === 'already-paid',
      notifyScheduled: r.outcome === 'paid' && notify,
    }
  })

  app.post<{ Params: { outTradeNo: string } }>('/control/epay/trades/:outTradeNo/notify', async (req) => {
    const b = objectBody(req.body)
    const times = optInt(b, 'times', 1, 1, 50)
    const wrongKey = optBool(b, 'wrongKey', false)
    const tamperAfterSign = optBool(b, 'tamperAfterSign', false)
    const tamper = stringRecord(b.tamper, 'tamper', NOTIFY_TAMPER_FIELDS) as NotifyTamper
    const moneyStyle = optMoneyStyle(b)
    const override = b.notifyUrl === undefined ? undefined : httpUrl(b.notifyUrl)
    if (override === null) throw bad('notifyUrl 必须是 http(s) URL')
    const t = await load(req.params.outTradeNo)
    const signed = signedNotifyParams(notifyParams(t, moneyStyle), wrongKey ? randomKey() : ctx.epay.key, { tamper, tamperAfterSign })
    const delivery = notifyDelivery(t.out_trade_no, override ?? t.notify_url, signed, 'manual')
    const results = await Promise.all(Array.from({ length: times }, () => ctx.deliveries.sendNow(delivery)))
    return {
      params: signed,
      url: delivery.url,
      deliveries: results.map((r) => ({ status: r.status, body: r.body, error: r.error })),
    }
  })

  app.post<{ Params: { outTradeNo: string } }>('/control/epay/trades/:outTradeNo/close', async (req) => {
    const t = await load(req.params.outTradeNo)
    const closed = await closeTrade(sql, t)
    if (!closed) throw new AppError(409, 'CONFLICT', '订单已支付，不能关闭')
    return epayTradeView(ctx, closed)
  })

  app.get<{ Querystring: { outTradeNo?: unknown } }>('/control/epay/notifications', async (req) => {
    const ref = req.query.outTradeNo
    if (ref !== undefined && (typeof ref !== 'string' || ref.length > 150)) throw bad('outTradeNo 无效')
    const rows = await sql<
      {
        delivery_id: number
        kind: string
        reference: string | null
        url: string
        state: string
        attempt: number
        status: number | null
        response_body: string | null
        error: string | null
        sent_at: Date
      }[]
    >`
      select a.delivery_id, d.kind, a.reference, d.url, d.state, a.attempt, a.status, a.response_body, a.error, a.sent_at
      from notify_attempts a join notify_deliveries d on d.id = a.delivery_id
      where a.provider = 'epay' and (${ref ?? null}::text is null or a.reference = ${ref ?? null})
      order by a.id
      limit 1000`
    return rows.map((r) => {
      let params: Record<string, string> = {}
      try {
        params = Object.fromEntries(new URL(r.url).searchParams)
      } catch {
        /* not a URL */
      }
      return {
        outTradeNo: r.reference,
        deliveryId: r.delivery_id,
        kind: r.kind,
        attempt: r.attempt,
        status: r.status,
        responseBody: r.response_body,
        error: r.error,
        sentAt: r.sent_at.toISOString(),
        deliveryState: r.state,
        notifyUrl: r.url,
        params,
      }
    })
  })

  app.post('/control/epay/notify-raw', async (req) => {
    const b = objectBody(req.body)
    const url = httpUrl(b.notifyUrl)
    if (!url) throw bad('notifyUrl 必须是 http(s) URL')
    if (b.params === undefined) throw bad('缺少 params')
    const params = stringRecord(b.params, 'params')
    const signed = signParams(params, optBool(b, 'wrongKey', false) ? randomKey() : ctx.epay.key)
    const delivery = notifyDelivery(signed.out_trade_no ?? null, url, signed, 'raw')
    const r = await ctx.deliveries.sendNow(delivery)
    return { status: r.status, body: r.body, error: r.error, params: signed, url: delivery.url }
  })
}
