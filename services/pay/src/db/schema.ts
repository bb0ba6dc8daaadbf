/**
 * Pay service tables. Money is integer fen in bigint columns. State transitions are guarded in
 * SQL (see src/payments.ts), never read-modify-write in code.
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  bigserial,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow()

/**
 * A way the buyer was offered to pay an order: one provider trade. Each attempt has its own
 * provider trade number `out_trade_no`: the order's first attempt uses the orderNo itself, later
 * ones `orderNo_2`, `orderNo_3`, … because providers never reuse a closed trade number (ORDER_CLOSED,
 * ACQ.TRADE_HAS_CLOSE), so re-paying with another channel needs a new one.
 * (Rows from before migration 0003 may share `out_trade_no = order_no` between channels.)
 * At most one PENDING attempt per (order, provider, channel).
 * status: PENDING → PAID | CLOSED | FAILED; CLOSED → PAID (late payment: the money was taken).
 */
export const paymentAttempts = pgTable(
  'payment_attempts',
  {
    id: uuid('id').primaryKey(),
    orderId: bigint('order_id', { mode: 'number' }).notNull(),
    orderNo: text('order_no').notNull(),
    /** The merchant trade number sent to the provider for this attempt. */
    outTradeNo: text('out_trade_no').notNull(),
    provider: text('provider').notNull(),
    channel: text('channel').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    subject: text('subject').notNull(),
    status: text('status').notNull().default('PENDING'),
    /** Provider's trade id, known once paid. */
    tradeNo: text('trade_no'),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    expireAt: timestamp('expire_at', { withTimezone: true }),
    /** QR content from a precreate, reused while the attempt is pending. */
    qrCode: text('qr_code'),
    /**
     * When the provider payment itself dies (the time_expire sent, capped for QR codes): a QR served
     * again after it would be dead, so a new attempt is made instead.
     */
    providerExpireAt: timestamp('provider_expire_at', { withTimezone: true }),
    /**
     * The provider's own id of the payment it made for this attempt, when it gives one (a hosted checkout
     * session's id): query, close, refund and the reconciliation ask the provider by it, without a search.
     */
    providerRef: text('provider_ref'),
    /**
     * The close answered "no such trade" (some providers create the trade only when the buyer scans or
     * logs in): the attempt is CLOSED here but may still be paid until `provider_expire_at`, so the
     * stale sweep keeps asking about it until then.
     */
    closeUnconfirmed: boolean('close_unconfirmed').notNull().default(false),
    /** How the payment was learnt: NOTIFY or QUERY. */
    paidVia: text('paid_via'),
    /** When the stale-attempt sweep last asked the provider about this pending attempt (its claim). */
    lastQueriedAt: timestamp('last_queried_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('payment_attempts_trade_uq').on(t.outTradeNo, t.provider, t.channel),
    uniqueIndex('payment_attempts_pending_channel_uq')
      .on(t.orderNo, t.provider, t.channel)
      .where(sql`${t.status} = 'PENDING'`),
    check('payment_attempts_status_ck', sql`${t.status} in ('PENDING', 'PAID', 'CLOSED', 'FAILED', 'REFUNDED')`),
    check('payment_attempts_amount_ck', sql`${t.amount} > 0`),
    check('payment_attempts_paid_ck', sql`${t.status} <> 'PAID' or (${t.tradeNo} is not null and ${t.paidAt} is not null)`),
    index('payment_attempts_order_no_idx').on(t.orderNo),
    // Migration 0011 (issue 19, cost growth): a reconciliation day reads the attempts created or paid that day.
    index('payment_attempts_provider_created_idx').on(t.provider, t.createdAt),
    index('payment_attempts_provider_paid_idx')
      .on(t.provider, t.paidAt)
      .where(sql`${t.paidAt} is not null`),
    index('payment_attempts_pending_idx')
      .on(t.createdAt)
      .where(sql`${t.status} = 'PENDING'`),
    index('payment_attempts_close_unconfirmed_idx')
      .on(t.createdAt)
      .where(sql`${t.closeUnconfirmed}`),
  ],
)

/**
 * Refunds of a paid attempt, asked for by main. `refund_no` is main's id (the provider's
 * out_request_no / out_refund_no) and makes the request idempotent.
 * status: PENDING → SUCCEEDED | FAILED. PENDING means not confirmed by the provider yet (a network
 * failure); asking again with the same refund_no retries the provider call, which is idempotent.
 * The sum of PENDING + SUCCEEDED refunds of an attempt never exceeds its amount (checked under a
 * row lock on the attempt).
 */
export const refunds = pgTable(
  'refunds',
  {
    id: uuid('id').primaryKey(),
    refundNo: text('refund_no').notNull(),
    orderNo: text('order_no').notNull(),
    paymentAttemptId: uuid('payment_attempt_id')
      .notNull()
      .references(() => paymentAttempts.id),
    provider: text('provider').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    reason: text('reason'),
    /**
     * REQUESTED (by main) | DUPLICATE_PAYMENT (pay's own: the order was paid by another attempt first,
     * so this attempt's payment goes back in full; no event for main, whose ledger it does not touch).
     */
    kind: text('kind').notNull().default('REQUESTED'),
    status: text('status').notNull().default('PENDING'),
    failureReason: text('failure_reason'),
    refundedAt: timestamp('refunded_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('refunds_refund_no_uq').on(t.refundNo),
    index('refunds_attempt_idx').on(t.paymentAttemptId),
    index('refunds_order_no_idx').on(t.orderNo),
    check('refunds_status_ck', sql`${t.status} in ('PENDING', 'SUCCEEDED', 'ABNORMAL', 'FAILED')`),
    check('refunds_kind_ck', sql`${t.kind} in ('REQUESTED', 'DUPLICATE_PAYMENT')`),
    uniqueIndex('refunds_duplicate_payment_uq')
      .on(t.paymentAttemptId)
      .where(sql`${t.kind} = 'DUPLICATE_PAYMENT'`),
    check('refunds_amount_ck', sql`${t.amount} > 0`),
  ],
)

/** Every provider notification received, verified or not. Append-only (a trigger refuses UPDATE/DELETE). */
export const notifyLog = pgTable(
  'notify_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    outTradeNo: text('out_trade_no'),
    rawBody: text('raw_body').notNull(),
    contentType: text('content_type'),
    remoteIp: text('remote_ip'),
    /** ACCEPTED | REJECTED | DUPLICATE | IGNORED */
    verdict: text('verdict').notNull(),
    reason: text('reason'),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('notify_log_out_trade_no_idx').on(t.outTradeNo),
    index('notify_log_received_at_idx').on(t.receivedAt),
    check('notify_log_verdict_ck', sql`${t.verdict} in ('ACCEPTED', 'REJECTED', 'DUPLICATE', 'IGNORED')`),
  ],
)

/**
 * Events for main, written in the same transaction as the state change they describe and
 * delivered in batches by the drain loop (src/outbox.ts). One PAYMENT_SUCCEEDED per paid attempt (unique index).
 * status: PENDING → DELIVERED | DEAD; DEAD → PENDING when a person resends it.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: uuid('event_id').notNull().unique(),
    eventType: text('event_type').notNull(),
    paymentAttemptId: uuid('payment_attempt_id').references(() => paymentAttempts.id),
    /** Set for REFUND_SUCCEEDED events (one per refund). */
    refundId: uuid('refund_id').references(() => refunds.id),
    payload: jsonb('payload').notNull(),
    status: text('status').notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastError: text('last_error'),
    createdAt: createdAt(),
    /** Last resend of a DEAD event: the 24 h before it is given up again count from here. */
    resentAt: timestamp('resent_at', { withTimezone: true }),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('outbox_attempt_event_uq').on(t.paymentAttemptId, t.eventType),
    uniqueIndex('outbox_refund_event_uq').on(t.refundId, t.eventType),
    check('outbox_status_ck', sql`${t.status} in ('PENDING', 'DELIVERED', 'DEAD')`),
    index('outbox_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.status} = 'PENDING'`),
  ],
)

