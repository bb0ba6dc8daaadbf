/**
 * Main service tables. Money columns are integer fen (bigint). Every state transition that
 * matters is a guarded UPDATE … WHERE status = … inside one transaction (see orders/repo.ts).
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'

/** Order states; a row's `status` is one of these (checked by `orders_status_valid`). */
export const ORDER_STATUSES = ['PENDING_PAYMENT', 'PAID', 'CANCELLED', 'EXPIRED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const
export type OrderStatus = (typeof ORDER_STATUSES)[number]
export const DELIVERY_STATUSES = ['PENDING', 'SHIPPED', 'DELIVERED'] as const
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]
export const LEDGER_TYPES = ['PURCHASE', 'CONSUME', 'REFUND', 'ADJUST'] as const
export type LedgerType = (typeof LEDGER_TYPES)[number]

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow()

export const users = pgTable(
  'users',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    email: text('email').notNull(),
    /** null for a guest account created by guest checkout; set when the owner registers (claims it). */
    passwordHash: text('password_hash'),
    name: text('name').notNull().default(''),
    role: text('role').notNull().default('user'),
    wechatOpenid: text('wechat_openid'),
    creditBalance: bigint('credit_balance', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    check('users_balance_nonnegative', sql`${t.creditBalance} >= 0`),
    check('users_role_valid', sql`${t.role} in ('user','admin')`),
  ],
)

export const products = pgTable(
  'products',
  {
    id: serial('id').primaryKey(),
    kind: text('kind').notNull(),
    packageCode: text('package_code'),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    credits: integer('credits').notNull().default(0),
    priceFen: bigint('price_fen', { mode: 'number' }).notNull(),
    originalPriceFen: bigint('original_price_fen', { mode: 'number' }).notNull(),
    packageType: text('package_type').notNull().default('STANDARD'),
    features: jsonb('features').$type<string[]>().notNull().default([]),
    recommendedFor: text('recommended_for'),
    isPopular: boolean('is_popular').notNull().default(false),
    isActive: boolean('is_active').notNull().default(true),
    displayOrder: integer('display_order').notNull().default(0),
    /** CUSTOM packages: allowed credit range and price per credit in fen. */
    minCredits: integer('min_credits'),
    maxCredits: integer('max_credits'),
    unitPriceFen: bigint('unit_price_fen', { mode: 'number' }),
    imageUrl: text('image_url'),
    /** Stable identity for seeded and admin-coded products without a package code. */
    sku: text('sku'),
    /** Goods: the delivery method codes offered (null = every active method). */
    deliveryMethods: jsonb('delivery_methods').$type<string[]>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('products_package_code_key').on(t.packageCode),
    uniqueIndex('products_sku_key').on(t.sku),
    check('products_kind_valid', sql`${t.kind} in ('credits','goods')`),
    check('products_price_nonnegative', sql`${t.priceFen} >= 0`),
  ],
)

