/**
 * Stripe's events and webhooks: `evt_…` event objects, the `Stripe-Signature: t=…,v1=…` header
 * (HMAC-SHA256 of `${t}.${payload}` with the endpoint's `whsec_…` secret, signed anew on each attempt),
 * acknowledgement (any 2xx) and the retry schedule.
 */
import { createHmac, randomBytes } from 'node:crypto'
import type { SandboxConfig } from '../config.ts'
import type { AckRule, DeliveryRequest, DeliveryService, Q } from '../deliveries.ts'
import { scaleSchedule } from '../provider.ts'
import { SANDBOX_API_VERSION } from './objects.ts'
import { stripeId } from './store.ts'

/** Stripe retries for up to three days with an exponential backoff. */
export const STRIPE_RETRY_SCHEDULE_MS = [1, 5, 30, 120, 300, 600, 720, 720].map((m) => m * 60_000)

export const stripeAck: AckRule = (status) => status >= 200 && status < 300

export const stripeScaledSchedule = (config: Pick<SandboxConfig, 'timeFactor' | 'minRetryMs'>): number[] =>
  scaleSchedule(STRIPE_RETRY_SCHEDULE_MS, config)

export function eventObject(type: string, object: unknown, opts: { id?: string; created?: number } = {}) {
  return {
    id: opts.id ?? stripeId('evt'),
    object: 'event',
    api_version: SANDBOX_API_VERSION,
    created: opts.created ?? Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  }
}

export function signatureHeader(payload: string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${payload}`, 'utf8').digest('hex')}`
}

/** A secret that is not the endpoint's (forged webhooks). */
export const wrongSecret = () => `whsec_${randomBytes(24).toString('base64')}`

/** Each attempt signed anew: the merchant accepts a signature only for a few minutes. */
export const resignAttempt =
  (secret: string) =>
  (d: { headers: Record<string, string>; body: string | null }): Record<string, string> => ({
    ...d.headers,
    'stripe-signature': signatureHeader(d.body ?? '', secret),
  })

export function webhookDelivery(
  url: string,
  reference: string | null,
  event: { id: string },
  kind: DeliveryRequest['kind'],
  header: string | null,
): DeliveryRequest & { body: string } {
  const body = JSON.stringify(event, null, 2)
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
  }
  if (header !== null) headers['stripe-signature'] = header
  return { provider: 'stripe', kind, reference, method: 'POST', url, headers, body }
}

/** Inside the change's transaction: the event, queued for the endpoint when there is one (retried, re-signed each time). */
export async function queueEvent(
  tx: Q,
  deliveries: DeliveryService,
  ctx: { webhookUrl: string | null; webhookSecret: string },
  reference: string | null,
  type: string,
  object: unknown,
  delayMs = 0,
): Promise<void> {
  if (!ctx.webhookUrl) return
  const event = eventObject(type, object)
  const d = webhookDelivery(ctx.webhookUrl, reference, event, 'auto', null)
  d.headers['stripe-signature'] = signatureHeader(d.body, ctx.webhookSecret)
  await deliveries.enqueue(tx, { ...d, delayMs })
}
