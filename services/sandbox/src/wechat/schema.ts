/** WeChat Pay tables of the sandbox (drizzle-kit reads it with ../db/schema.ts). Amounts are integer fen. */
import { bigint, bigserial, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

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
    /** SUCCESS | PROCESSING | ABNORMAL | CLOSED (trades.ts); SUCCESS at once unless the control API's refund mode says otherwise. */
    status: text('status').notNull().default('SUCCESS'),
    /** The refund request's notify_url: REFUND.SUCCESS / ABNORMAL / CLOSED are sent there (none without one). */
    notifyUrl: text('notify_url'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    successTime: timestamp('success_time', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('wechat_refunds_out_refund_no_uq').on(t.mchid, t.outRefundNo),
    uniqueIndex('wechat_refunds_refund_id_uq').on(t.refundId),
  ],
)

/**
 * `wx.login` codes of the sandbox's mini program (minted by the control API): exchanged once by
 * `/sns/jscode2session` within 5 minutes for the openid they were minted for.
 */
export const wechatLoginCodes = pgTable('wechat_login_codes', {
  code: text('code').primaryKey(),
  appid: text('appid').notNull(),
  openid: text('openid').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  usedAt: timestamp('used_at', { withTimezone: true }),
})
