/**
 * The cashier (收银台): one page per payment, whatever the provider, with exactly one 支付 and one
 * 取消 button; and the simulated scanner `GET /scan?code=`.
 *
 * Providers plug in through `CashierProvider`: payment ids carry the provider's prefix (two to
 * eight letters and `_`), and each provider can resolve QR contents it issued to a payment id.
 */
import type { FastifyInstance } from 'fastify'
import { layout, messagePage, sendHtml } from './html.ts'
import { escapeHtml } from './util.ts'

export interface CashierView {
  paymentId: string
  /** Shown in the header: the provider's name. */
  providerName: string
  subject: string
  /** Yuan, "25.00". */
  amount: string
  outTradeNo: string
  state: 'PENDING' | 'PAID' | 'CLOSED'
}

export type CashierOutcome =
  | { kind: 'redirect'; url: string }
  | { kind: 'page'; status: number; title: string; message: string; error?: boolean; rows?: [string, string][] }

/**
 * What the buyer sees after clicking 支付, the same for every provider: a closed trade is refused (409);
 * a paid one goes back to the merchant's return URL when there is one, else a 支付成功 page.
 */
/** The rows every cashier shows about the order: its number (under the provider's label) and the amount. */
export function orderRows(outTradeNo: string, amount: string, label = '订单号'): [string, string][] {
  return [
    [label, outTradeNo],
    ['金额', amount],
  ]
}

/** What a provider's cashier shows about a trade it just paid (or found paid or closed). */
export interface PaidTradeView {
  outTradeNo: string
  /** As shown, with the currency: "¥25.00". */
  amount: string
  /** The provider's word for the merchant's order number (default 订单号). */
  orderLabel?: string
  returnUrl: string | null
  tradeNoRow: [string, string]
  closedTitle?: string
}

/** The 支付 click's outcome from a provider's pay-and-notify result (null: no such payment). */
export function paidOutcome<T>(
  r: { outcome: 'paid' | 'already-paid' | 'closed'; trade: T } | null,
  view: (trade: T) => PaidTradeView,
): CashierOutcome {
  if (!r) return PAYMENT_NOT_FOUND
  const v = view(r.trade)
  return payOutcome({ ...v, outcome: r.outcome, rows: orderRows(v.outTradeNo, v.amount, v.orderLabel) })
}

export function payOutcome(p: {
  outcome: 'paid' | 'already-paid' | 'closed'
  rows: [string, string][]
  returnUrl: string | null
  /** The provider's trade number row: [its label, the number]. */
  tradeNoRow: [string, string]
  /** What the provider calls a closed trade (default 交易已关闭). */
  closedTitle?: string
}): CashierOutcome {
  if (p.outcome === 'closed') {
    const title = p.closedTitle ?? '交易已关闭'
    return { kind: 'page', status: 409, title, message: `${title}，无法支付，请返回商户重新下单。`, error: true, rows: p.rows }
  }
  if (p.returnUrl) return { kind: 'redirect', url: p.returnUrl }
  return {
    kind: 'page',
    status: 200,
    title: p.outcome === 'paid' ? '支付成功' : '支付成功（已支付过）',
    message: '付款已完成，商户将收到支付结果通知。',
    rows: [...p.rows, p.tradeNoRow],
  }
}

export interface CashierProvider {
  /** Payment id prefix: two to eight lower-case letters and `_`. */
  prefix: string
  view(paymentId: string): Promise<CashierView | null>
  /** The buyer clicked 支付. */
  pay(paymentId: string): Promise<CashierOutcome>
  /** Optional: the provider's own answer to 取消 (e.g. back to the merchant's cancel URL); default `cancelOutcome`. */
  cancel?(paymentId: string): Promise<CashierOutcome>
  /** The payment id a scanned QR content belongs to, or null. */
  resolveQr(code: string): Promise<string | null>
  /**
   * How the provider words the 取消 pages: what it calls a payment in messages (交易 or 订单) and in
   * the titles of refusals, and the label of the merchant's order number.
   */
  words: { noun: string; titleNoun: string; orderNo: string }
}

/** A payment id that names no payment. */
export const PAYMENT_NOT_FOUND: CashierOutcome = {
  kind: 'page',
  status: 404,
  title: '支付单不存在',
  message: '找不到这笔支付。',
  error: true,
}

/**
 * The buyer clicked 取消: an unpaid payment stays payable (as leaving the provider's cashier does —
 * only the merchant's close or expiry closes it); a paid or closed one is refused (409).
 */
