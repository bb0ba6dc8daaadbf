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
  /**
   * Stripe's payment method types pay offers through it (STRIPE_METHODS, default `card`), each one of
   * the adapter's channels: `card` serves BANK_CARD, `alipay` ALIPAY, `wechat_pay` WECHAT_PAY.
   */
  methods: StripeMethod[]
}

/** The payment method types pay can ask Checkout for, and the currencies Stripe documents for each (null: any). */
export const STRIPE_METHOD_CURRENCIES = {
  card: null,
  alipay: ['aud', 'cad', 'cny', 'eur', 'gbp', 'hkd', 'jpy', 'myr', 'nzd', 'sgd', 'usd'],
  wechat_pay: ['aud', 'cad', 'cny', 'eur', 'gbp', 'hkd', 'jpy', 'sgd', 'usd', 'dkk', 'nok', 'sek', 'chf'],
} as const satisfies Record<string, readonly string[] | null>

export type StripeMethod = keyof typeof STRIPE_METHOD_CURRENCIES

const isStripeMethod = (v: string): v is StripeMethod => Object.hasOwn(STRIPE_METHOD_CURRENCIES, v)

/** STRIPE_METHODS: a comma-separated list of known types, each once, each usable in `currency`. */
export function parseStripeMethods(raw: string, currency: string): { methods: StripeMethod[]; problems: string[] } {
  const words = raw.split(',').map((w) => w.trim().toLowerCase())
  const problems: string[] = []
  const methods: StripeMethod[] = []
  for (const w of words) {
    if (!isStripeMethod(w)) {
      problems.push(`STRIPE_METHODS: unknown method ${JSON.stringify(w)} (allowed: ${Object.keys(STRIPE_METHOD_CURRENCIES).join(', ')})`)
      continue
    }
    if (methods.includes(w)) {
      problems.push(`STRIPE_METHODS: ${w} is listed twice`)
      continue
    }
    const currencies: readonly string[] | null = STRIPE_METHOD_CURRENCIES[w]
    if (currencies && !currencies.includes(currency))
      problems.push(`STRIPE_METHODS: Stripe offers ${w} in ${currencies.join(', ')} only, not in STRIPE_CURRENCY ${currency}`)
    methods.push(w)
  }
  return { methods, problems }
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
  const methods = parseStripeMethods(r.string('STRIPE_METHODS', 'card'), currency)
  r.problems.push(...methods.problems)
  return { secretKey, webhookSecret, apiBase: apiBase.replace(/\/+$/, ''), currency, methods: methods.methods }
}