/** Nonces of signed service requests, each accepted once within the signing window. */
export const serviceNonces = pgTable(
  'service_nonces',
  {
    keyId: text('key_id').notNull(),
    nonce: text('nonce').notNull(),
    seenAt: timestamp('seen_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.nonce] }), index('service_nonces_seen_at_idx').on(t.seenAt)],
)

/**
 * One reconciliation (对账) of a provider's bill for one day (UTC+8). status: RUNNING → SUCCEEDED |
 * FAILED (the bill could not be had or did not verify; `error` says why, the job retries later and
 * nothing was repaired). Figures are in fen.
 */
export const reconciliationRuns = pgTable(
  'reconciliation_runs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    billDay: text('bill_day').notNull(),
    status: text('status').notNull().default('RUNNING'),
    /** SCHEDULED (daily job), MANUAL (admin API), CLI. */
    trigger: text('trigger').notNull(),
    error: text('error'),
    /** Where the rows came from: BILL (the provider's file) or QUERY (a provider without bills: one order query per attempt). */
    source: text('source'),
    billRows: integer('bill_rows').notNull().default(0),
    matched: integer('matched').notNull().default(0),
    /** Differences of the day after this run (all classes, repaired ones included). */
    differences: integer('differences').notNull().default(0),
    /** Differences this run repaired (a payment the provider proved, recorded here as by a notify). */
    repaired: integer('repaired').notNull().default(0),
    billPaymentTotal: bigint('bill_payment_total', { mode: 'number' }).notNull().default(0),
    billRefundTotal: bigint('bill_refund_total', { mode: 'number' }).notNull().default(0),
    billFeeTotal: bigint('bill_fee_total', { mode: 'number' }).notNull().default(0),
    localPaymentTotal: bigint('local_payment_total', { mode: 'number' }).notNull().default(0),
    localRefundTotal: bigint('local_refund_total', { mode: 'number' }).notNull().default(0),
    /** Differences by class, e.g. {"STATUS_MISMATCH": 3}. */
    byClass: jsonb('by_class').notNull().default({}),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('reconciliation_runs_day_idx').on(t.provider, t.billDay),
    check('reconciliation_runs_status_ck', sql`${t.status} in ('RUNNING', 'SUCCEEDED', 'FAILED')`),
  ],
)

/**
 * A difference between a provider's bill and our records, one row per (provider, day, class,
 * trade, refund), kept across runs of the same day: a re-run finds the same rows, and one repaired
 * by an earlier run stays on record as REPAIRED. status: OPEN → RESOLVED (a person, with a note) |
 * REPAIRED (the run recorded the payment) | GONE (no longer differs, e.g. a late notify arrived).
 * class: PROVIDER_ONLY, LOCAL_ONLY, STATUS_MISMATCH, AMOUNT_MISMATCH, FEE_MISMATCH, REFUND_MISMATCH.
 */
export const reconciliationDifferences = pgTable(
  'reconciliation_differences',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    billDay: text('bill_day').notNull(),
    class: text('class').notNull(),
    outTradeNo: text('out_trade_no').notNull(),
    /** REFUND_MISMATCH rows: the refund number; '' otherwise (part of the unique key). */
    refundNo: text('refund_no').notNull().default(''),
    tradeNo: text('trade_no'),
    paymentAttemptId: uuid('payment_attempt_id'),
    orderNo: text('order_no'),
    billAmount: bigint('bill_amount', { mode: 'number' }),
    localAmount: bigint('local_amount', { mode: 'number' }),
    billFee: bigint('bill_fee', { mode: 'number' }),
    billStatus: text('bill_status'),
    localStatus: text('local_status'),
    detail: text('detail').notNull(),
    status: text('status').notNull().default('OPEN'),
    firstRunId: bigint('first_run_id', { mode: 'number' }).notNull(),
    lastRunId: bigint('last_run_id', { mode: 'number' }).notNull(),
    resolutionNote: text('resolution_note'),
    resolvedBy: text('resolved_by'),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('reconciliation_differences_uq').on(t.provider, t.billDay, t.class, t.outTradeNo, t.refundNo),
    index('reconciliation_differences_open_idx')
      .on(t.createdAt)
      .where(sql`${t.status} = 'OPEN'`),
    check('reconciliation_differences_status_ck', sql`${t.status} in ('OPEN', 'RESOLVED', 'REPAIRED', 'GONE')`),
  ],
)

/**
 * Provider events processed, by the provider's own event id (providers that name their notifications,
 * e.g. `evt_…`): written in the transaction of the state change the event causes (or on its own when it
 * causes none), so a replayed event, also after a restart, is acknowledged as a DUPLICATE and changes
 * nothing. A rejected event is not recorded: the provider's retry is processed. Owned by src/provider-events.ts.
 */
export const providerEvents = pgTable(
  'provider_events',
  {
    provider: text('provider').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type'),
    outTradeNo: text('out_trade_no'),
    processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.eventId] }), index('provider_events_processed_at_idx').on(t.processedAt)],
)
