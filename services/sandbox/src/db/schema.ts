/**
 * The sandbox's shared tables (the migration source for drizzle-kit, with each provider's own
 * `src/<provider>/schema.ts`; queries use raw SQL via postgres.js). Amounts are integer fen.
 */
import { sql } from 'drizzle-orm'
import { bigint, bigserial, customType, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core'

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

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' })

/**
 * A provider bill (对账单) file, generated when the merchant asks for its download URL and served
 * as it was then (a real bill is a fixed file, and may come with a hash of it). `token` is the
 * secret part of the download URL; the link stops working at `expires_at`.
 */
export const billFiles = pgTable(
  'bill_files',
  {
    token: text('token').primaryKey(),
    /** The provider's name. */
    provider: text('provider').notNull(),
    /** yyyy-MM-dd (China time). */
    billDate: text('bill_date').notNull(),
    fileName: text('file_name').notNull(),
    contentType: text('content_type').notNull(),
    content: bytea('content').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('bill_files_expires_idx').on(t.expiresAt)],
)

/** Control API: the amount (fen) a trade's bill row shows instead of its real one (the trade itself is unchanged). */
export const billAmountOverrides = pgTable(
  'bill_amount_overrides',
  {
    /** The provider's name. */
    provider: text('provider').notNull(),
    outTradeNo: text('out_trade_no').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.outTradeNo] })],
)

/** Control API: how the provider's bill queries and downloads misbehave (no row = `none`). */
export const billFaults = pgTable('bill_faults', {
  /** The provider's name. */
  provider: text('provider').primaryKey(),
  /** download-error | query-error | hash-mismatch | corrupt | bad-signature */
  mode: text('mode').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
})
