/**
 * Checkout: the rules of buying, in one place for every route that buys (seed 000 purchase, seed 001
 * create + pay, seed 003/004 pay, cancel). Routes validate the shape of a request and present the
 * answer; everything here is checked before anything is written, in this order: what is bought and
 * its price (orders/pricing.ts, the only pricing), who buys, how it is paid (pay's enabled methods),
 * then the order is written and the payment started.
 */
import type { FastifyBaseLogger } from 'fastify'
import { AppError, type InterfaceType, type PaymentEvent, type PaymentSucceededEvent } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { CatalogRepo, ProductRow } from './catalog.ts'
import type { MainConfig } from './config.ts'
import { newOrderNo, ORDER_NO_RE } from './orders/order-no.ts'
import { creditsFor, priceOrder, type OrderInput } from './orders/pricing.ts'
import type { OrderRow, OrdersRepo, OrderStatus, PaidOutcome } from './orders/repo.ts'
import { closeProviderTrade } from './orders/trades.ts'
import type { PayClient } from './pay-client.ts'
import { CREDITS, CREDITS_CHANNEL, requireOpenid, type PaymentChoice } from './pay-methods.ts'
import type { PaymentInfo, PaymentsService } from './payments.ts'
import { paymentStatusOf } from './present.ts'
import type { RefundService } from './refunds.ts'
import { EMAIL_RE, normaliseEmail, type UserRow, type UsersRepo } from './users.ts'

/** Who is asking, and what to pass on to pay. */
export interface Caller {
  log: FastifyBaseLogger
  requestId?: string
  clientIp?: string
}

export interface HowToPay {
  method: string
  channel?: string
  device?: string
  openid?: string
  /** Seed 002's `method` (web, jump, …), passed on to pay. */
  interfaceType?: InterfaceType
}

export interface PaidWithCredits {
  order: OrderRow
  paymentInfo: {
    paymentMethod: string
    channel: string
    payType: 'credits'
    amount: number
    currency: 'CNY'
    expireTime: string
    paid: true
    creditsSpent: number
    balance: number
  }
}

export interface StartedPayment {
  order: OrderRow
  paymentInfo: PaymentInfo
}

const notFound = () => new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')

/** Buyers' groups of one delivery applied at once (each holds a pool connection for its transaction). */
const EVENT_GROUPS_AT_ONCE = 8

/** A payment event's answer: its outcome, or the error for an order that is unknown or paid with another amount. */
function paidOutcome(e: PaymentSucceededEvent, r: PaidOutcome, caller: Caller): string {
  if (r.outcome === 'NOT_FOUND') throw new AppError(404, 'ORDER_NOT_FOUND', `订单不存在: ${e.orderNo}`)
  if (r.outcome === 'AMOUNT_MISMATCH') throw new AppError(409, 'AMOUNT_MISMATCH', '支付金额与订单金额不一致')
  if (r.outcome !== 'DUPLICATE' && r.order.id !== e.orderId)
    caller.log.warn({ orderNo: e.orderNo, eventOrderId: e.orderId }, 'event orderId differs from the order; orderNo wins')
  return r.outcome
}

/** What `f` answers, or the error it throws. */
async function settle(f: () => string | Promise<string>): Promise<string | Error> {
  try {
    return await f()
  } catch (err) {
    return err as Error
  }
}

