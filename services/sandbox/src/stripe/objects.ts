/** Stripe's JSON objects as its API documents them, built from the sandbox's rows. Times are unix seconds. */
import type { BalanceTransactionRow, RefundRow, SessionRow } from './store.ts'

/** The API version the sandbox speaks when the request names none. */
export const SANDBOX_API_VERSION = '2026-10-28.endive'

export const unix = (d: Date) => Math.floor(d.getTime() / 1000)

export function sessionObject(s: SessionRow, publicUrl: string) {
  return {
    id: s.id,
    object: 'checkout.session',
    allowed_payment_method_types: s.payment_method_types,
    amount_subtotal: s.amount_total,
    amount_total: s.amount_total,
    cancel_url: s.cancel_url,
    client_reference_id: s.client_reference_id,
    created: unix(s.created_at),
    currency: s.currency,
    customer: null,
    expires_at: unix(s.expires_at),
    livemode: false,
    metadata: s.metadata,
    mode: 'payment',
    payment_intent: s.payment_intent,
    payment_method_options: s.wechat_pay_client ? { wechat_pay: { app_id: null, client: s.wechat_pay_client } } : {},
    payment_method_types: s.payment_method_types,
    payment_status: s.payment_status,
    status: s.status,
    success_url: s.success_url,
    ui_mode: 'hosted',
    url: s.status === 'open' ? `${publicUrl}/cashier/${s.payment_id}` : null,
  }
}

export function paymentIntentObject(s: SessionRow) {
  return {
    id: s.payment_intent!,
    object: 'payment_intent',
    amount: s.amount_total,
    amount_received: s.amount_total,
    capture_method: 'automatic_async',
    created: unix(s.paid_at!),
    currency: s.currency,
    description: s.pi_description,
    latest_charge: s.charge,
    livemode: false,
    metadata: s.pi_metadata,
    payment_method_types: s.payment_method_types,
    status: 'succeeded',
  }
}

export function chargeObject(s: SessionRow, refunded: number, balanceTransaction: string | null) {
  return {
    id: s.charge!,
    object: 'charge',
    amount: s.amount_total,
    amount_captured: s.amount_total,
    amount_refunded: refunded,
    balance_transaction: balanceTransaction,
    captured: true,
    created: unix(s.paid_at!),
    currency: s.currency,
    description: s.pi_description,
    livemode: false,
    metadata: s.pi_metadata,
    paid: true,
    payment_intent: s.payment_intent,
    refunded: refunded >= s.amount_total,
    status: 'succeeded',
  }
}

export function refundObject(r: RefundRow, balanceTransaction: string | null) {
  return {
    id: r.id,
    object: 'refund',
    amount: r.amount,
    balance_transaction: balanceTransaction,
    charge: r.charge,
    created: unix(r.created_at),
    currency: r.currency,
    metadata: r.metadata,
    payment_intent: r.payment_intent,
    reason: r.reason,
    status: r.status,
  }
}

export function balanceTransactionObject(bt: BalanceTransactionRow, source: unknown) {
  return {
    id: bt.id,
    object: 'balance_transaction',
    amount: bt.amount,
    available_on: unix(bt.created_at) + 2 * 86_400,
    created: unix(bt.created_at),
    currency: bt.currency,
    description: null,
    exchange_rate: null,
    fee: bt.fee,
    fee_details: bt.fee
      ? [{ amount: bt.fee, application: null, currency: bt.currency, description: 'Stripe processing fees', type: 'stripe_fee' }]
      : [],
    net: bt.amount - bt.fee,
    reporting_category: bt.type,
    source,
    status: 'pending',
    type: bt.type,
  }
}

export function listObject(url: string, data: unknown[], hasMore: boolean) {
  return { object: 'list', data, has_more: hasMore, url }
}
