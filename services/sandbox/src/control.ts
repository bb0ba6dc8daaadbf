/**
 * Control API for tests (JSON; see docs/ARCHITECTURE.md "Sandbox control API").
 * Answers are plain JSON objects; errors use the common envelope (404 NOT_FOUND, 409 CONFLICT,
 * 400 INVALID_PARAMS).
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { AlipayContext } from './alipay/gateway.ts'
import { payAndNotify, returnUrlOf } from './alipay/cashier.ts'
import { NOTIFY_TAMPER_FIELDS, notifyDelivery, notifyParams, signedNotify, type NotifyTamper } from './alipay/notify.ts'
import { randomPrivateKey, signNotifyParams, type Params } from './alipay/signing.ts'
import { findTrade, type Trade } from './alipay/trades.ts'
import { fenToYuan, httpUrl } from './util.ts'
import { type Json, bad, objectBody, optBool, optInt, stringRecord } from './control-input.ts'

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

export function registerControl(app: FastifyInstance, ctx: AlipayContext) {
  const { sql } = ctx
  const load = async (outTradeNo: string): Promise<Trade> => {
    if (!/^[A-Za-z0-9_.\-]{1,64}$/.test(outTradeNo)) throw new AppError(404, 'NOT_FOUND', '交易不存在')
    const t = await findTrade(sql, ctx.alipay.appId, { outTradeNo })
    if (!t) throw new AppError(404, 'NOT_FOUND', '交易不存在')
    return t
  }

  app.get<{ Params: { outTradeNo: string } }>('/control/alipay/trades/:outTradeNo', async (req) =>
    tradeView(ctx, await load(req.params.outTradeNo)),
  )

  app.post<{ Params: { outTradeNo: string } }>('/control/alipay/trades/:outTradeNo/pay', async (req) => {
    const b = objectBody(req.body)
    const notify = optBool(b, 'notify', true)
    const delayMs = optInt(b, 'notifyDelayMs', 0, 0, 86_400_000)
    const t = await load(req.params.outTradeNo)
    const r = await payAndNotify(ctx, t.id, { notify, delayMs })
    if (!r) throw new AppError(404, 'NOT_FOUND', '交易不存在')
    if (r.outcome === 'closed') throw new AppError(409, 'CONFLICT', '交易已关闭，不能支付')
    return {
      trade: tradeView(ctx, r.trade),
      returnUrl: returnUrlOf(ctx, r.trade),
      alreadyPaid: r.outcome === 'already-paid',
      notifyScheduled: r.outcome === 'paid' && notify && r.trade.notify_url !== null,
    }
  })

  app.post<{ Params: { outTradeNo: string } }>('/control/alipay/trades/:outTradeNo/notify', async (req) => {
    const b = objectBody(req.body)
    const times = optInt(b, 'times', 1, 1, 50)
    const wrongKey = optBool(b, 'wrongKey', false)
    const tamperAfterSign = optBool(b, 'tamperAfterSign', false)
    const tamper = stringRecord(b.tamper, 'tamper', NOTIFY_TAMPER_FIELDS) as NotifyTamper
    const override = b.notifyUrl === undefined ? undefined : httpUrl(b.notifyUrl)
    if (override === null) throw bad('notifyUrl 必须是 http(s) URL')
    const t = await load(req.params.outTradeNo)
    const url = override ?? t.notify_url
    if (!url) throw new AppError(409, 'CONFLICT', '该交易没有 notify_url')
    const key = wrongKey ? randomPrivateKey() : ctx.keys.platformPrivate
    const notify = signedNotify(notifyParams(t, ctx.alipay.sellerId), key, { tamper, tamperAfterSign })
    const delivery = { ...notifyDelivery(t, notify, 'manual'), url }
    const results = await Promise.all(Array.from({ length: times }, () => ctx.deliveries.sendNow(delivery)))
    return {
      params: notify.params,
      deliveries: results.map((r) => ({ status: r.status, body: r.body, error: r.error })),
    }
  })

  app.post<{ Params: { outTradeNo: string } }>('/control/alipay/trades/:outTradeNo/close', async (req) => {
    const t = await load(req.params.outTradeNo)
    const [closed] = await sql<Trade[]>`
      update alipay_trades set status = 'TRADE_CLOSED', closed_at = now()
      where id = ${t.id} and status = 'WAIT_BUYER_PAY' returning *`
    if (closed) return tradeView(ctx, closed)
    const now = await load(req.params.outTradeNo)
    if (now.status === 'TRADE_CLOSED') return tradeView(ctx, now)
    throw new AppError(409, 'CONFLICT', '交易已支付，不能关闭')
  })

  app.get<{ Querystring: { outTradeNo?: unknown } }>('/control/alipay/notifications', async (req) => {
    const ref = req.query.outTradeNo
    if (ref !== undefined && (typeof ref !== 'string' || ref.length > 64)) throw bad('outTradeNo 无效')
    const rows = await sql<
      {
        delivery_id: number
        kind: string
        reference: string | null
        url: string
        body: string | null
        state: string
        attempt: number
        status: number | null
        response_body: string | null
        error: string | null
        sent_at: Date
      }[]
    >`
      select a.delivery_id, d.kind, a.reference, d.url, d.body, d.state, a.attempt, a.status, a.response_body, a.error, a.sent_at
      from notify_attempts a join notify_deliveries d on d.id = a.delivery_id
      where a.provider = 'alipay' and (${ref ?? null}::text is null or a.reference = ${ref ?? null})
      order by a.id
      limit 1000`
    return rows.map((r) => ({
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
      params: Object.fromEntries(new URLSearchParams(r.body ?? '')),
    }))
  })

  app.post('/control/alipay/notify-raw', async (req) => {
    const b = objectBody(req.body)
    const url = httpUrl(b.notifyUrl)
    if (!url) throw bad('notifyUrl 必须是 http(s) URL')
    if (b.params === undefined) throw bad('缺少 params')
    const params = stringRecord(b.params, 'params')
    const key = optBool(b, 'wrongKey', false) ? randomPrivateKey() : ctx.keys.platformPrivate
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
