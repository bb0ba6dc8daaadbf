/**
 * Stripe adapter, through the official `stripe` package (pointed at the sandbox in development and
 * tests by its host/port/protocol options): Checkout Sessions for the hosted page, their expiry for
 * close, Refunds against the PaymentIntent, signed webhooks. Data mapping lives in ./transformers.ts.
 *
 * Our merchant trade number is the session's `client_reference_id` and the `out_trade_no` metadata of
 * the session, its PaymentIntent (so its charge) and our refunds. Stripe cannot look a session up by
 * it, so the session's id (`cs_…`) is the attempt's `providerRef`: stored by pay at create and passed
 * back to query, close and refund, which retrieve the session by it. An attempt without one (its create's
 * answer lost) has its session found among the last day's sessions (a session lives at most 24 hours),
 * and a paid one older than that by a PaymentIntent metadata search. Every create carries an idempotency key.
 */
import Stripe from 'stripe'
import type { StripeConfig } from './config.ts'
import {
  MAX_SESSION_SECONDS,
  sessionExpiresAt,
  claimedOutTradeNo,
  tradeFromEvent,
  tradeFromSession,
  verifyWebhookSignature,
  type SessionLike,
} from './transformers.ts'
import {
  ProviderError,
  type CloseResult,
  type CreatePaymentInput,
  type CreatePaymentResult,
  type NotificationVerdict,
  type PaymentProvider,
  type QueryResult,
  type ReceivedNotification,
  type RefundInput,
  type RefundResult,
} from '../types.ts'
import { stripeAcknowledge } from './notify.ts'
import { fetchStripeBill } from './bill.ts'

/** Stripe's errors → ProviderError: a refusal of the request itself is not retryable, the rest is. */
export function stripeFailure(what: string, err: unknown): ProviderError {
  if (err instanceof Stripe.errors.StripeError) {
    const refused = err.type === 'StripeInvalidRequestError' || err.type === 'StripeCardError' || err.type === 'StripeAuthenticationError'
    const raw = { type: err.type, code: err.code, statusCode: err.statusCode, requestId: err.requestId }
    return new ProviderError(
      `Stripe ${what} 失败: ${err.code ?? err.type} ${err.message}`,
      'STRIPE',
      raw,
      !refused || err.statusCode === 409,
    )
  }
  const e = err as Error & { code?: string }
  return new ProviderError(`Stripe ${what} 失败: ${e.code ?? e.name}`, 'STRIPE', { name: e.name, code: e.code })
}

export function createStripeClient(config: StripeConfig, timeoutMs: number): Stripe {
  const base = new URL(config.apiBase)
  const protocol = base.protocol === 'http:' ? 'http' : 'https'
  return new Stripe(config.secretKey, {
    host: base.hostname,
    port: base.port || (protocol === 'http' ? 80 : 443),
    protocol,
    timeout: timeoutMs,
    // pay retries itself (the status query, the stale-attempt sweep, main's refund retries).
    maxNetworkRetries: 0,
    telemetry: false,
  })
}

