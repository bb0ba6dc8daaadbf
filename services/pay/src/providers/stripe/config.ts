/**
 * Stripe configuration, read by src/config.ts. Enabled only when STRIPE_SECRET_KEY[_FILE] and
 * STRIPE_WEBHOOK_SECRET[_FILE] are both given; one without the other is a configuration error.
 */
import type { createEnvReader } from '@paysys/config'

export interface StripeConfig {
  /** Secret API key, `sk_test_…` or `sk_live_…` (a restricted `rk_…` key works too). */
  secretKey: string
  /** The webhook endpoint's signing secret, `whsec_…`. */
  webhookSecret: string
  /** API base: `https://api.stripe.com` by default; the sandbox in development and tests. */
  apiBase: string
  /** ISO currency, lower case; amounts are in its minor unit (CNY: fen). */
  currency: string
}

type EnvReader = ReturnType<typeof createEnvReader>

export function readStripeConfig(r: EnvReader): StripeConfig | null {
  const secretKey = r.secret('STRIPE_SECRET_KEY')
  const webhookSecret = r.secret('STRIPE_WEBHOOK_SECRET')
  const apiBase = r.url('STRIPE_API_BASE', 'https://api.stripe.com')
  const currency = r.string('STRIPE_CURRENCY', 'cny').toLowerCase()
  if (secretKey === undefined && webhookSecret === undefined) return null
  if (secretKey === undefined || webhookSecret === undefined) {
    r.problems.push('Stripe is partially configured: set both STRIPE_SECRET_KEY[_FILE] and STRIPE_WEBHOOK_SECRET[_FILE], or neither')
    return null
  }
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$/.test(secretKey))
    r.problems.push('STRIPE_SECRET_KEY must be a secret key: sk_test_… or sk_live_…')
  if (!/^whsec_[A-Za-z0-9+/=]{8,}$/.test(webhookSecret))
    r.problems.push('STRIPE_WEBHOOK_SECRET must be the endpoint signing secret: whsec_…')
  // Zero-decimal and three-decimal currencies would need another minor-unit rule; fen-like ones only.
  if (!/^[a-z]{3}$/.test(currency) || ['jpy', 'krw', 'vnd', 'bhd', 'kwd', 'jod', 'omr', 'tnd'].includes(currency))
    r.problems.push(`STRIPE_CURRENCY must be a two-decimal ISO currency (e.g. cny), got ${JSON.stringify(currency)}`)
  return { secretKey, webhookSecret, apiBase: apiBase.replace(/\/+$/, ''), currency }
}