export const orders = pgTable(
  'orders',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    orderNo: text('order_no').notNull(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id),
    productId: integer('product_id')
      .notNull()
      .references(() => products.id),
    kind: text('kind').$type<'credits' | 'goods'>().notNull(),
    packageCode: text('package_code'),
    productName: text('product_name').notNull(),
    credits: integer('credits').notNull().default(0),
    quantity: integer('quantity').notNull().default(1),
    amountFen: bigint('amount_fen', { mode: 'number' }).notNull(),
    status: text('status').$type<OrderStatus>().notNull().default('PENDING_PAYMENT'),
    /** The method the buyer chose (a code from pay's methods list, or CREDITS): never overwritten when the order is paid. */
    paymentMethod: text('payment_method'),
    /** The provider in pay that serves that method (one provider may serve several methods); null for CREDITS. */
    paymentProvider: text('payment_provider'),
    paymentChannel: text('payment_channel'),
    paymentId: text('payment_id'),
    tradeNo: text('trade_no'),
    paidAmountFen: bigint('paid_amount_fen', { mode: 'number' }),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    expireAt: timestamp('expire_at', { withTimezone: true }).notNull(),
    creditsGranted: boolean('credits_granted').notNull().default(false),
    latePayment: boolean('late_payment').notNull().default(false),
    customerEmail: text('customer_email').notNull(),
    customerName: text('customer_name').notNull().default(''),
    clientInfo: jsonb('client_info'),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    /** Price of one unit in fen; amount = unit price × quantity + delivery fee. */
    unitPriceFen: bigint('unit_price_fen', { mode: 'number' }),
    // Goods delivery (seed 004).
    deliveryMethod: text('delivery_method'),
    deliveryAddress: text('delivery_address'),
    contactName: text('contact_name'),
    contactPhone: text('contact_phone'),
    deliveryFeeFen: bigint('delivery_fee_fen', { mode: 'number' }).notNull().default(0),
    /** PENDING → SHIPPED → DELIVERED (forward only); null for credits orders. */
    deliveryStatus: text('delivery_status').$type<DeliveryStatus>(),
    trackingNo: text('tracking_no'),
    shippedAt: timestamp('shipped_at', { withTimezone: true }),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    remark: text('remark'),
    /** Credits spent when a goods order was paid with method CREDITS. */
    creditsSpent: integer('credits_spent').notNull().default(0),
    /** Sum of succeeded refunds, fen. */
    refundedAmountFen: bigint('refunded_amount_fen', { mode: 'number' }).notNull().default(0),
    refundedAt: timestamp('refunded_at', { withTimezone: true }),
    /** Expired or cancelled while a provider trade may still be open: the sweep closes it. */
    tradeClosePending: boolean('trade_close_pending').notNull().default(false),
    /** Last time the reconciliation sweep asked pay about this pending order. */
    reconciledAt: timestamp('reconciled_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('orders_order_no_key').on(t.orderNo),
    index('orders_created_idx').on(t.createdAt, t.id),
    index('orders_close_pending_idx')
      .on(t.id)
      .where(sql`${t.tradeClosePending}`),
    check('orders_delivery_status_valid', sql`${t.deliveryStatus} is null or ${t.deliveryStatus} in ('PENDING','SHIPPED','DELIVERED')`),
    check('orders_refund_within_paid', sql`${t.refundedAmountFen} >= 0 and ${t.refundedAmountFen} <= coalesce(${t.paidAmountFen}, 0)`),
    check('orders_delivery_fee_nonnegative', sql`${t.deliveryFeeFen} >= 0`),
    // Migration 0008 (issue 19, cost growth): with `id`, a page of a user's or an email's orders is found in the
    // index alone (orders/repo.ts search); the daily stats' payments.
    index('orders_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('orders_customer_email_created_idx').on(t.customerEmail, t.createdAt, t.id),
    index('orders_paid_at_idx')
      .on(t.paidAt)
      .where(sql`${t.paidAt} is not null`),
    index('orders_status_expire_idx').on(t.status, t.expireAt),
    check(
      'orders_status_valid',
      sql`${t.status} in ('PENDING_PAYMENT','PAID','CANCELLED','EXPIRED','FAILED','PARTIALLY_REFUNDED','REFUNDED')`,
    ),
    check('orders_amount_positive', sql`${t.amountFen} > 0`),
  ],
)

export const creditLedger = pgTable(
  'credit_ledger',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id),
    type: text('type').$type<LedgerType>().notNull(),
    delta: bigint('delta', { mode: 'number' }).notNull(),
    balanceAfter: bigint('balance_after', { mode: 'number' }).notNull(),
    description: text('description').notNull().default(''),
    orderId: bigint('order_id', { mode: 'number' }).references(() => orders.id),
    idempotencyKey: text('idempotency_key'),
    createdAt: createdAt(),
  },
  (t) => [
    index('credit_ledger_user_idx').on(t.userId, t.id),
    // Migration 0008: the daily stats' credits consumed.
    index('credit_ledger_consume_created_idx')
      .on(t.createdAt)
      .where(sql`${t.type} = 'CONSUME'`),
    // Belt and braces for exactly-once: one PURCHASE row per order, whatever races.
    uniqueIndex('credit_ledger_purchase_once')
      .on(t.orderId)
      .where(sql`${t.type} = 'PURCHASE'`),
    uniqueIndex('credit_ledger_idempotency_key').on(t.userId, t.idempotencyKey),
    check('credit_ledger_type_valid', sql`${t.type} in ('PURCHASE','CONSUME','REFUND','ADJUST')`),
    check('credit_ledger_balance_nonnegative', sql`${t.balanceAfter} >= 0`),
  ],
)

