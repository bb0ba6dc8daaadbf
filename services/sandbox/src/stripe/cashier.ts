/**
 * Stripe's hosted Checkout page, as the sandbox's cashier: 支付 pays the session (PaymentIntent, Charge,
 * balance transaction, `checkout.session.completed` queued in the same transaction) and goes back to
 * `success_url` (its `{CHECKOUT_SESSION_ID}` filled in); 取消 goes back to `cancel_url`, the session staying open.
 */
import { PAYMENT_NOT_FOUND, cancelOutcome, orderRows, payOutcome, type CashierOutcome, type CashierProvider } from '../cashier.ts'
import { fenToYuan } from '../util.ts'
import type { StripeContext } from './api.ts'
import { queueEvent } from './events.ts'
import { sessionObject } from './objects.ts'
import { findSession, paySession, type PayResult, type SessionRow } from './store.ts'

/** How the hosted page names the session's payment method. */
const METHOD_NAMES: Record<string, string> = { card: '银行卡', alipay: '支付宝 (Alipay)', wechat_pay: '微信支付 (WeChat Pay)' }

/** Pays the session and (when `notify`) queues `checkout.session.completed` with it, then wakes the worker. */
export async function payAndNotify(
  ctx: StripeContext,
  id: string,
  opts: { notify: boolean; delayMs?: number } = { notify: true },
): Promise<PayResult | null> {
  const events = { webhookUrl: ctx.stripe.webhookUrl, webhookSecret: ctx.stripe.webhookSecret }
  const r = await paySession(ctx.sql, id, ctx.stripe.feeBps, async (tx, s) => {
    if (opts.notify)
      await queueEvent(
        tx,
        ctx.deliveries,
        events,
        s.client_reference_id,
        'checkout.session.completed',
        sessionObject(s, ctx.config.publicUrl),
        opts.delayMs,
      )
  })
  if (r?.outcome === 'paid') ctx.deliveries.kick()
  return r
}

/** `success_url` with the session id filled in. */
export function successUrlOf(s: SessionRow): string | null {
  return s.success_url ? s.success_url.replaceAll('{CHECKOUT_SESSION_ID}', s.id) : null
}

export function stripeCashier(ctx: StripeContext): CashierProvider {
  const cashier: CashierProvider = {
    prefix: 'stripe_',
    words: { noun: '付款', titleNoun: '付款', orderNo: '订单号' },

    async view(paymentId) {
      const s = await findSession(ctx.sql, { paymentId })
      if (!s) return null
      return {
        paymentId: s.payment_id,
        // The method the session is paid with: the first it offers (what Stripe's page opens on).
        providerName: `Stripe Checkout · ${METHOD_NAMES[s.payment_method_types[0] ?? 'card'] ?? s.payment_method_types[0]}`,
        subject: s.product_name,
        amount: fenToYuan(s.amount_total),
        outTradeNo: s.client_reference_id ?? s.id,
        state: s.payment_status === 'paid' ? 'PAID' : s.status === 'open' && s.expires_at > new Date() ? 'PENDING' : 'CLOSED',
      }
    },

    async pay(paymentId): Promise<CashierOutcome> {
      const s = await findSession(ctx.sql, { paymentId })
      if (!s) return PAYMENT_NOT_FOUND
      const r = await payAndNotify(ctx, s.id)
      if (!r) return PAYMENT_NOT_FOUND
      return payOutcome({
        outcome: r.outcome,
        rows: orderRows(
          r.session.client_reference_id ?? r.session.id,
          `${r.session.currency.toUpperCase()} ${fenToYuan(r.session.amount_total)}`,
        ),
        returnUrl: successUrlOf(r.session),
        tradeNoRow: ['PaymentIntent', r.session.payment_intent ?? ''],
        closedTitle: '付款已过期',
      })
    },

    // Leaving Stripe's page: back to cancel_url; the session stays open until it expires or is expired.
    async cancel(paymentId): Promise<CashierOutcome> {
      const s = await findSession(ctx.sql, { paymentId })
      if (s && s.status === 'open' && s.cancel_url) return { kind: 'redirect', url: s.cancel_url }
      return cancelOutcome(cashier, paymentId)
    },

    // Stripe's hosted page has no QR codes of ours.
    resolveQr: async () => null,
  }
  return cashier
}
