/**
 * Epay's side of the cashier: paying (status 1 + durable GET notify + signed browser return),
 * cancelling (the order stays unpaid), and QR contents (`GET /qr/epay/{token}` and `/scan`).
 */
import { generateKeyPairSync } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { PAYMENT_NOT_FOUND, paidOutcome, qrPathToken, registerQrRoute, type CashierOutcome, type CashierProvider } from '../cashier.ts'
import { fenToYuan } from '../util.ts'
import type { EpayContext } from './api.ts'
import { scheduleNotify, signedReturnUrl } from './notify.ts'
import { randomKey, rsaSignParams, signParams, type Signer } from './signing.ts'
import { findTradeById, findTradeByQrToken, payTrade, type EpayTrade, type MoneyStyle, type PayResult } from './trades.ts'

const TYPE_NAMES: Record<EpayTrade['type'], string> = { alipay: '支付宝', wxpay: '微信支付', qqpay: 'QQ钱包', bank: '网银支付' }

/** Marks the order paid and (when `notify`) schedules the notify in the same transaction, then wakes the worker. */
export async function payAndNotify(
  ctx: EpayContext,
  tradeId: string,
  opts: { notify: boolean; delayMs?: number; moneyStyle?: MoneyStyle } = { notify: true },
): Promise<PayResult | null> {
  const result = await payTrade(ctx.sql, tradeId, { moneyStyle: opts.moneyStyle }, async (tx, trade) => {
    if (opts.notify) await scheduleNotify(tx, ctx.deliveries, notifySigner(ctx, trade), trade, opts.delayMs ?? 0)
  })
  if (result?.outcome === 'paid') ctx.deliveries.kick()
  return result
}

/**
 * How Epay signs what it sends about `trade`: a V2 order (api/pay/*) with the platform's RSA key, a V1
 * one with the merchant's MD5 key (`wrongKey`: a key that is not the merchant's, for forged notifies).
 */
export function notifySigner(ctx: EpayContext, trade: EpayTrade, wrongKey = false): Signer {
  if (trade.api === 'v2' && ctx.epay.v2) {
    const key = wrongKey ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : ctx.epay.v2.platformPrivateKey
    return (p) => rsaSignParams(p, key)
  }
  const key = wrongKey ? randomKey() : ctx.epay.key
  return (p) => signParams(p, key)
}

export function returnUrlOf(ctx: EpayContext, trade: EpayTrade): string | null {
  return signedReturnUrl(trade, notifySigner(ctx, trade))
}

export function qrCodeOf(ctx: EpayContext, trade: EpayTrade): string | null {
  return trade.qr_token ? `${ctx.config.publicUrl}/qr/epay/${trade.qr_token}` : null
}

export function epayCashier(ctx: EpayContext): CashierProvider {
  return {
    prefix: 'epay_',
    words: { noun: '订单', titleNoun: '交易', orderNo: '订单号' },

    async view(id) {
      const t = await findTradeById(ctx.sql, id)
      if (!t) return null
      return {
        paymentId: t.id,
        providerName: `易支付 · ${TYPE_NAMES[t.type]}`,
        subject: t.name,
        amount: fenToYuan(t.money),
        outTradeNo: t.out_trade_no,
        state: t.status > 0 ? 'PAID' : t.closed_at ? 'CLOSED' : 'PENDING',
      }
    },

    async pay(id): Promise<CashierOutcome> {
      return paidOutcome(await payAndNotify(ctx, id), (t) => ({
        outTradeNo: t.out_trade_no,
        amount: `¥${fenToYuan(t.money)}`,
        returnUrl: returnUrlOf(ctx, t),
        tradeNoRow: ['易支付订单号', t.trade_no],
      }))
    },

    async resolveQr(code) {
      // Matched on the token, so the same QR behind another host name (localhost vs 127.0.0.1) resolves too.
      const token = qrPathToken(code, 'epay')
      return token ? ((await findTradeByQrToken(ctx.sql, token))?.id ?? null) : null
    },
  }
}

export function registerEpayQrRoutes(app: FastifyInstance, ctx: EpayContext) {
  registerQrRoute(app, 'epay', async (token) => (await findTradeByQrToken(ctx.sql, token))?.id ?? null)
}
