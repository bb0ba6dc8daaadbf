/** Epay tables of the sandbox (drizzle-kit reads it with ../db/schema.ts). Amounts are integer fen. */
import { bigint, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

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