export function createCheckout(deps: {
  config: Pick<MainConfig, 'orderExpireMinutes' | 'creditValueFen'>
  users: UsersRepo
  catalog: CatalogRepo
  orders: OrdersRepo
  payments: PaymentsService
  refunds: Pick<RefundService, 'applyEvent'>
  pay: PayClient
}) {
  const { config, users, catalog, orders, payments, refunds, pay } = deps
  const expireAt = () => new Date(Date.now() + config.orderExpireMinutes * 60_000)

  /** An order by numeric id or orderNo (400 for anything else). */
  async function lookup(ref: string): Promise<OrderRow | undefined> {
    if (/^\d{1,15}$/.test(ref)) return orders.findById(Number(ref))
    if (ORDER_NO_RE.test(ref)) return orders.findByOrderNo(ref)
    throw new AppError(400, 'INVALID_PARAMS', `无效的订单号: ${ref.slice(0, 64)}`)
  }

  /**
   * The order, if `userId` owns it (or is an admin). The admin role is read from the database, not
   * the token's claim: a demoted admin's unexpired token must not keep reading other users' orders.
   */
  async function owned(userId: number, ref: string): Promise<OrderRow> {
    const order = await lookup(ref)
    if (!order) throw notFound()
    if (order.userId === userId) return order
    const me = await users.findById(userId)
    if (me?.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '无权访问该订单')
    return order
  }

  async function existingUser(id: number): Promise<UserRow> {
    const user = await users.findById(id)
    if (!user) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
    return user
  }

  async function activeProduct(ref: { productId?: number; packageCode?: string }): Promise<ProductRow> {
    if ((ref.productId === undefined) === (ref.packageCode === undefined)) {
      throw new AppError(400, 'INVALID_PARAMS', '需要 productId 或 packageCode（二选一）')
    }
    if (ref.productId !== undefined) {
      const product = await catalog.findProduct(ref.productId)
      if (!product || !product.isActive) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${ref.productId}`)
      return product
    }
    const product = await catalog.findPackage(ref.packageCode!)
    if (!product || !product.isActive) throw new AppError(404, 'PACKAGE_NOT_FOUND', `套餐不存在: ${ref.packageCode}`)
    return product
  }

  async function price(product: ProductRow, input: OrderInput) {
    return priceOrder(product, input, product.kind === 'goods' ? await catalog.listDeliveryMethods() : [])
  }

  /**
   * A goods order paid from the credit balance: any provider trade started for it is closed first
   * (it must not be payable twice), then PAID and the CONSUME row in one transaction.
   */
  async function payWithCredits(order: OrderRow, caller: Caller): Promise<PaidWithCredits> {
    if (order.kind !== 'goods') throw new AppError(422, 'PAYMENT_METHOD_DISABLED', '积分只能用于支付实物商品订单')
    if (order.status !== 'PENDING_PAYMENT') throw new AppError(409, 'ORDER_NOT_PAYABLE', `订单状态为 ${order.status}，不能支付`)
    if (order.expireAt.getTime() <= Date.now()) throw new AppError(409, 'ORDER_NOT_PAYABLE', '订单已过期，请重新下单')
    const credits = creditsFor(order.amountFen, config.creditValueFen)
    const user = await users.findById(order.userId)
    if (!user || user.creditBalance < credits) {
      throw new AppError(409, 'INSUFFICIENT_CREDITS', `积分不足：需要 ${credits}，当前 ${user?.creditBalance ?? 0}`)
    }
    if (order.paymentId) {
      const r = await closeProviderTrade({ pay, orders, log: caller.log }, order, caller.requestId)
      if (r.kind === 'PAID') throw new AppError(409, 'ORDER_ALREADY_PAID', '订单已通过其他方式支付')
    }
    const r = await orders.payWithCredits(order.id, credits)
    if (r.outcome !== 'PAID') {
      throw r.outcome === 'INSUFFICIENT'
        ? new AppError(409, 'INSUFFICIENT_CREDITS', `积分不足：需要 ${credits}`)
        : new AppError(409, 'ORDER_NOT_PAYABLE', '订单当前不可支付')
    }
    caller.log.info({ orderNo: r.order.orderNo, credits }, 'order paid with credits')
    return {
      order: r.order,
      paymentInfo: {
        paymentMethod: CREDITS,
        channel: CREDITS_CHANNEL,
        payType: 'credits',
        amount: fenToYuanNumber(r.order.amountFen),
        currency: 'CNY',
        expireTime: r.order.expireAt.toISOString(),
        paid: true,
        creditsSpent: credits,
        balance: r.balanceAfter,
      },
    }
  }

  async function start(userId: number, ref: string, choice: PaymentChoice, how: HowToPay, caller: Caller): Promise<StartedPayment> {
    const order = await owned(userId, ref)
    const openid = how.openid ?? (await users.findById(userId))?.wechatOpenid ?? undefined
    requireOpenid(choice, openid)
    const paymentInfo = await payments.start(order, choice, {
      device: how.device,
      clientIp: caller.clientIp,
      openid,
      requestId: caller.requestId,
      interfaceType: how.interfaceType,
    })
    return { order, paymentInfo }
  }

  /**
   * An event from pay (payment or refund), applied once by event id: the id is recorded in the same
   * transaction as the effect, and a redelivery answers DUPLICATE. An event that cannot be applied
   * (unknown order or refund, amounts that differ) is a 404/409 and is not recorded: pay delivers it again.
   */
  async function applyEvent(e: PaymentEvent, caller: Caller): Promise<string> {
    if (e.type === 'REFUND_SUCCEEDED') {
      const outcome = await refunds.applyEvent(e)
      if (outcome === 'NOT_FOUND') throw new AppError(404, 'REFUND_NOT_FOUND', `退款不存在: ${e.refundNo}`)
      if (outcome === 'MISMATCH') throw new AppError(409, 'AMOUNT_MISMATCH', '退款事件与退款记录不一致')
      return outcome
    }
    return paidOutcome(e, await payments.applyEvent(e), caller)
  }

  /** Payment events in one transaction; undefined when they cannot be (one seen before, a failure: logged). */
  async function applyTogether(es: PaymentSucceededEvent[], caller: Caller): Promise<PaidOutcome[] | undefined> {
    try {
      return await payments.applyEventsTogether(es)
    } catch (err) {
      caller.log.warn({ events: es.length, err: { message: (err as Error).message } }, 'events not applied together; in smaller turns')
      return undefined
    }
  }

  return {
    lookup,
    owned,
    payWithCredits,

    /** Seed 001 create (and seed 004 goods with delivery): priced here, never from the client; no payment yet. */
    async createOrder(
      userId: number,
      b: { productId?: number; packageCode?: string; remark?: string | null } & Omit<OrderInput, 'deliveryAddress'> & {
          deliveryAddress?: string | null
          /** What the client said about itself (seed 002 keeps its payment_type here). */
          clientInfo?: unknown
        },
    ): Promise<OrderRow> {
      const product = await activeProduct(b)
      const priced = await price(product, b)
      const user = await existingUser(userId)
      return orders.create({
        orderNo: newOrderNo(),
        userId: user.id,
        productId: product.id,
        kind: product.kind,
        packageCode: product.packageCode,
        productName: priced.productName,
        credits: priced.credits,
        quantity: priced.quantity,
        amountFen: priced.amountFen,
        unitPriceFen: priced.unitPriceFen,
        expireAt: expireAt(),
        customerEmail: user.email,
        customerName: user.name,
        paymentMethod: null,
        clientInfo: b.clientInfo,
        delivery: priced.delivery,
        remark: b.remark?.trim() || null,
      })
    },

    /**
     * Seed 000 purchase: a credits package bought and its payment started in one call, by a user or a
     * guest (by customerEmail). Everything is validated before the order is written.
     */
    async purchase(
      userId: number | undefined,
      b: HowToPay & {
        packageCode: string
        customCredits?: number | null
        customerEmail?: string
        customerName?: string
        clientInfo?: unknown
      },
      caller: Caller,
    ) {
      if (b.method.toUpperCase() === CREDITS) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', '积分套餐不能用积分购买')
      const pkg = await activeProduct({ packageCode: b.packageCode })
      const priced = await price(pkg, { customCredits: b.customCredits })
      const guestEmail = b.customerEmail?.trim()
      if (userId === undefined) {
        if (!guestEmail) throw new AppError(400, 'INVALID_PARAMS', '未登录时 customerEmail 为必填')
        if (!EMAIL_RE.test(guestEmail)) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
      }
      // Last check before anything is written: is the method enabled in pay, and does its channel have what it needs?
      const choice = await payments.choose(b.method, b.channel, b.device, caller.requestId)
      let user: UserRow
      if (userId !== undefined) {
        user = await existingUser(userId)
        requireOpenid(choice, b.openid ?? user.wechatOpenid)
      } else {
        requireOpenid(choice, b.openid)
        user = await users.findOrCreateGuest(guestEmail!, b.customerName?.trim() ?? '')
      }
      const order = await orders.create({
        orderNo: newOrderNo(),
        userId: user.id,
        productId: pkg.id,
        kind: 'credits',
        packageCode: pkg.packageCode,
        productName: priced.productName,
        credits: priced.credits,
        quantity: 1,
        amountFen: priced.amountFen,
        expireAt: expireAt(),
        customerEmail: user.email,
        customerName: b.customerName?.trim() || user.name,
        paymentMethod: choice.method,
        clientInfo: b.clientInfo,
      })
      const paymentInfo = await payments.start(order, choice, {
        device: b.device,
        clientIp: caller.clientIp,
        openid: b.openid ?? user.wechatOpenid ?? undefined,
        requestId: caller.requestId,
      })
      return { order, package: pkg, credits: priced.credits, paymentInfo }
    },

    /**
     * Starts (or restarts) the payment of `userId`'s order `ref`: through pay, or from the credit balance
     * (CREDITS, goods only). Method and channel are checked against pay before the order is even read.
     */
    async pay(
      userId: number,
      ref: string,
      how: HowToPay,
      caller: Caller,
    ): Promise<({ credits: false } & StartedPayment) | ({ credits: true } & PaidWithCredits)> {
      const choice = await payments.choose(how.method, how.channel, how.device, caller.requestId)
      if (choice.method === CREDITS) return { credits: true, ...(await payWithCredits(await owned(userId, ref), caller)) }
      return { credits: false, ...(await start(userId, ref, choice, how, caller)) }
    },

    /** Seed 003: a provider payment on a fixed method and channel (never CREDITS). */
    async payThrough(userId: number, ref: string, how: HowToPay & { channel: string }, caller: Caller): Promise<StartedPayment> {
      const choice = await payments.choose(how.method, how.channel, how.device, caller.requestId)
      return start(userId, ref, choice, how, caller)
    },

    /** Seed 000 §4.2: `email`'s order history, for that user or an admin (an unknown email has none). */
    async history(userId: number, email: string, status: OrderStatus | undefined, page: { limit: number; offset: number }) {
      email = normaliseEmail(email)
      if (!EMAIL_RE.test(email)) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
      const me = await existingUser(userId)
      if (me.email !== email && me.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '只能查询自己的订单历史')
      const owner = me.email === email ? me : await users.findByEmail(email)
      return owner ? orders.search({ userId: owner.id, status }, page) : { rows: [], total: 0 }
    },

    /** Seed 000 status: public by the unguessable orderNo; by numeric id only for its owner (or an admin). */
    async statusOf(ref: string, userId: number | undefined): Promise<OrderRow> {
      if (/^\d+$/.test(ref)) {
        if (userId === undefined) throw new AppError(401, 'UNAUTHORIZED', '按数字ID查询需要登录')
        return owned(userId, ref)
      }
      const order = await lookup(ref)
      if (!order) throw notFound()
      return order
    },

    /** Seed 004 cancel: the provider trade is closed first; if the buyer has paid meanwhile, the order becomes PAID instead. */
    async cancel(userId: number, ref: string, caller: Caller): Promise<OrderRow> {
      const order = await owned(userId, ref)
      if (order.status !== 'PENDING_PAYMENT') {
        if (paymentStatusOf(order.status) === 'PAID') throw new AppError(409, 'ORDER_ALREADY_PAID', '订单已支付，不能取消')
        throw new AppError(409, 'ORDER_NOT_CANCELLABLE', `订单状态为 ${order.status}，不能取消`)
      }
      let closeLater = false
      if (order.paymentId || order.paymentMethod) {
        try {
          const r = await closeProviderTrade({ pay, orders, log: caller.log }, order, caller.requestId)
          if (r.kind === 'PAID') throw new AppError(409, 'ORDER_ALREADY_PAID', '订单已支付，不能取消')
        } catch (err) {
          // Pay down and no payment was recorded as started: cancel now, and let the sweep close
          // whatever pay may hold once it is back (a start whose answer was lost).
          const unreachable = err instanceof AppError && (err.status === 502 || err.status === 503)
          if (!(unreachable && !order.paymentId)) throw err
          closeLater = true
        }
      }
      const cancelled = await orders.cancel(order.id, closeLater)
      if (!cancelled) {
        const now = (await orders.findById(order.id))!
        if (paymentStatusOf(now.status) === 'PAID') throw new AppError(409, 'ORDER_ALREADY_PAID', '订单已支付，不能取消')
        throw new AppError(409, 'ORDER_NOT_CANCELLABLE', `订单状态为 ${now.status}，不能取消`)
      }
      return cancelled
    },

    applyEvent,

    /**
     * Payment events of one delivery, each answered as `applyEvent` answers it (an outcome, or the error it throws).
     * All are applied together, in one transaction (payments.applyEventsTogether). When they cannot be (one event
     * seen before, a failure), each buyer's events are tried together, and a buyer's that cannot be either are
     * applied one transaction per event, so each is still answered alone.
     */
    async applyPaymentEvents(es: PaymentSucceededEvent[], caller: Caller): Promise<(string | Error)[]> {
      if (es.length > 1) {
        const together = await applyTogether(es, caller)
        if (together) return Promise.all(es.map((e, k) => settle(() => paidOutcome(e, together[k]!, caller))))
      }
      const buyers = es.length > 1 ? await orders.buyersOf(es.map((e) => e.orderNo)) : new Map<string, number>()
      const groups = new Map<number | string, number[]>()
      es.forEach((e, k) => {
        const key = buyers.get(e.orderNo) ?? `alone ${k}`
        const group = groups.get(key)
        if (group) group.push(k)
        else groups.set(key, [k])
      })
      const results = new Array<string | Error>(es.length)
      const oneByOne = async (ks: number[]) => {
        for (const k of ks) results[k] = await settle(() => applyEvent(es[k]!, caller))
      }
      const work = [...groups.values()].map((ks) => async () => {
        if (ks.length === 1 || ks.length === es.length) return oneByOne(ks) // all together was tried above
        const together = await applyTogether(
          ks.map((k) => es[k]!),
          caller,
        )
        if (!together) return oneByOne(ks)
        for (const [i, k] of ks.entries()) results[k] = await settle(() => paidOutcome(es[k]!, together[i]!, caller))
      })
      let next = 0
      await Promise.all(
        Array.from({ length: Math.min(EVENT_GROUPS_AT_ONCE, work.length) }, async () => {
          while (next < work.length) await work[next++]!()
        }),
      )
      return results
    },
  }
}
export type CheckoutService = ReturnType<typeof createCheckout>
