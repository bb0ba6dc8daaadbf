/**
 * WeChat Pay's side of the cashier: paying (SUCCESS + durable notify), cancelling, and the ways
 * to reach a transaction's cashier page:
 * - NATIVE: the `code_url` (`weixin://wxpay/bizpayurl?pr=…`) through `/scan?code=`, for 2 hours;
 * - MWEB (H5): the `h5_url` (`/wechat/checkmweb?prepay_id=…`, optional `redirect_url`, where the
 *   browser goes after paying, as WeChat's H5 cashier does);
 * - JSAPI: in WeChat the page calls WeixinJSBridge with `package=prepay_id=…`; here
 *   `/scan?code=prepay_id=…` (or the bare prepay_id) opens the cashier instead.
 *
 * 取消 leaves the transaction NOTPAY, as leaving WeChat's payment sheet does.
 */
import type { FastifyInstance } from 'fastify'
import { PAYMENT_NOT_FOUND, paidOutcome, payOutcome, type CashierOutcome, type CashierProvider } from '../cashier.ts'
import { messagePage, sendHtml } from '../html.ts'
import { fenToYuan, httpUrl } from '../util.ts'
import type { WechatContext } from './index.ts'
import { scheduleNotify } from './notify.ts'
import { findByCode, findById, payTrade, setRedirectUrl, type PayResult, type WxTrade } from './trades.ts'

/** WeChat's h5_url lives 5 minutes from the answer that carried it. */
export const H5_URL_TTL_MS = 5 * 60_000

/** The h5_url's `package`: part of the payment id and the time the link was issued (base 36 ms). */
export const h5Package = (paymentId: string, issuedAt = Date.now()) => `${paymentId.slice(3, 13)}${issuedAt.toString(36)}`

/** Whether an h5_url `package` belongs to the payment and is still alive. */
function h5PackageAlive(pkg: unknown, paymentId: string, now = Date.now()): boolean {
  if (typeof pkg !== 'string' || !pkg.startsWith(paymentId.slice(3, 13))) return false
  const issuedAt = parseInt(pkg.slice(10), 36)
  return Number.isSafeInteger(issuedAt) && issuedAt <= now && now - issuedAt <= H5_URL_TTL_MS
}

/** A Native code_url lives 2 hours: "code_url有效期为2小时，过期后扫码不能再发起支付" (wiki/doc/apiv3/apis/chapter7_3_10.shtml). */
export const CODE_URL_TTL_MS = 2 * 3600_000

/** Whether `t` is a Native transaction whose code_url has died (its trade may live on until time_expire). */
export const codeUrlDead = (t: WxTrade, now = Date.now()) => t.trade_type === 'NATIVE' && now - t.created_at.getTime() >= CODE_URL_TTL_MS

/** Marks the transaction paid and (when `notify`) schedules the notify in the same transaction, then wakes the worker. */
export async function payAndNotify(
  ctx: WechatContext,
  id: string,
  opts: { notify: boolean; delayMs?: number } = { notify: true },
): Promise<PayResult | null> {
  const result = await payTrade(ctx.sql, id, async (tx, trade) => {
    if (opts.notify) await scheduleNotify(tx, ctx.deliveries, ctx.keys, trade, opts.delayMs ?? 0)
  })
  if (result?.outcome === 'paid') ctx.deliveries.kick()
  return result
}

const PR_RE = /^weixin:\/\/wxpay\/bizpayurl\?pr=([a-z0-9]{8,64})$/
const PREPAY_RE = /^(?:prepay_id=)?(wx[0-9a-z]{20,64})$/

export function wechatCashier(ctx: WechatContext): CashierProvider {
  return {
    prefix: 'wx_',
    words: { noun: '订单', titleNoun: '订单', orderNo: '商户订单号' },

    async view(id) {
      const t = await findById(ctx.sql, id)
      if (!t) return null
      return {
        paymentId: t.id,
        providerName: '微信支付',
        subject: t.description,
        amount: fenToYuan(t.total),
        outTradeNo: t.out_trade_no,
        state: t.trade_state === 'NOTPAY' && !codeUrlDead(t) ? 'PENDING' : t.paid_at ? 'PAID' : 'CLOSED',
      }
    },

    async pay(id): Promise<CashierOutcome> {
      const before = await findById(ctx.sql, id)
      if (before && before.trade_state === 'NOTPAY' && codeUrlDead(before)) {
        return payOutcome({
          outcome: 'closed',
          rows: [['商户订单号', before.out_trade_no]],
          returnUrl: null,
          tradeNoRow: ['', ''],
          closedTitle: '二维码已过期',
        })
      }
      return paidOutcome(await payAndNotify(ctx, id), (t) => ({
        outTradeNo: t.out_trade_no,
        orderLabel: '商户订单号',
        amount: `¥${fenToYuan(t.total)}`,
        returnUrl: t.redirect_url || null,
        tradeNoRow: ['微信支付单号', t.transaction_id],
        closedTitle: '订单已关闭',
      }))
    },

    async resolveQr(code) {
      const byUrl = await findByCode(ctx.sql, { codeUrl: code })
      if (byUrl) return byUrl.id
      const token = PR_RE.exec(code)?.[1]
      if (token) return (await findByCode(ctx.sql, { token }))?.id ?? null
      const prepayId = PREPAY_RE.exec(code)?.[1]
      if (prepayId) return (await findByCode(ctx.sql, { prepayId }))?.id ?? null
      return null
    },
  }
}

/** The h5_url: opens the cashier, remembering the merchant's redirect_url for after payment. */
export function registerH5Routes(app: FastifyInstance, ctx: WechatContext) {
  app.get<{ Querystring: { prepay_id?: unknown; package?: unknown; redirect_url?: unknown } }>('/wechat/checkmweb', async (req, reply) => {
    const prepayId = req.query.prepay_id
    const t = typeof prepayId === 'string' && PREPAY_RE.test(prepayId) ? await findByCode(ctx.sql, { prepayId }) : null
    if (!t || t.trade_type !== 'MWEB') return sendHtml(reply, 404, messagePage('链接无效', '支付链接不存在或已失效。', { error: true }))
    if (!h5PackageAlive(req.query.package, t.id))
      return sendHtml(reply, 403, messagePage('链接已过期', '支付链接已过期（5 分钟），请返回商户页面重新发起支付。', { error: true }))
    if (req.query.redirect_url !== undefined) {
      const url = httpUrl(req.query.redirect_url)
      if (!url) return sendHtml(reply, 400, messagePage('参数错误', 'redirect_url 必须是 http(s) 地址。', { error: true }))
      await setRedirectUrl(ctx.sql, t.id, url)
    }
    return reply.redirect(`/cashier/${encodeURIComponent(t.id)}`, 302)
  })
}
