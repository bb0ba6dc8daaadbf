/**
 * Seed 002 (a points shop, `/payment/*`) as a dialect: it translates the document's requests onto
 * the one checkout (../../checkout.ts) and its answers back; no rule of its own about prices, orders or
 * payments.
 *
 * - `amount` + `points` are the client's claim: they must be what the catalogue sells (an active credit
 *   product or package with exactly these credits and price) or what the CUSTOM package's rule prices
 *   (orders/pricing.ts), else 422 AMOUNT_MISMATCH before anything is written.
 * - `payment_type` is a method alias of pay's registry (`GET /api/pay/methods`), else the method with a
 *   channel of that alias: whichever provider serves it.
 * - `method`/`device` → pay's `interfaceType`/`device`: a provider whose API speaks them passes them
 *   through, the others map them. `jsapi`, `app`, `scan`, `applet` need the
 *   buyer's openid / app / payment code, which this API cannot carry: 422.
 */
import { AppError, type Device, type InterfaceType } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { CatalogRepo, ProductRow } from '../../catalog.ts'
import type { Caller, CheckoutService } from '../../checkout.ts'
import type { OrderRow } from '../../orders/repo.ts'
import { priceOrder } from '../../orders/pricing.ts'
import type { PaymentInfo, PaymentsService } from '../../payments.ts'

/** The document's payment types (its contract's words; pay's registry says who serves each). */
export const PAYMENT_TYPES = ['alipay', 'wechat', 'qq', 'bank'] as const
export type PaymentType = (typeof PAYMENT_TYPES)[number]

/** The interface types served (the others need what this API cannot carry). */
export const SERVED_METHODS = ['web', 'jump'] as const

/** 0 unpaid · 1 paid · 2 refunded · 3 frozen (the document's codes; a closed order is 3 too: it will not be paid). */
export function pointsShopStatus(status: OrderRow['status']): { status: 0 | 1 | 2 | 3; text: string } {
  switch (status) {
    case 'PENDING_PAYMENT':
      return { status: 0, text: '待支付' }
    case 'PAID':
      return { status: 1, text: '已支付' }
    case 'PARTIALLY_REFUNDED':
    case 'REFUNDED':
      return { status: 2, text: '已退款' }
    case 'CANCELLED':
    case 'EXPIRED':
    case 'FAILED':
      return { status: 3, text: '已关闭' }
    default: {
      const never: never = status
      return never
    }
  }
}

/** "yyyy-MM-dd HH:mm:ss" in China Standard Time, as the document writes `addtime`/`endtime`. */
export function chinaTime(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
}

const mismatch = () => new AppError(422, 'AMOUNT_MISMATCH', '金额与积分不匹配任何积分套餐（也不符合自定义积分的价格）')

