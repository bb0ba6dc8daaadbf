/**
 * Alipay's side of the cashier: paying (TRADE_SUCCESS + durable notify + signed browser return),
 * cancelling, and QR codes (`GET /qr/alipay/{token}` and `/scan` resolution).
 *
 * Cancel (取消) leaves the trade WAIT_BUYER_PAY, as leaving Alipay's cashier does: the buyer can
 * still come back and pay; only alipay.trade.close (or expiry) closes it — and a close only once the
 * buyer has scanned or opened it: before that it does not exist for Alipay's API (see trades.ts).
 */
import type { FastifyInstance } from 'fastify'
import { PAYMENT_NOT_FOUND, paidOutcome, qrPathToken, registerQrRoute, type CashierOutcome, type CashierProvider } from '../cashier.ts'
import { fenToYuan } from '../util.ts'
import type { AlipayContext } from './gateway.ts'
import { scheduleNotify, signedReturnUrl } from './notify.ts'
import { findTradeById, findTradeByQr, markSeen, payTrade, type PayResult } from './trades.ts'

/** Marks the trade paid and (when `notify`) schedules the notify in the same transaction, then wakes the worker. */
export async function payAndNotify(
  ctx: AlipayContext,
  tradeId: string,
  opts: { notify: boolean; delayMs?: number } = { notify: true },
): Promise<PayResult | null> {
  const result = await payTrade(ctx.sql, tradeId, async (tx, trade) => {
    if (opts.notify) await scheduleNotify(tx, ctx.deliveries, ctx.config, ctx.keys.platformPrivate, trade, opts.delayMs ?? 0)
  })
  if (result?.outcome === 'paid') ctx.deliveries.kick()
  return result
}

export function returnUrlOf(ctx: AlipayContext, trade: Parameters<typeof signedReturnUrl>[0]): string | null {
  return signedReturnUrl(trade, ctx.alipay.sellerId, ctx.keys.platformPrivate)
}

export function alipayCashier(ctx: AlipayContext): CashierProvider {
  return {
    prefix: 'ali_',
    words: { noun: '交易', titleNoun: '交易', orderNo: '订单号' },

    async view(id) {
      const t = await findTradeById(ctx.sql, id)
      if (!t) return null
      // The buyer opened the cashier (or scanned the QR that leads here): the trade exists at Alipay now.
      await markSeen(ctx.sql, t.id)
      return {
        paymentId: t.id,
        providerName: '支付宝',
        subject: t.subject,
        amount: fenToYuan(t.total_amount),
        outTradeNo: t.out_trade_no,
        state: t.status === 'WAIT_BUYER_PAY' ? 'PENDING' : t.paid_at ? 'PAID' : 'CLOSED',
      }
    },

    async pay(id): Promise<CashierOutcome> {
      return paidOutcome(await payAndNotify(ctx, id), (t) => ({
        outTradeNo: t.out_trade_no,
        amount: `¥${fenToYuan(t.total_amount)}`,
        returnUrl: returnUrlOf(ctx, t),
        tradeNoRow: ['支付宝交易号', t.trade_no],
      }))
    },

    async resolveQr(code) {
      // The same QR behind another host name (localhost vs 127.0.0.1) matches on its token.
      const token = qrPathToken(code, 'alipay')
      const trade = (await findTradeByQr(ctx.sql, { code })) ?? (token ? await findTradeByQr(ctx.sql, { token }) : null)
      return trade ? scanned(ctx, trade.id) : null
    },
  }
}

/** A scan makes the trade exist at Alipay (see trades.ts). */
async function scanned(ctx: AlipayContext, id: string): Promise<string> {
  await markSeen(ctx.sql, id)
  return id
}

export function registerQrRoutes(app: FastifyInstance, ctx: AlipayContext) {
  registerQrRoute(app, 'alipay', async (token) => {
    const trade = await findTradeByQr(ctx.sql, { token })
    return trade ? scanned(ctx, trade.id) : null
  })
}
