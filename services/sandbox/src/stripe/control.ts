/**
 * Stripe's control API for tests (JSON; see services/sandbox/README.md): its sessions for the shared
 * trade routes (../control.ts) under /control/stripe/…, by merchant trade number (`client_reference_id`).
 * The notify route sends an event of the session now, optionally forged: `wrongSecret`, `unsigned`,
 * `timestampOffsetSeconds` (a signature dated in the past or future), `eventId` (an id sent before: a
 * replay), `type` (which event).
 */
import type { TradeControl } from '../control.ts'
import { type Json, bad, optBool, optInt } from '../control-input.ts'
import type { StripeContext } from './api.ts'
import { payAndNotify, successUrlOf } from './cashier.ts'
import { eventObject, queueEvent, signatureHeader, webhookDelivery, wrongSecret } from './events.ts'
import { chargeObject, sessionObject } from './objects.ts'
import { expireSession, findSession, findSessionByReference, refundedTotal, type SessionRow } from './store.ts'

const EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded',
] as const

function optString(b: Json, key: string, re: RegExp): string | undefined {
  const v = b[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !re.test(v)) throw bad(`${key} 无效`)
  return v
}

export function stripeTradeView(ctx: StripeContext, s: SessionRow, refunded: number) {
  return {
    outTradeNo: s.client_reference_id,
    sessionId: s.id,
    paymentId: s.payment_id,
    cashierUrl: `${ctx.config.publicUrl}/cashier/${s.payment_id}`,
    status: s.status,
    paymentStatus: s.payment_status,
    state: s.payment_status === 'paid' ? 'PAID' : s.status === 'expired' ? 'EXPIRED' : 'OPEN',
    amountTotal: s.amount_total,
    currency: s.currency,
    amountRefunded: refunded,
    paymentIntent: s.payment_intent,
    charge: s.charge,
    successUrl: s.success_url,
    cancelUrl: s.cancel_url,
    metadata: s.metadata,
    expiresAt: s.expires_at.toISOString(),
    createdAt: s.created_at.toISOString(),
    paidAt: s.paid_at?.toISOString() ?? null,
    expiredAt: s.expired_at?.toISOString() ?? null,
  }
}

export function stripeTradeControl(ctx: StripeContext): TradeControl<SessionRow & { refunded: number }> {
  const load = async (s: SessionRow | null) => (s ? { ...s, refunded: await refundedTotal(ctx.sql, s.id) } : null)
  const events = { webhookUrl: ctx.stripe.webhookUrl, webhookSecret: ctx.stripe.webhookSecret }
  return {
    outTradeNo: /^[A-Za-z0-9._\-|]{1,200}$/,
    find: async (outTradeNo) => load(await findSessionByReference(ctx.sql, outTradeNo)),
    view: (s) => stripeTradeView(ctx, s, s.refunded),
    words: {
      notFound: '没有这个 Checkout Session',
      closedCannotPay: 'Checkout Session 已过期，不能支付',
      paidCannotClose: 'Checkout Session 已支付，不能过期',
    },
    pay: () => async (s, opts) => {
      const r = await payAndNotify(ctx, s.id, opts)
      return r && { outcome: r.outcome, trade: (await load(r.session))! }
    },
    payAnswer: (r, notify) => ({
      returnUrl: successUrlOf(r.trade),
      notifyScheduled: r.outcome === 'paid' && notify && ctx.stripe.webhookUrl !== null,
    }),
    notify(b, notifyUrl) {
      const useWrongSecret = optBool(b, 'wrongSecret', false)
      const unsigned = optBool(b, 'unsigned', false)
      const offset = optInt(b, 'timestampOffsetSeconds', 0, -86_400 * 30, 86_400 * 30)
      const eventId = optString(b, 'eventId', /^evt_[A-Za-z0-9]{1,64}$/)
      const type = optString(b, 'type', /^[a-z_.]{1,80}$/)
      if (type !== undefined && !(EVENT_TYPES as readonly string[]).includes(type)) throw bad(`type 必须是 ${EVENT_TYPES.join(' | ')}`)
      const url = notifyUrl ?? ctx.stripe.webhookUrl
      if (!url) throw bad('没有 webhook 地址：设置 SANDBOX_STRIPE_WEBHOOK_URL 或传 notifyUrl')
      return (s) => {
        const chosen =
          type ??
          (s.payment_status === 'paid'
            ? 'checkout.session.completed'
            : s.status === 'expired'
              ? 'checkout.session.expired'
              : 'checkout.session.completed')
        const object = chosen === 'charge.refunded' ? chargeObject(s, s.refunded, null) : sessionObject(s, ctx.config.publicUrl)
        const event = eventObject(chosen, object, eventId ? { id: eventId } : {})
        const draft = webhookDelivery(url, s.client_reference_id, event, 'manual', null)
        const header = unsigned
          ? null
          : signatureHeader(draft.body, useWrongSecret ? wrongSecret() : ctx.stripe.webhookSecret, Math.floor(Date.now() / 1000) + offset)
        const delivery = webhookDelivery(url, s.client_reference_id, event, 'manual', header)
        return { delivery, answer: () => ({ event, signature: header, url }) }
      }
    },
    close: async (s) => {
      if (s.payment_status === 'paid') return null
      const expired = await expireSession(ctx.sql, s.id, (tx, e) =>
        queueEvent(tx, ctx.deliveries, events, e.client_reference_id, 'checkout.session.expired', sessionObject(e, ctx.config.publicUrl)),
      )
      if (expired) ctx.deliveries.kick()
      const now = await findSession(ctx.sql, { id: s.id })
      return now && now.payment_status !== 'paid' ? load(now) : null
    },
    maxReference: 200,
    attemptView(sent) {
      try {
        const e = JSON.parse(sent.body ?? '') as { id?: string; type?: string }
        return { eventId: e.id ?? null, eventType: e.type ?? null }
      } catch {
        return { eventId: null, eventType: null }
      }
    },
  }
}
