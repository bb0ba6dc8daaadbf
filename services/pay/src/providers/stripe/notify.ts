/** OpenAPI description (/docs) of Stripe's webhook: what it sends and what it gets back. */
import { errorResponses, Field, OpenObject, Optional, Type } from '../notify-docs.ts'
import type { NotifyAcknowledgement } from '../types.ts'

const StripeEvent = OpenObject(
  {
    id: Field('evt_…'),
    object: Field('event'),
    type: Field(
      'checkout.session.completed | checkout.session.async_payment_succeeded | …_failed | checkout.session.expired | charge.refunded',
    ),
    api_version: Optional(),
    data: OpenObject({ object: OpenObject({}, { description: 'the Checkout Session, or the Charge' }) }),
  },
  { description: 'a Stripe event, JSON' },
)
const JsonAnswer = (description: string) => ({
  description,
  content: { 'application/json': { schema: OpenObject({ received: Type.Optional(Type.Boolean()), error: Type.Optional(Type.String()) }) } },
})
export const stripeNotifySchema = {
  tags: ['notify'],
  summary: 'Stripe webhook (Stripe-Signature t=…,v1=… over the raw body with the whsec_ secret, 300 s tolerance; known order and amount)',
  headers: OpenObject({ 'stripe-signature': Field('t=<unix seconds>,v1=<hex HMAC-SHA256 of `${t}.${body}`>') }),
  body: { content: { 'application/json': { schema: StripeEvent } } },
  response: {
    200: JsonAnswer('verified: recorded, already recorded (a replayed event changes nothing), or ignored'),
    400: JsonAnswer('rejected (logged): bad or stale signature, unknown order, wrong amount; Stripe retries'),
    ...errorResponses(413),
    503: {
      description: 'not processed now (our failure, or Stripe not configured); Stripe retries',
      content: { 'text/plain': { schema: Type.String() } },
    },
  },
}

/** What the provider is answered: any 2xx stops Stripe's retries, anything else asks for one. */
export const stripeAcknowledge: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement } = {
  success: { status: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ received: true }) },
  failure: { status: 400, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ error: 'rejected' }) },
}
