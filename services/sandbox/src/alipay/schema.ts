/** Alipay tables of the sandbox (drizzle-kit reads it with ../db/schema.ts). Amounts are integer fen. */
import { bigint, bigserial, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

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
    /**
     * When the buyer first scanned the QR or opened the cashier: before that the trade does not
     * exist at Alipay for query/close/refund (ACQ.TRADE_NOT_EXIST), and a close does not stop it.
     */
    seenAt: timestamp('seen_at', { withTimezone: true }),
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
