/**
 * Stripe in the sandbox: the merchant API (`/v1/…`, the official `stripe` package's requests), the hosted
 * Checkout page (the shared cashier), signed webhooks, the control API, and what the shared plumbing needs
 * to know (acknowledgement, retries and per-attempt signing, fault classification, session expiry).
 */
import { tradeRoutes } from '../control.ts'
import type { FaultOperation, SandboxProvider } from '../provider.ts'
import { registerStripeApi, type StripeContext } from './api.ts'
import { stripeCashier } from './cashier.ts'
import { readStripeSandbox, type StripeSandboxConfig } from './config.ts'
import { stripeTradeControl } from './control.ts'
import { queueEvent, resignAttempt, stripeAck, stripeScaledSchedule } from './events.ts'
import { sessionObject } from './objects.ts'
import { expireSession, overdueSessions } from './store.ts'

const OPERATIONS: Record<string, FaultOperation> = {
  'POST /v1/checkout/sessions': 'create',
  'GET /v1/checkout/sessions': 'query',
  'GET /v1/checkout/sessions/:id': 'query',
  'GET /v1/payment_intents/:id': 'query',
  'GET /v1/payment_intents/search': 'query',
  'POST /v1/checkout/sessions/:id/expire': 'close',
  'POST /v1/refunds': 'refund',
  'GET /v1/refunds/:id': 'refund',
}

const json = 'application/json'

export const stripe: SandboxProvider<'stripe', StripeSandboxConfig> = {
  name: 'stripe',
  title: 'Stripe',
  readConfig: readStripeSandbox,
  // Each attempt is signed anew: merchants accept a signature for 5 minutes.
  delivery: (config, settings) => ({
    ack: stripeAck,
    schedule: stripeScaledSchedule(config),
    prepare: resignAttempt(settings.webhookSecret),
  }),

  faults: {
    operations: ['create', 'query', 'close', 'refund'],
    classify(req) {
      const key = `${req.method} ${req.routeUrl}`
      return Object.hasOwn(OPERATIONS, key) ? { operation: OPERATIONS[key]!, apiMethod: key } : null
    },
    unavailable: (reply) =>
      reply
        .header('content-type', json)
        .send(JSON.stringify({ error: { type: 'api_error', message: 'An unknown error occurred. Please try again later.' } })),
    // Cut short mid-answer.
    garbage: (reply) => reply.header('content-type', json).send('{\n  "id": "cs_test_a1'),
  },

  mount(app, { config, settings, sql, deliveries }) {
    const ctx: StripeContext = { config, stripe: settings, sql, deliveries }
    const events = { webhookUrl: settings.webhookUrl, webhookSecret: settings.webhookSecret }
    registerStripeApi(app, ctx)
    return {
      cashier: stripeCashier(ctx),
      control: tradeRoutes(stripeTradeControl(ctx)),
      // Sessions past their expires_at expire (checkout.session.expired).
      onTick: async () => {
        let expired = 0
        for (const id of await overdueSessions(sql)) {
          const s = await expireSession(sql, id, (tx, e) =>
            queueEvent(tx, deliveries, events, e.client_reference_id, 'checkout.session.expired', sessionObject(e, config.publicUrl)),
          )
          if (s) expired++
        }
        if (expired) deliveries.kick()
      },
    }
  },
}