export function createPointsShop(deps: { catalog: CatalogRepo; checkout: CheckoutService; payments: PaymentsService }) {
  const { catalog, checkout, payments } = deps

  /** The method (and channel) serving `type`, as pay has it enabled; 422 when none does. */
  async function chooseFor(type: PaymentType, device: Device | undefined, requestId?: string) {
    try {
      return { method: (await payments.choose(type, undefined, device, requestId)).method, channel: undefined }
    } catch (err) {
      if (!(err instanceof AppError) || err.error !== 'PAYMENT_METHOD_DISABLED') throw err
    }
    for (const m of await payments.listMethods(requestId)) {
      const channel = m.channels.find((c) => c.aliases?.includes(type))
      if (channel) return { method: (await payments.choose(m.code, channel.code, device, requestId)).method, channel: channel.code }
    }
    throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `不支持或未启用的支付方式: ${type}`)
  }

  /** The catalogue entry that sells `points` for `amountFen`, with what to order it by. */
  async function matchCatalogue(amountFen: number, points: number): Promise<{ product: ProductRow; customCredits?: number }> {
    const { rows } = await catalog.listProducts({ kind: 'credits', activeOnly: true }, { limit: 100, offset: 0 })
    const fixed = rows.find((p) => p.packageType !== 'CUSTOM' && p.credits === points && p.priceFen === amountFen)
    if (fixed) return { product: fixed }
    const custom = rows.find((p) => p.packageType === 'CUSTOM' && p.packageCode)
    if (!custom) throw mismatch()
    // The one pricing (orders/pricing.ts): out of range is its own 422.
    const priced = priceOrder(custom, { customCredits: points }, [])
    if (priced.amountFen !== amountFen || priced.credits !== points) throw mismatch()
    return { product: custom, customCredits: points }
  }

  return {
    async createOrder(userId: number, b: { amountFen: number; points: number; paymentType: PaymentType }, caller: Caller) {
      const match = await matchCatalogue(b.amountFen, b.points)
      // Is the payment type served at all? Checked before anything is written.
      await chooseFor(b.paymentType, undefined, caller.requestId)
      const ref = match.product.packageCode ? { packageCode: match.product.packageCode } : { productId: match.product.id }
      return checkout.createOrder(userId, {
        ...ref,
        customCredits: match.customCredits,
        clientInfo: { paymentType: b.paymentType },
      })
    },

    /** Starts (or restarts) the payment of the caller's order with the order's payment type. */
    async payUrl(
      userId: number,
      b: { orderNo: string; method: (typeof SERVED_METHODS)[number]; device: Device },
      caller: Caller,
    ): Promise<{ order: OrderRow; paymentInfo: PaymentInfo }> {
      const order = await checkout.owned(userId, b.orderNo)
      const type = paymentTypeOf(order)
      if (!type) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', '该订单不是通过 /payment/create-order 创建的，没有 payment_type')
      const choice = await chooseFor(type, b.device, caller.requestId)
      const r = await checkout.pay(
        userId,
        order.orderNo,
        { method: choice.method, channel: choice.channel, device: b.device, interfaceType: b.method },
        caller,
      )
      if (r.credits) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', '积分订单不能用积分支付')
      return { order: r.order, paymentInfo: r.paymentInfo }
    },

    /** The caller's order; with `sync`, pay (and the provider) is asked first while it is pending. */
    async order(userId: number, orderNo: string, sync: boolean, requestId?: string) {
      const order = await checkout.owned(userId, orderNo)
      return sync ? payments.sync(order, requestId) : order
    },
  }
}
export type PointsShop = ReturnType<typeof createPointsShop>

export function paymentTypeOf(order: OrderRow): PaymentType | null {
  const info = order.clientInfo as { paymentType?: unknown } | null
  const t = info && typeof info === 'object' ? info.paymentType : undefined
  return typeof t === 'string' && (PAYMENT_TYPES as readonly string[]).includes(t) ? (t as PaymentType) : null
}

/** `pay_type` + `pay_info` (the document's words): the provider's own when it answered in them. */
export function presentPayInfo(info: PaymentInfo): { payType: string; payInfo: string } {
  if (info.providerPayType !== undefined && info.payInfo !== undefined) return { payType: info.providerPayType, payInfo: info.payInfo }
  if (info.payType === 'qrcode' && info.qrCode) return { payType: 'qrcode', payInfo: info.qrCode }
  if (info.payType === 'jsapi' && info.jsapiParams) return { payType: 'jsapi', payInfo: JSON.stringify(info.jsapiParams) }
  if (info.paymentUrl) return { payType: 'jump', payInfo: info.paymentUrl }
  // A form without a GET variant: the document's vocabulary calls an HTML answer `html`.
  return { payType: 'html', payInfo: info.formHtml ?? '' }
}

export function presentOrder(order: OrderRow, synced: boolean) {
  const s = pointsShopStatus(order.status)
  return {
    order_no: order.orderNo,
    order_id: String(order.id),
    amount: fenToYuanNumber(order.amountFen),
    points: order.credits,
    payment_type: paymentTypeOf(order),
    status: s.status,
    status_text: s.text,
    paid_at: order.paidAt ? order.paidAt.toISOString() : null,
    created_at: order.createdAt.toISOString(),
    yipay_info: order.paymentId
      ? {
          trade_no: order.tradeNo,
          api_trade_no: null,
          status: s.status,
          status_text: s.text,
          addtime: chinaTime(order.createdAt),
          endtime: order.paidAt ? chinaTime(order.paidAt) : null,
        }
      : null,
    synced,
  }
}

export type InterfaceServed = Extract<InterfaceType, (typeof SERVED_METHODS)[number]>
