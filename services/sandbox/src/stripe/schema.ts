/** Stripe tables of the sandbox (drizzle-kit reads it with ../db/schema.ts). Amounts are in the currency's minor unit (fen). */
import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

/**
 * One Checkout Session. `id` is Stripe's `cs_test_…`, `payment_id` the cashier's id. status:
 * open → complete (payment_status paid, with its PaymentIntent and Charge) | expired.
 */
export const stripeSessions = pgTable(
  'stripe_sessions',
  {
    id: text('id').primaryKey(),
    paymentId: text('payment_id').notNull(),
    clientReferenceId: text('client_reference_id'),
    amountTotal: bigint('amount_total', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    productName: text('product_name').notNull(),
    status: text('status').notNull().default('open'),
    paymentStatus: text('payment_status').notNull().default('unpaid'),
    successUrl: text('success_url'),
    cancelUrl: text('cancel_url'),
    metadata: jsonb('metadata').notNull().default({}),
    piMetadata: jsonb('pi_metadata').notNull().default({}),
    piDescription: text('pi_description'),
    paymentMethodTypes: jsonb('payment_method_types').notNull().default(['card']),
    wechatPayClient: text('wechat_pay_client'),
    paymentIntent: text('payment_intent'),
    charge: text('charge'),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    expiredAt: timestamp('expired_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('stripe_sessions_payment_id_uq').on(t.paymentId),
    uniqueIndex('stripe_sessions_payment_intent_uq').on(t.paymentIntent),
    index('stripe_sessions_created_idx').on(t.createdAt),
  ],
)

/** A refund (`re_…`) of a session's PaymentIntent; the sandbox settles it at once (succeeded). */
export const stripeRefunds = pgTable('stripe_refunds', {
  id: text('id').primaryKey(),
  sessionId: text('session_id').notNull(),
  paymentIntent: text('payment_intent').notNull(),
  charge: text('charge').notNull(),
  amount: bigint('amount', { mode: 'number' }).notNull(),
  currency: text('currency').notNull(),
  status: text('status').notNull(),
  reason: text('reason'),
  metadata: jsonb('metadata').notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})

/** The balance: one `txn_…` per charge (amount, fee) and per refund (negative amount). `seq` orders the list. */
export const stripeBalanceTransactions = pgTable('stripe_balance_transactions', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull().unique(),
  type: text('type').notNull(),
  source: text('source').notNull(),
  amount: bigint('amount', { mode: 'number' }).notNull(),
  fee: bigint('fee', { mode: 'number' }).notNull(),
  currency: text('currency').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})

/** Idempotency keys of POST requests: the first answer is replayed for 24 hours; other parameters are refused. */
export const stripeIdempotency = pgTable('stripe_idempotency', {
  key: text('key').primaryKey(),
  route: text('route').notNull(),
  paramsHash: text('params_hash').notNull(),
  status: integer('status'),
  body: text('body'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})
