/**
 * Control API for tests, WeChat Pay (JSON), mirroring Alipay's under /control/wechat/…:
 * trades get / pay / notify (duplicates, tampering, wrong key or serial, corrupted ciphertext) / close,
 * the notifications list, and notify-raw (forged notifies for unknown trades).
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import { httpUrl } from '../util.ts'
import { payAndNotify } from './cashier.ts'
import type { WechatContext } from './index.ts'
import { NOTIFY_TAMPER_FIELDS, applyTamper, buildNotify, notifyDelivery, transactionObject, type NotifyTamper } from './notify.ts'
import { randomPrivateKey, randomSerial } from './signing.ts'
import { findByOutTradeNo, findById, type WxTrade } from './trades.ts'
import { type Json, bad, objectBody, optBool, optInt } from '../control-input.ts'

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

export function registerWechatControl(app: FastifyInstance, ctx: WechatContext) {
  const { sql, keys } = ctx
  const load = async (outTradeNo: string): Promise<WxTrade> => {
    const t = /^[A-Za-z0-9_\-|*]{1,64}$/.test(outTradeNo) ? await findByOutTradeNo(sql, keys.mchId, outTradeNo) : null
    if (!t) throw new AppError(404, 'NOT_FOUND', '交易不存在')
    return t
  }

  /** Signing options shared by notify and notify-raw. */
  const signing = (b: Json) => ({
    signingKey: optBool(b, 'wrongKey', false) ? randomPrivateKey() : undefined,
    serial: optBool(b, 'wrongSerial', false) ? randomSerial() : undefined,
    corruptCiphertext: optBool(b, 'corruptCiphertext', false),
  })

  app.get<{ Params: { outTradeNo: string } }>('/control/wechat/trades/:outTradeNo', async (req) =>
    wechatTradeView(ctx, await load(req.params.outTradeNo)),
  )

  app.post<{ Params: { outTradeNo: string } }>('/control/wechat/trades/:outTradeNo/pay', async (req) => {
    const b = objectBody(req.body)
    const notify = optBool(b, 'notify', true)
    const delayMs = optInt(b, 'notifyDelayMs', 0, 0, 86_400_000)
    const t = await load(req.params.outTradeNo)
    const r = await payAndNotify(ctx, t.id, { notify, delayMs })
    if (!r) throw new AppError(404, 'NOT_FOUND', '交易不存在')
    if (r.outcome === 'closed') throw new AppError(409, 'CONFLICT', '订单已关闭，不能支付')
    return {
      trade: wechatTradeView(ctx, r.trade),
      redirectUrl: r.trade.redirect_url,
      alreadyPaid: r.outcome === 'already-paid',
      notifyScheduled: r.outcome === 'paid' && notify,
    }
  })

  /**
   * Sends the TRANSACTION.SUCCESS notify now (`times` copies concurrently, one-shot each). `tamper`
   * values go into the resource before it is encrypted and signed (a valid notify carrying wrong
   * data); `wrongKey` signs with a fresh key; `wrongSerial` names another certificate;
   * `corruptCiphertext` flips ciphertext bits that only the GCM tag check detects.
   */
  app.post<{ Params: { outTradeNo: string } }>('/control/wechat/trades/:outTradeNo/notify', async (req) => {
    const b = objectBody(req.body)
    const times = optInt(b, 'times', 1, 1, 50)
    const tamper = tamperOf(b.tamper)
    const opts = signing(b)
    const override = b.notifyUrl === undefined ? undefined : httpUrl(b.notifyUrl)
    if (override === null) throw bad('notifyUrl 必须是 http(s) URL')
    const t = await load(req.params.outTradeNo)
    const tx = applyTamper(transactionObject(t, { asPaid: true }), tamper)
    const n = buildNotify(tx, keys, opts)
    const delivery = { ...notifyDelivery(t, n, 'manual'), url: override ?? t.notify_url }
    const results = await Promise.all(Array.from({ length: times }, () => ctx.deliveries.sendNow(delivery)))
    return {
      notification: JSON.parse(n.body) as unknown,
      resource: tx,
      deliveries: results.map((r) => ({ status: r.status, body: r.body, error: r.error })),
    }
  })

  app.post<{ Params: { outTradeNo: string } }>('/control/wechat/trades/:outTradeNo/close', async (req) => {
    const t = await load(req.params.outTradeNo)
    const [closed] = await sql<WxTrade[]>`
      update wechat_trades set trade_state = 'CLOSED', closed_at = now() where id = ${t.id} and trade_state = 'NOTPAY' returning *`
    if (closed) return wechatTradeView(ctx, closed)
    const now = (await findById(sql, t.id))!
    if (now.trade_state === 'CLOSED') return wechatTradeView(ctx, now)
    throw new AppError(409, 'CONFLICT', '订单已支付，不能关闭')
  })

  app.get<{ Querystring: { outTradeNo?: unknown } }>('/control/wechat/notifications', async (req) => {
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
      where a.provider = 'wechat' and (${ref ?? null}::text is null or a.reference = ${ref ?? null})
      order by a.id
      limit 1000`
    return rows.map((r) => {
      let notification: unknown = null
      try {
        notification = JSON.parse(r.body ?? '')
      } catch {
        /* not JSON */
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
        notification,
      }
    })
  })

  /** Encrypts `resource` (a transaction object, sent as given), signs and POSTs it once to `notifyUrl`. */
  app.post('/control/wechat/notify-raw', async (req) => {
    const b = objectBody(req.body)
    const url = httpUrl(b.notifyUrl)
    if (!url) throw bad('notifyUrl 必须是 http(s) URL')
    if (typeof b.resource !== 'object' || b.resource === null || Array.isArray(b.resource)) throw bad('resource 必须是对象')
    const eventType = b.eventType === undefined ? undefined : String(b.eventType)
    const tx = b.resource as Json
    const n = buildNotify(tx, keys, { ...signing(b), eventType })
    const reference = typeof tx.out_trade_no === 'string' ? tx.out_trade_no.slice(0, 64) : null
    const r = await ctx.deliveries.sendNow({ ...notifyDelivery({ out_trade_no: reference ?? '', notify_url: url }, n, 'raw'), reference })
    return { status: r.status, body: r.body, error: r.error, notification: JSON.parse(n.body) as unknown }
  })
}
