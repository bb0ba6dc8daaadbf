/**
 * Alipay's side of the cashier: paying (TRADE_SUCCESS + durable notify + signed browser return),
 * cancelling, and QR codes (`GET /qr/alipay/{token}` and `/scan` resolution).
 *
 * Cancel (取消) leaves the trade WAIT_BUYER_PAY, as leaving Alipay's cashier does: the buyer can
 * still come back and pay; only alipay.trade.close (or expiry) closes it.
 */
import type { FastifyInstance } from 'fastify'
import { payOutcome, type CashierOutcome, type CashierProvider } from '../cashier.ts'
import { messagePage, sendHtml } from '../html.ts'
import { fenToYuan } from '../util.ts'
import type { AlipayContext } from './gateway.ts'
import { scheduleNotify, signedReturnUrl } from './notify.ts'
import { findTradeById, findTradeByQr, payTrade, type PayResult } from './trades.ts'

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

const QR_PATH_RE = /\/qr\/alipay\/([a-z0-9]{8,64})$/

export function alipayCashier(ctx: AlipayContext): CashierProvider {
  return {
    prefix: 'ali_',

    async view(id) {
      const t = await findTradeById(ctx.sql, id)
      if (!t) return null
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
      const r = await payAndNotify(ctx, id)
      if (!r) return { kind: 'page', status: 404, title: '支付单不存在', message: '找不到这笔支付。', error: true }
      const rows: [string, string][] = [
        ['订单号', r.trade.out_trade_no],
        ['金额', `¥${fenToYuan(r.trade.total_amount)}`],
      ]
      return payOutcome({ outcome: r.outcome, rows, returnUrl: returnUrlOf(ctx, r.trade), tradeNoRow: ['支付宝交易号', r.trade.trade_no] })
    },

    async cancel(id): Promise<CashierOutcome> {
      const t = await findTradeById(ctx.sql, id)
      if (!t) return { kind: 'page', status: 404, title: '支付单不存在', message: '找不到这笔支付。', error: true }
      if (t.status !== 'WAIT_BUYER_PAY') {
        const paid = t.paid_at !== null
        return {
          kind: 'page',
          status: 409,
          title: paid ? '交易已支付' : '交易已关闭',
          message: paid ? '该交易已支付，无法取消。' : '该交易已关闭。',
          error: true,
        }
      }
      return {
        kind: 'page',
        status: 200,
        title: '已取消',
        message: '您已取消本次支付，未发生扣款。交易仍待支付，可返回收银台重新支付。',
        rows: [['订单号', t.out_trade_no]],
      }
    },

    async resolveQr(code) {
      const byCode = await findTradeByQr(ctx.sql, { code })
      if (byCode) return byCode.id
      // The same QR behind another host name (localhost vs 127.0.0.1): match on its token.
      let path: string | null = null
      try {
        path = new URL(code).pathname
      } catch {
        return null
      }
      const token = QR_PATH_RE.exec(path)?.[1]
      return token ? ((await findTradeByQr(ctx.sql, { token }))?.id ?? null) : null
    },
  }
}

export function registerQrRoutes(app: FastifyInstance, ctx: AlipayContext) {
  app.get<{ Params: { token: string } }>('/qr/alipay/:token', async (req, reply) => {
    const token = req.params.token
    const t = /^[a-z0-9]{8,64}$/.test(token) ? await findTradeByQr(ctx.sql, { token }) : null
    if (!t) return sendHtml(reply, 404, messagePage('二维码无效', '二维码不存在或已失效。', { error: true }))
    return reply.redirect(`/cashier/${encodeURIComponent(t.id)}`, 302)
  })
}
