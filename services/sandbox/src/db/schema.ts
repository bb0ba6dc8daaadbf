/**
 * Sandbox tables (the migration source for drizzle-kit; queries use raw SQL via postgres.js).
 * Amounts are integer fen.
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'

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

/**
 * One Epay (彩虹易支付) order, created by submit.php or mapi.php. `id` is the cashier's payment id.
 * `status` is Epay's own order status: 0 unpaid, 1 paid, 2 refunded. Epay has no close API; a
 * trade closed through the control API keeps status 0 but can no longer be paid (`closed_at`).
 */
export const epayTrades = pgTable(
  'epay_trades',
  {
    id: text('id').primaryKey(),
    pid: text('pid').notNull(),
    tradeNo: text('trade_no').notNull(),
    outTradeNo: text('out_trade_no').notNull(),
    /** alipay | wxpay | qqpay | bank */
    type: text('type').notNull(),
    status: integer('status').notNull().default(0),
    money: bigint('money', { mode: 'number' }).notNull(),
    refundedMoney: bigint('refunded_money', { mode: 'number' }).notNull().default(0),
    name: text('name').notNull(),
    notifyUrl: text('notify_url').notNull(),
    returnUrl: text('return_url'),
    param: text('param'),
    sitename: text('sitename'),
    clientip: text('clientip'),
    /** pc | mobile | qq | wechat | alipay (mapi.php) */
    device: text('device'),
    /** submit | mapi */
    api: text('api').notNull(),
    qrToken: text('qr_token'),
    /** How notifies write `money`: `fixed` ("25.00") or `float` ("25", "9.9", as newer servers do). */
    moneyStyle: text('money_style').notNull().default('fixed'),
    buyer: text('buyer'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    closedAt: timestamp('closed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('epay_trades_out_trade_no_uq').on(t.pid, t.outTradeNo),
    uniqueIndex('epay_trades_trade_no_uq').on(t.tradeNo),
    uniqueIndex('epay_trades_qr_token_uq').on(t.qrToken),
  ],
)

/**
 * One WeChat Pay v3 transaction (native / jsapi / h5). `id` is the cashier's payment id.
 * trade_state: NOTPAY → SUCCESS (paid) | CLOSED (closed, or expired unpaid); SUCCESS → REFUND once refunded.
 * `transaction_id` is reserved at creation and shown only once paid, as WeChat shows it.
 */
export const wechatTrades = pgTable(
  'wechat_trades',
  {
    id: text('id').primaryKey(),
    appid: text('appid').notNull(),
    mchid: text('mchid').notNull(),
    outTradeNo: text('out_trade_no').notNull(),
    transactionId: text('transaction_id').notNull(),
    /** NATIVE | JSAPI | MWEB */
    tradeType: text('trade_type').notNull(),
    tradeState: text('trade_state').notNull().default('NOTPAY'),
    description: text('description').notNull(),
    attach: text('attach'),
    notifyUrl: text('notify_url').notNull(),
    /** Fen. */
    total: bigint('total', { mode: 'number' }).notNull(),
    refunded: bigint('refunded', { mode: 'number' }).notNull().default(0),
    payerOpenid: text('payer_openid'),
    payerClientIp: text('payer_client_ip'),
    /** NATIVE: `weixin://wxpay/bizpayurl?pr=<qr_token>`. */
    codeUrl: text('code_url'),
    qrToken: text('qr_token'),
    /** JSAPI and MWEB. */
    prepayId: text('prepay_id'),
    /** MWEB: where the H5 cashier sends the browser after paying (the merchant's redirect_url). */
    redirectUrl: text('redirect_url'),
    timeExpire: timestamp('time_expire', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    closedAt: timestamp('closed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('wechat_trades_out_trade_no_uq').on(t.mchid, t.outTradeNo),
    uniqueIndex('wechat_trades_transaction_id_uq').on(t.transactionId),
    uniqueIndex('wechat_trades_qr_token_uq').on(t.qrToken),
    uniqueIndex('wechat_trades_prepay_id_uq').on(t.prepayId),
  ],
)

/** One refund (out_refund_no, unique per merchant) of a WeChat transaction. Amounts in fen. */
export const wechatRefunds = pgTable(
  'wechat_refunds',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tradeId: text('trade_id')
      .notNull()
      .references(() => wechatTrades.id),
    mchid: text('mchid').notNull(),
    outRefundNo: text('out_refund_no').notNull(),
    refundId: text('refund_id').notNull(),
    refund: bigint('refund', { mode: 'number' }).notNull(),
    total: bigint('total', { mode: 'number' }).notNull(),
    reason: text('reason'),
    /** SUCCESS (the sandbox refunds at once to the buyer's balance) */
    status: text('status').notNull().default('SUCCESS'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    successTime: timestamp('success_time', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('wechat_refunds_out_refund_no_uq').on(t.mchid, t.outRefundNo),
    uniqueIndex('wechat_refunds_refund_id_uq').on(t.refundId),
  ],
)

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' })

/**
 * A provider bill (对账单) file, generated when the merchant asks for its download URL and served
 * as it was then (a real bill is a fixed file; WeChat's hash_value covers it). `token` is the
 * secret part of the download URL; the link stops working at `expires_at`.
 */
export const billFiles = pgTable(
  'bill_files',
  {
    token: text('token').primaryKey(),
    /** alipay | wechat */
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
    /** alipay | wechat */
    provider: text('provider').notNull(),
    outTradeNo: text('out_trade_no').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.outTradeNo] })],
)

/** Control API: how the provider's bill queries and downloads misbehave (no row = `none`). */
export const billFaults = pgTable('bill_faults', {
  /** alipay | wechat */
  provider: text('provider').primaryKey(),
  /** download-error | query-error | hash-mismatch | corrupt | bad-signature */
  mode: text('mode').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
})
