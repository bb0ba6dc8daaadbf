/**
 * Seed 001 (a mini program's API) as a thin dialect: every rule is main's own — catalogue, pricing
 * and order creation (checkout), payment through pay (checkout.pay), status sync (payments.sync),
 * events (checkout.applyEvent). This file only translates between the seed's requests and those services.
 */
import { createHash } from 'node:crypto'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import type { CatalogRepo, ProductRow } from '../../catalog.ts'
import type { Caller, CheckoutService } from '../../checkout.ts'
import type { OrderRow, OrdersRepo } from '../../orders/repo.ts'
import type { PaymentsService } from '../../payments.ts'
import type { UserRow, UsersRepo } from '../../users.ts'
import { code2session } from './code2session.ts'
import type { MiniappConfig } from './config.ts'
import { createMiniappIdentities } from './identities.ts'
import { MINI_PROGRAM_PAYMENT } from './seed-names.ts'

/** `wx.requestPayment`'s parameters as seed 001 answers them. */
export interface MiniPaymentData {
  appId: string
  timeStamp: string
  nonceStr: string
  packageValue: string
  signType: 'RSA'
  paySign: string
  outTradeNo: string
}

export function createMiniProgram(deps: {
  miniapp: MiniappConfig | null
  sql: Sql
  users: UsersRepo
  catalog: CatalogRepo
  orders: OrdersRepo
  checkout: CheckoutService
  payments: PaymentsService
}) {
  const { miniapp, catalog, orders, checkout, payments } = deps
  const identities = createMiniappIdentities(deps.sql, deps.users)

  function configured(): MiniappConfig {
    if (!miniapp) throw new AppError(503, 'SERVICE_UNAVAILABLE', '小程序登录未配置（WECHAT_MINIAPP_APPID / WECHAT_MINIAPP_SECRET）')
    return miniapp
  }

  async function activeCreditProduct(id: number): Promise<ProductRow> {
    const p = await catalog.findProduct(id)
    // Seed 001 sells fixed credit products: goods (delivery) and the custom package are not on its shelf.
    if (!p || !p.isActive || p.kind !== 'credits' || p.packageType === 'CUSTOM') throw new AppError(404, 'PRODUCT_NOT_FOUND', '商品不存在')
    return p
  }

  return {
    listProducts: (page: { limit: number; offset: number }) =>
      catalog.listProducts({ kind: 'credits', activeOnly: true, fixedPriceOnly: true }, page).then((r) => r.rows),

    product: activeCreditProduct,

    /** `wx.login` code → the user of its openid (created on the first login). */
    async login(code: string, caller: Caller): Promise<{ user: UserRow; created: boolean }> {
      const config = configured()
      const openid = await code2session(config, code, caller.log)
      return identities.findOrCreate(config.appId, openid)
    },

    async createOrder(userId: number, productId: number): Promise<OrderRow> {
      const product = await activeCreditProduct(productId)
      return checkout.createOrder(userId, { productId: product.id })
    },

    /** A JSAPI prepay for the openid the buyer logged in with, as `wx.requestPayment` parameters. */
    async pay(userId: number, orderId: string, caller: Caller): Promise<MiniPaymentData> {
      const openid = miniapp ? await identities.openidOf(miniapp.appId, userId) : undefined
      const r = await checkout.pay(userId, orderId, { ...MINI_PROGRAM_PAYMENT, ...(openid ? { openid } : {}) }, caller)
      const p = r.credits ? undefined : r.paymentInfo.jsapiParams
      if (r.credits || !p?.package || !p.paySign) throw new AppError(502, 'PROVIDER_ERROR', '支付参数缺失，请稍后重试')
      if (miniapp && p.appId !== miniapp.appId) {
        caller.log.error({ payAppId: p.appId }, "the payment merchant's appid is not the mini program's: wx.requestPayment would refuse it")
        throw new AppError(502, 'PROVIDER_ERROR', '支付商户的 AppID 与小程序不一致')
      }
      return {
        appId: p.appId!,
        timeStamp: p.timeStamp!,
        nonceStr: p.nonceStr!,
        packageValue: p.package,
        signType: 'RSA',
        paySign: p.paySign,
        outTradeNo: r.paymentInfo.outTradeNo,
      }
    },

    list: (userId: number, page: { limit: number; offset: number }) => orders.search({ userId }, page).then((r) => r.rows),

    async detail(userId: number, orderId: string): Promise<{ order: OrderRow; product: ProductRow | undefined }> {
      const order = await checkout.owned(userId, orderId)
      return { order, product: await catalog.findProduct(order.productId) }
    },

    /** Like the core route: while pending, pay is asked (which asks the provider). */
    async paymentStatus(userId: number, orderId: string, requestId: string): Promise<OrderRow> {
      return payments.sync(await checkout.owned(userId, orderId), requestId)
    },

    /**
     * §3.1's body from a service holding a service key (the route verified the signature): applied as
     * pay's PAYMENT_SUCCEEDED event would be, once per (order_no, payment_id). Only SUCCESS is a payment.
     */
    async callback(b: { order_no: string; payment_id: string; status: string; amountFen: number }, caller: Caller): Promise<string> {
      if (b.status !== 'SUCCESS') throw new AppError(400, 'INVALID_PARAMS', `不支持的回调状态: ${b.status.slice(0, 32)}（只处理 SUCCESS）`)
      const order = await orders.findByOrderNo(b.order_no)
      if (!order) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
      if (!order.paymentProvider || !order.paymentChannel) throw new AppError(409, 'ORDER_NOT_PAYABLE', '订单尚未发起支付')
      const eventId = `mp-${createHash('sha256').update(`${b.order_no}\n${b.payment_id}`).digest('hex').slice(0, 40)}`
      return checkout.applyEvent(
        {
          eventId,
          type: 'PAYMENT_SUCCEEDED',
          orderId: order.id,
          orderNo: order.orderNo,
          amount: b.amountFen,
          provider: order.paymentProvider,
          channel: order.paymentChannel,
          tradeNo: b.payment_id,
          paidAt: new Date().toISOString(),
        },
        caller,
      )
    },
  }
}
export type MiniProgram = ReturnType<typeof createMiniProgram>