export function createStripeProvider(config: StripeConfig, opts: { publicUrl: string; timeoutMs: number }): PaymentProvider {
  const stripe = createStripeClient(config, opts.timeoutMs)
  const returnUrl = (outTradeNo: string, extra: string) =>
    `${opts.publicUrl}/api/pay/return/stripe?out_trade_no=${encodeURIComponent(outTradeNo)}${extra}`

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw stripeFailure(what, err)
    }
  }

  /**
   * The session of our trade number: retrieved by its id (the attempt's providerRef); without one, searched
   * among the last day's sessions. Null when Stripe has none.
   */
  async function findSession(outTradeNo: string, ref: string | null | undefined): Promise<Stripe.Checkout.Session | null> {
    if (ref) return call('checkout.sessions.retrieve', () => stripe.checkout.sessions.retrieve(ref))
    const since = Math.floor(Date.now() / 1000) - MAX_SESSION_SECONDS - 3600
    return call('checkout.sessions.list', async () => {
      for await (const s of stripe.checkout.sessions.list({ created: { gte: since }, limit: 100 })) {
        if (s.client_reference_id === outTradeNo) return s
      }
      return null
    })
  }

  /** A paid trade's PaymentIntent found by its metadata (sessions older than a day). */
  async function searchPaymentIntent(outTradeNo: string): Promise<Stripe.PaymentIntent | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(outTradeNo)) return null
    const found = await call('paymentIntents.search', () =>
      stripe.paymentIntents.search({ query: `metadata['out_trade_no']:'${outTradeNo}'`, limit: 10 }),
    )
    return found.data.find((pi) => pi.status === 'succeeded') ?? found.data[0] ?? null
  }

  function sessionTrade(s: Stripe.Checkout.Session, outTradeNo: string) {
    const trade = tradeFromSession(s as unknown as SessionLike, config.currency)
    if (!trade || trade.outTradeNo !== outTradeNo) throw new ProviderError('Stripe 会话与订单号不符', 'STRIPE', { id: s.id }, false)
    return trade
  }

  async function query(outTradeNo: string, ref?: string | null): Promise<QueryResult> {
    const s = await findSession(outTradeNo, ref)
    if (s) return { found: true, ...sessionTrade(s, outTradeNo) }
    const pi = await searchPaymentIntent(outTradeNo)
    if (!pi) return { found: false }
    const paid = pi.status === 'succeeded'
    return {
      found: true,
      outTradeNo,
      state: paid ? 'SUCCEEDED' : pi.status === 'canceled' ? 'CLOSED' : 'PENDING',
      providerStatus: `payment_intent:${pi.status}`,
      tradeNo: pi.id,
      amount: pi.amount_received || pi.amount,
      paidAt: paid ? new Date(pi.created * 1000) : null,
    }
  }

  return {
    name: 'STRIPE',
    // STRIPE_METHODS: the payment method types this instance offers.
    channels: config.methods,

    async createPayment(input: CreatePaymentInput): Promise<CreatePaymentResult> {
      const method = config.methods.find((m) => m === input.channel)
      if (!method) throw new ProviderError(`unsupported Stripe channel ${input.channel}`, 'STRIPE', undefined, false)
      const known = input.providerRef
      if (known) {
        // The attempt asked again: its session while it is open (a session made again would be another trade).
        const s = await call('checkout.sessions.retrieve', () => stripe.checkout.sessions.retrieve(known))
        if (s.status === 'open' && s.url) return { payType: 'jump', paymentUrl: s.url, providerRef: s.id }
      }
      const metadata = { out_trade_no: input.outTradeNo }
      const params: Stripe.Checkout.SessionCreateParams = {
        mode: 'payment',
        // The channel is the one payment method type the page offers (WeChat Pay in Checkout: the web client).
        allowed_payment_method_types: [method],
        ...(method === 'wechat_pay' ? { payment_method_options: { wechat_pay: { client: 'web' as const } } } : {}),
        client_reference_id: input.outTradeNo,
        line_items: [
          {
            quantity: 1,
            price_data: { currency: config.currency, unit_amount: input.amount, product_data: { name: input.subject.slice(0, 250) } },
          },
        ],
        success_url: returnUrl(input.outTradeNo, '&session_id={CHECKOUT_SESSION_ID}'),
        cancel_url: returnUrl(input.outTradeNo, '&cancelled=1'),
        expires_at: sessionExpiresAt(input.expireAt, Date.now()),
        metadata,
        payment_intent_data: { metadata, description: input.subject.slice(0, 250) },
      }
      let session: Stripe.Checkout.Session
      try {
        // The same attempt asked again (a lost answer, a second click) gets the same session back.
        session = await stripe.checkout.sessions.create(params, { idempotencyKey: `checkout-${input.outTradeNo}` })
      } catch (err) {
        // The same key with other parameters (a later `expires_at`): the session exists already.
        if (!(err instanceof Stripe.errors.StripeIdempotencyError)) throw stripeFailure('checkout.sessions.create', err)
        const existing = await findSession(input.outTradeNo, null)
        if (!existing) throw stripeFailure('checkout.sessions.create', err)
        session = existing
      }
      if (session.status !== 'open' || !session.url)
        throw new ProviderError(`Stripe 会话不可支付 (${session.status})`, 'STRIPE', { id: session.id }, false)
      return { payType: 'jump', paymentUrl: session.url, providerRef: session.id }
    },

    query,

    async close(outTradeNo: string, ref?: string | null): Promise<CloseResult> {
      const s = await findSession(outTradeNo, ref)
      if (!s) {
        const found = await query(outTradeNo, ref)
        if (found.found && found.state === 'SUCCEEDED') return { outcome: 'ALREADY_PAID', trade: found }
        return found.found ? { outcome: 'CLOSED' } : { outcome: 'NOT_FOUND' }
      }
      let after = s
      if (s.status === 'open') {
        try {
          after = await stripe.checkout.sessions.expire(s.id, {}, { idempotencyKey: `expire-${s.id}` })
        } catch (err) {
          // Only an open session can be expired: it was paid or expired meanwhile.
          if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw stripeFailure('checkout.sessions.expire', err)
          after = await call('checkout.sessions.retrieve', () => stripe.checkout.sessions.retrieve(s.id))
        }
      }
      const trade = sessionTrade(after, outTradeNo)
      if (trade.state === 'SUCCEEDED') return { outcome: 'ALREADY_PAID', trade }
      if (trade.state === 'CLOSED') return { outcome: 'CLOSED' }
      throw new ProviderError(`Stripe 会话未能关闭 (${trade.providerStatus})`, 'STRIPE', { id: s.id })
    },

    async refund(input: RefundInput): Promise<RefundResult> {
      const s = await findSession(input.outTradeNo, input.providerRef)
      const pi = s?.payment_intent ?? (await searchPaymentIntent(input.outTradeNo))
      const paymentIntent = typeof pi === 'string' ? pi : pi?.id
      if (!paymentIntent)
        return { refundNo: input.refundNo, amount: input.amount, state: 'FAILED', refundedAt: null, failureReason: 'NO_PAYMENT' }
      let refund: Stripe.Refund
      try {
        refund = await stripe.refunds.create(
          {
            payment_intent: paymentIntent,
            amount: input.amount,
            reason: 'requested_by_customer',
            metadata: { out_trade_no: input.outTradeNo, refund_no: input.refundNo },
          },
          { idempotencyKey: `refund-${input.refundNo}` },
        )
      } catch (err) {
        const failure = stripeFailure('refunds.create', err)
        // A refusal of the refund itself (too much, not paid): a business failure, not worth asking again.
        if (failure.retryable) throw failure
        return {
          refundNo: input.refundNo,
          amount: input.amount,
          state: 'FAILED',
          refundedAt: null,
          failureReason: failure.message.slice(0, 200),
        }
      }
      if (refund.amount !== input.amount) throw new ProviderError('Stripe 退款金额不符', 'STRIPE', { id: refund.id }, false)
      switch (refund.status) {
        case 'succeeded':
          return { refundNo: input.refundNo, amount: refund.amount, state: 'SUCCEEDED', refundedAt: new Date(refund.created * 1000) }
        case 'failed':
        case 'canceled':
          return {
            refundNo: input.refundNo,
            amount: refund.amount,
            state: 'FAILED',
            refundedAt: null,
            failureReason: refund.failure_reason ?? refund.status,
          }
        default:
          // pending / requires_action: asked again later with the same key.
          return { refundNo: input.refundNo, amount: refund.amount, state: 'PENDING', refundedAt: null }
      }
    },

    verifyNotification(received: ReceivedNotification): NotificationVerdict {
      const header = received.headers['stripe-signature']
      const check = verifyWebhookSignature(
        received.rawBody,
        typeof header === 'string' ? header : undefined,
        config.webhookSecret,
        Date.now(),
      )
      if (!check.ok) return { ok: false, reason: check.reason, outTradeNo: claimedOutTradeNo(received.rawBody) }
      const event = tradeFromEvent(received.rawBody, config.currency)
      if (!event.ok) return { ok: false, reason: event.reason, outTradeNo: event.outTradeNo }
      // Processed once by its event id: a replayed event (the same `evt_…`) is a DUPLICATE that changes nothing.
      return { ok: true, trade: event.trade, event: { id: event.eventId, type: event.type } }
    },

    fetchBill: (day) => fetchStripeBill(stripe, config.currency, day),

    acknowledge: stripeAcknowledge,
  }
}
