/**
 * Sandbox tables (the migration source for drizzle-kit; queries use raw SQL via postgres.js).
 * Amounts are integer fen.
 */
import { sql } from 'drizzle-orm'
import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

/** One Alipay trade (page/wap form payment or precreate QR). `id` is the cashier's payment id. */
export const alipayTrades = pgTable(
  'alipay_trades',
  {
    id: text('id').primaryKey(),
    appId: text('app_id').notNull(),
    outTradeNo: text('out_trade_no').notNull(),
    tradeNo: text('trade_no').notNull(),
    /** page | wap | precreate */
    channel: text('channel').notNull(),
    /** WAIT_BUYER_PAY | TRADE_SUCCESS | TRADE_CLOSED */
    status: text('status').notNull().default('WAIT_BUYER_PAY'),
    totalAmount: bigint('total_amount', { mode: 'number' }).notNull(),
    refundedAmount: bigint('refunded_amount', { mode: 'number' }).notNull().default(0),
    subject: text('subject').notNull(),
    body: text('body'),
    notifyUrl: text('notify_url'),
    returnUrl: text('return_url'),
    qrCode: text('qr_code'),
    qrToken: text('qr_token'),
    buyerId: text('buyer_id'),
    buyerLogonId: text('buyer_logon_id'),
    expireAt: timestamp('expire_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    closedAt: timestamp('closed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('alipay_trades_out_trade_no_uq').on(t.appId, t.outTradeNo),
    uniqueIndex('alipay_trades_trade_no_uq').on(t.tradeNo),
    uniqueIndex('alipay_trades_qr_code_uq').on(t.qrCode),
    uniqueIndex('alipay_trades_qr_token_uq').on(t.qrToken),
  ],
)

/** One refund request (out_request_no) of a trade; `refundedTotal` is the trade's cumulative refund after it. */
export const alipayRefunds = pgTable(
  'alipay_refunds',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tradeId: text('trade_id')
      .notNull()
      .references(() => alipayTrades.id),
    outRequestNo: text('out_request_no').notNull(),
    refundAmount: bigint('refund_amount', { mode: 'number' }).notNull(),
    refundedTotal: bigint('refunded_total', { mode: 'number' }).notNull(),
    refundReason: text('refund_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('alipay_refunds_request_uq').on(t.tradeId, t.outRequestNo)],
)

/**
 * An outgoing provider notification (any provider). `kind`: `auto` is durable and retried on the
 * provider's schedule until acknowledged; `manual` (control API) and `raw` are sent once.
 */
export const notifyDeliveries = pgTable(
  'notify_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    kind: text('kind').notNull(),
    /** The merchant order number the notification is about (null for forged raw ones without it). */
    reference: text('reference'),
    method: text('method').notNull().default('POST'),
    url: text('url').notNull(),
    headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
    body: text('body'),
    /** PENDING | DELIVERED | GAVE_UP (auto); SENDING → SENT (one-shot, whatever the answer) */
    state: text('state').notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (t) => [
    index('notify_deliveries_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.state} = 'PENDING'`),
    index('notify_deliveries_reference_idx').on(t.provider, t.reference),
  ],
)

/** Every HTTP attempt of a notification, with what the merchant answered. */
export const notifyAttempts = pgTable(
  'notify_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => notifyDeliveries.id),
    provider: text('provider').notNull(),
    reference: text('reference'),
    attempt: integer('attempt').notNull(),
    /** HTTP status, null when the request failed (connection refused, timeout). */
    status: integer('status'),
    responseBody: text('response_body'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('notify_attempts_reference_idx').on(t.provider, t.reference, t.id)],
)