export async function cancelOutcome(p: CashierProvider, paymentId: string): Promise<CashierOutcome> {
  const v = await p.view(paymentId)
  if (!v) return PAYMENT_NOT_FOUND
  const { noun, titleNoun, orderNo } = p.words
  if (v.state !== 'PENDING') {
    const paid = v.state === 'PAID'
    return {
      kind: 'page',
      status: 409,
      title: `${titleNoun}${paid ? '已支付' : '已关闭'}`,
      message: paid ? `该${noun}已支付，无法取消。` : `该${noun}已关闭。`,
      error: true,
    }
  }
  return {
    kind: 'page',
    status: 200,
    title: '已取消',
    message: `您已取消本次支付，未发生扣款。${noun}仍待支付，可返回收银台重新支付。`,
    rows: [[orderNo, v.outTradeNo]],
  }
}

const QR_TOKEN = /^[a-z0-9]{8,64}$/

/** The token of a QR content `…/qr/<segment>/<token>`, whatever its host (the same QR behind localhost or 127.0.0.1), or null. */
export function qrPathToken(code: string, segment: string): string | null {
  let path: string
  try {
    path = new URL(code).pathname
  } catch {
    return null
  }
  return new RegExp(`/qr/${segment}/([a-z0-9]{8,64})$`).exec(path)?.[1] ?? null
}

/** `GET /qr/<segment>/:token`: the QR content as a link, opening its payment's cashier. */
export function registerQrRoute(app: FastifyInstance, segment: string, paymentOf: (token: string) => Promise<string | null>) {
  app.get<{ Params: { token: string } }>(`/qr/${segment}/:token`, async (req, reply) => {
    const token = req.params.token
    const id = QR_TOKEN.test(token) ? await paymentOf(token) : null
    if (!id) return sendHtml(reply, 404, messagePage('二维码无效', '二维码不存在或已失效。', { error: true }))
    return reply.redirect(`/cashier/${encodeURIComponent(id)}`, 302)
  })
}

const STATE_TEXT: Record<CashierView['state'], string> = { PENDING: '待支付', PAID: '已支付', CLOSED: '交易已关闭' }

export function cashierPage(v: CashierView): string {
  const id = encodeURIComponent(v.paymentId)
  const disabled = v.state === 'PENDING' ? '' : ' disabled'
  return layout(
    `${v.providerName} 收银台`,
    `<h1>${escapeHtml(v.providerName)} 收银台</h1>
<div class="meta">
<div>商品：<span id="subject">${escapeHtml(v.subject)}</span></div>
<div>订单号：${escapeHtml(v.outTradeNo)}</div>
<div>状态：<span id="state">${STATE_TEXT[v.state]}</span></div>
</div>
<div class="amount">¥<span id="amount">${escapeHtml(v.amount)}</span></div>
<div class="actions">
<form method="post" action="/cashier/${id}/pay"><button type="submit" class="primary"${disabled}>支付</button></form>
<form method="post" action="/cashier/${id}/cancel"><button type="submit" class="secondary"${disabled}>取消</button></form>
</div>`,
  )
}

export function registerCashier(app: FastifyInstance, providers: CashierProvider[]) {
  const providerOf = (id: string) =>
    /^[a-z]{2,8}_[a-z0-9]{8,64}$/.test(id) ? (providers.find((p) => id.startsWith(p.prefix)) ?? null) : null
  const notFound = () => messagePage('支付单不存在', '找不到这笔支付，请返回商户重新发起。', { error: true })

  app.get<{ Params: { id: string } }>('/cashier/:id', async (req, reply) => {
    const p = providerOf(req.params.id)
    const view = p && (await p.view(req.params.id))
    if (!view) return sendHtml(reply, 404, notFound())
    return sendHtml(reply, 200, cashierPage(view))
  })

  for (const action of ['pay', 'cancel'] as const) {
    app.post<{ Params: { id: string } }>(`/cashier/:id/${action}`, async (req, reply) => {
      const p = providerOf(req.params.id)
      if (!p) return sendHtml(reply, 404, notFound())
      const outcome =
        action === 'pay' ? await p.pay(req.params.id) : p.cancel ? await p.cancel(req.params.id) : await cancelOutcome(p, req.params.id)
      if (outcome.kind === 'redirect') return reply.redirect(outcome.url, 302)
      return sendHtml(reply, outcome.status, messagePage(outcome.title, outcome.message, outcome))
    })
  }

  /** Simulated scanning: `code` is the QR content (URL-encoded); opens that payment's cashier. */
  app.get<{ Querystring: { code?: unknown } }>('/scan', async (req, reply) => {
    const code = req.query.code
    if (typeof code !== 'string' || code.length === 0 || code.length > 2048) {
      return sendHtml(reply, 400, messagePage('无法识别', '请提供二维码内容：/scan?code=…', { error: true }))
    }
    for (const p of providers) {
      const id = await p.resolveQr(code)
      if (id) return reply.redirect(`/cashier/${encodeURIComponent(id)}`, 302)
    }
    return sendHtml(reply, 404, messagePage('二维码无效', '无法识别的二维码，或二维码不属于本沙箱。', { error: true }))
  })
}
