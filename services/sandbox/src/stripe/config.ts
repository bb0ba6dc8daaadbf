/** Stripe sandbox configuration (SANDBOX_STRIPE_*): the secret key and the webhook secret, or neither. */
import type { EnvReader } from '../provider.ts'

export interface StripeSandboxConfig {
  /** The merchant's secret key (`sk_test_…`): the only `Authorization: Bearer` the API accepts. */
  secretKey: string
  /** The webhook endpoint's signing secret (`whsec_…`): signs every event sent. */
  webhookSecret: string
  /** The webhook endpoint (Stripe's dashboard setting); null = events are recorded, not sent. */
  webhookUrl: string | null
  /** The fee on a charge, in parts per ten thousand (default 290: 2.9%). */
  feeBps: number
}

export function readStripeSandbox(r: EnvReader): StripeSandboxConfig | null {
  const secretKey = r.secret('SANDBOX_STRIPE_SECRET_KEY')
  const webhookSecret = r.secret('SANDBOX_STRIPE_WEBHOOK_SECRET')
  const webhookUrl = r.optional('SANDBOX_STRIPE_WEBHOOK_URL')
  const feeBps = r.int('SANDBOX_STRIPE_FEE_BPS', 290, 0, 10_000)
  if (secretKey === undefined && webhookSecret === undefined) {
    if (webhookUrl !== undefined)
      r.problems.push('SANDBOX_STRIPE_WEBHOOK_URL needs SANDBOX_STRIPE_SECRET_KEY and SANDBOX_STRIPE_WEBHOOK_SECRET')
    return null
  }
  if (secretKey === undefined || webhookSecret === undefined) {
    r.problems.push('Stripe sandbox: set both SANDBOX_STRIPE_SECRET_KEY[_FILE] and SANDBOX_STRIPE_WEBHOOK_SECRET[_FILE], or neither')
    return null
  }
  if (!/^sk_test_[A-Za-z0-9]{8,}$/.test(secretKey)) r.problems.push('SANDBOX_STRIPE_SECRET_KEY must be a test secret key: sk_test_…')
  if (!/^whsec_[A-Za-z0-9+/=]{8,}$/.test(webhookSecret)) r.problems.push('SANDBOX_STRIPE_WEBHOOK_SECRET must be whsec_…')
  let url: string | null = null
  if (webhookUrl !== undefined) url = r.url('SANDBOX_STRIPE_WEBHOOK_URL')
  return { secretKey, webhookSecret, webhookUrl: url, feeBps }
}