/** Seed 004 delivery methods: express / pickup / same_day with a base fee. */
export const deliveryMethods = pgTable(
  'delivery_methods',
  {
    code: text('code').primaryKey(),
    name: text('name').notNull(),
    icon: text('icon').notNull().default(''),
    baseFeeFen: bigint('base_fee_fen', { mode: 'number' }).notNull(),
    requiresAddress: boolean('requires_address').notNull().default(true),
    isActive: boolean('is_active').notNull().default(true),
    displayOrder: integer('display_order').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [check('delivery_methods_fee_nonnegative', sql`${t.baseFeeFen} >= 0`)],
)

/**
 * Refunds asked for by an admin. Reserved PENDING (credits clawed back in the same transaction),
 * then SUCCEEDED when pay (the provider) confirms, or FAILED (credits given back).
 * via: PROVIDER (through pay) or CREDITS (a goods order paid with credits: credits go back).
 */
export const refunds = pgTable(
  'refunds',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    refundNo: text('refund_no').notNull(),
    orderId: bigint('order_id', { mode: 'number' })
      .notNull()
      .references(() => orders.id),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id),
    amountFen: bigint('amount_fen', { mode: 'number' }).notNull(),
    reason: text('reason').notNull().default(''),
    status: text('status').$type<'PENDING' | 'SUCCEEDED' | 'FAILED'>().notNull().default('PENDING'),
    via: text('via').$type<'PROVIDER' | 'CREDITS'>().notNull(),
    /** Credits taken back from the buyer for this refund (credits orders). */
    creditsClawedBack: integer('credits_clawed_back').notNull().default(0),
    /** Credits given back to the buyer (goods paid with credits). */
    creditsReturned: integer('credits_returned').notNull().default(0),
    forced: boolean('forced').notNull().default(false),
    adminId: bigint('admin_id', { mode: 'number' }).references(() => users.id),
    failureReason: text('failure_reason'),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('refunds_refund_no_key').on(t.refundNo),
    index('refunds_order_idx').on(t.orderId),
    index('refunds_pending_idx')
      .on(t.createdAt)
      .where(sql`${t.status} = 'PENDING'`),
    check('refunds_status_valid', sql`${t.status} in ('PENDING','SUCCEEDED','FAILED')`),
    check('refunds_via_valid', sql`${t.via} in ('PROVIDER','CREDITS')`),
    check('refunds_amount_positive', sql`${t.amountFen} > 0`),
  ],
)

/**
 * `Idempotency-Key` of creating POSTs: the first 2xx answer is stored and replayed for the same
 * key and body; a failed request removes its row (the key can be used again).
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    statusCode: integer('status_code'),
    response: text('response'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
)

/** Events from pay already processed (idempotency by event id). */
export const processedEvents = pgTable('processed_events', {
  eventId: text('event_id').primaryKey(),
  orderNo: text('order_no').notNull(),
  type: text('type').notNull(),
  outcome: text('outcome').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
})

/** Nonces of signed service calls, each accepted once within the ±300 s window. */
export const serviceNonces = pgTable(
  'service_nonces',
  {
    keyId: text('key_id').notNull(),
    nonce: text('nonce').notNull(),
    seenAt: timestamp('seen_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.nonce] }), index('service_nonces_seen_idx').on(t.seenAt)],
)

/** Seed 001's mini program users (`dialects/mini-program/identities.ts` writes it): an openid per user and mini program. */
export const miniappIdentities = pgTable(
  'miniapp_identities',
  {
    appid: text('appid').notNull(),
    openid: text('openid').notNull(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'miniapp_identities_pk', columns: [t.appid, t.openid] }),
    uniqueIndex('miniapp_identities_user_key').on(t.appid, t.userId),
  ],
)
