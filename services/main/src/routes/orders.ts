import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject, PageSchema, PaymentEvent } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { FastifyRequest } from 'fastify'
import type { App } from '../app.ts'
import { currentUser } from '../auth.ts'
import type { ProductRow } from '../catalog.ts'
import { newOrderNo, ORDER_NO_RE } from '../orders/order-no.ts'
import { creditsFor, priceOrder } from '../orders/pricing.ts'
import { ORDER_STATUSES, type OrderRow } from '../orders/repo.ts'
import { closeProviderTrade } from '../orders/trades.ts'
import { normaliseMethod, requireOpenidFor, resolveChannel } from '../payments.ts'
import { paymentStatusOf, presentHistoryRow, presentOrder, presentOrderStatus } from '../present.ts'
import { verifyServiceCall } from '../service-calls.ts'
import { EMAIL_RE, normaliseEmail } from '../users.ts'
import { ProductIdField } from './catalog.ts'
import { Paging, pageOf, paging } from './common.ts'
import {
  HistoryRowSchema,
  OPTIONAL_USER,
  OrderProperties,
  OrderSchema,
  OrderStatusSchema,
  PaymentInfoSchema,
  PaymentSyncSchema,
  SERVICE,
  USER,
} from './schemas.ts'

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
const PayBody = Type.Object({
  method: Type.String({ minLength: 1, maxLength: 32 }),
  channel: Type.Optional(Type.String({ maxLength: 16 })),
  device: Type.Optional(Type.String({ maxLength: 16 })),
  openid: Type.Optional(Type.String({ maxLength: 128 })),
})
const OptionalText = (maxLength: number) => Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength })]))
const CreateOrderBody = Type.Object(
  {
    productId: Type.Optional(ProductIdField),
    packageCode: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
    customCredits: Type.Optional(Type.Union([Type.Null(), Type.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000 })])),
    quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 99 })),
    deliveryMethod: OptionalText(32),
    deliveryAddress: OptionalText(256),
    /** Seed 004's name for the address. */
    address: OptionalText(256),
    contactName: OptionalText(64),
    contactPhone: Type.Optional(Type.Union([Type.Null(), Type.String({ pattern: '^[0-9+() -]{5,20}$' })])),
    remark: OptionalText(256),
  },
  { additionalProperties: false },
) // an `amount` from the client is refused, not ignored: the server prices orders
export const OrderStatusQuery = Type.Union(ORDER_STATUSES.map((s) => Type.Literal(s)))

// OpenAPI (/docs) and response serialisation: see schemas.ts.
const orderDetailSchema = {
  tags: ['orders'],
  summary: 'My order (seed 003): local state only, by numeric id or orderNo',
  security: USER,
  params: IdParams,
  response: { 200: OkEnvelope(OrderSchema), ...errorResponses(400, 401, 403, 404) },
}
const createOrderSchema = {
  tags: ['orders'],
  summary: 'Create an order from productId or packageCode (seed 001; goods with delivery, seed 004); priced here',
  security: USER,
  body: CreateOrderBody,
  response: {
    200: OkEnvelope(
      OpenObject({ ...OrderProperties, orderId: Type.Integer({ description: 'the numeric id (seed 001)' }) }),
      '订单创建成功',
    ),
    ...errorResponses(400, 401, 404, 409, 422, 429),
  },
}
const cancelSchema = {
  tags: ['orders'],
  summary: 'Cancel a pending order (seed 004): the provider trade is closed first',
  security: USER,
  params: IdParams,
  response: { 200: OkEnvelope(OrderSchema, '订单已取消'), ...errorResponses(400, 401, 403, 404, 409, 502, 503) },
}
const paySchema = {
  tags: ['orders'],
  summary: 'Start or restart the payment: {method, channel?, device?, openid?} → paymentInfo; CREDITS pays goods from the balance',
  security: USER,
  params: IdParams,
  body: PayBody,
  response: {
    200: OkEnvelope(
      OpenObject({
        orderId: Type.Integer(),
        orderNo: Type.String(),
        paymentInfo: PaymentInfoSchema,
        order: Type.Optional(OpenObject(OrderProperties, { description: 'CREDITS: the paid order' })),
      }),
      '创建支付成功',
    ),
    ...errorResponses(400, 401, 403, 404, 409, 422, 502, 503),
  },
}
const alipaySchema = {
  tags: ['orders'],
  summary: 'Seed 003: an Alipay page payment as {paymentId, formHtml} (a form named punchout_form)',
  security: USER,
  params: IdParams,
  response: {
    200: OkEnvelope(OpenObject({ paymentId: Type.String(), formHtml: Type.String({ description: 'HTML form, auto-submitting' }) })),
    ...errorResponses(400, 401, 403, 404, 409, 422, 502, 503),
  },
}
const paymentStatusSchema = {
  tags: ['orders'],
  summary: 'Payment status; while pending, asks pay (which asks the provider); local state if pay is down',
  security: USER,
  params: IdParams,
  response: { 200: OkEnvelope(PaymentSyncSchema), ...errorResponses(400, 401, 403, 404) },
}
const orderStatusSchema = {
  tags: ['credits'],
  summary: 'Seed 000 order status: public by the unguessable orderNo, by numeric id for its owner',
  security: OPTIONAL_USER,
  params: Type.Object({ orderId: Type.String({ minLength: 1, maxLength: 64 }) }),
  response: { 200: OkEnvelope(OrderStatusSchema), ...errorResponses(400, 401, 403, 404) },
}
const callbackSchema = {
  tags: ['service'],
  summary: 'Payment and refund events from pay (signed); idempotent by eventId',
  security: SERVICE,
  body: PaymentEvent,
  response: {
    200: OkEnvelope(
      OpenObject({ eventId: Type.String(), outcome: Type.String({ description: 'what the event did (DUPLICATE: seen before)' }) }),
    ),
    ...errorResponses(400, 401, 404, 409),
  },
}

export async function ordersRoutes(app: App) {
  const { orders, payments, sql, catalog, users, pay, config } = app.deps

  /** An order by numeric id or orderNo. */
  async function lookup(ref: string): Promise<OrderRow | undefined> {
    if (/^\d{1,15}$/.test(ref)) return orders.findById(Number(ref))
    if (ORDER_NO_RE.test(ref)) return orders.findByOrderNo(ref)
    throw new AppError(400, 'INVALID_PARAMS', `无效的订单号: ${ref.slice(0, 64)}`)
  }

  /**
   * The order, if the caller owns it (or is an admin). The admin role is read from the database, not
   * the token's claim: a demoted admin's unexpired token must not keep reading other users' orders.
   */
  async function owned(req: FastifyRequest, ref: string): Promise<OrderRow> {
    const order = await lookup(ref)
    if (!order) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    if (order.userId === req.user.id) return order
    const me = await users.findById(req.user.id)
    if (me?.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '无权访问该订单')
    return order
  }

  app.get('/api/orders/:id', { preHandler: app.requireUser, schema: orderDetailSchema }, async (req) => {
    return ok(presentOrder(await owned(req, req.params.id)))
  })

  // Seed 001 create (and seed 004 goods with delivery). The amount is computed here, never taken from the client.
  for (const url of ['/api/orders', '/api/orders/create']) {
    app.post(url, { preHandler: [app.requireUser, app.idempotent], schema: createOrderSchema }, async (req) => {
      const b = req.body
      if ((b.productId === undefined) === (b.packageCode === undefined)) {
        throw new AppError(400, 'INVALID_PARAMS', '需要 productId 或 packageCode（二选一）')
      }
      let product: ProductRow | undefined
      if (b.productId !== undefined) {
        product = await catalog.findProduct(b.productId)
        if (!product || !product.isActive) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${b.productId}`)
      } else {
        product = await catalog.findPackage(b.packageCode!)
        if (!product || !product.isActive) throw new AppError(404, 'PACKAGE_NOT_FOUND', `套餐不存在: ${b.packageCode}`)
      }
      const methods = product.kind === 'goods' ? await catalog.listDeliveryMethods() : []
      const priced = priceOrder(
        product,
        {
          customCredits: b.customCredits,
          quantity: b.quantity,
          deliveryMethod: b.deliveryMethod,
          deliveryAddress: b.deliveryAddress ?? b.address,
          contactName: b.contactName,
          contactPhone: b.contactPhone,
        },
        methods,
      )
      const user = await users.findById(req.user.id)
      if (!user) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
      const order = await orders.create({
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
        expireAt: new Date(Date.now() + config.orderExpireMinutes * 60_000),
        customerEmail: user.email,
        customerName: user.name,
        paymentMethod: null,
        clientInfo: undefined,
        delivery: priced.delivery,
        remark: b.remark?.trim() || null,
      })
      // Seed 001's answer had order_id (numeric) and order_no.
      return ok({ ...presentOrder(order), orderId: order.id }, '订单创建成功')
    })
  }

  // Own orders, newest first.
  for (const url of ['/api/orders', '/api/orders/']) {
    app.get(
      url,
      {
        preHandler: app.requireUser,
        schema: {
          tags: ['orders'],
          summary: 'My orders, newest first',
          security: USER,
          querystring: Type.Object({ ...Paging.properties, status: Type.Optional(OrderStatusQuery) }),
          response: { 200: OkEnvelope(PageSchema(OrderSchema), '获取订单列表成功'), ...errorResponses(400, 401) },
        },
      },
      async (req) => {
        const p = paging(req.query)
        const { rows, total } = await orders.search({ userId: req.user.id, status: req.query.status }, p)
        return ok(pageOf(rows.map(presentOrder), total, p), '获取订单列表成功')
      },
    )
  }

  // Seed 000 §4.2: that user's history, for that user or an admin.
  app.get(
    '/api/payment-orders/user/:email',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['credits'],
        summary: "Seed 000 §4.2: a user's order history (that user or an admin)",
        security: USER,
        response: { 200: OkEnvelope(PageSchema(HistoryRowSchema), '查询订单历史成功'), ...errorResponses(400, 401, 403) },
        params: Type.Object({ email: Type.String({ minLength: 3, maxLength: 254 }) }),
        querystring: Type.Object({ ...Paging.properties, status: Type.Optional(OrderStatusQuery) }),
      },
    },
    async (req) => {
      const email = normaliseEmail(req.params.email)
      if (!EMAIL_RE.test(email)) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
      const me = await users.findById(req.user.id)
      if (!me) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
      if (me.email !== email && me.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '只能查询自己的订单历史')
      const owner = me.email === email ? me : await users.findByEmail(email)
      const p = paging(req.query)
      const { rows, total } = owner ? await orders.search({ userId: owner.id, status: req.query.status }, p) : { rows: [], total: 0 }
      return ok(pageOf(rows.map(presentHistoryRow), total, p), '查询订单历史成功')
    },
  )

  // Seed 004 cancel: the provider trade is closed first; if the buyer has paid meanwhile, the order becomes PAID instead.
  app.post('/api/orders/:id/cancel', { preHandler: app.requireUser, schema: cancelSchema }, async (req) => {
    const order = await owned(req, req.params.id)
    if (order.status !== 'PENDING_PAYMENT') {
      if (paymentStatusOf(order.status) === 'PAID') throw new AppError(409, 'ORDER_ALREADY_PAID', '订单已支付，不能取消')
      throw new AppError(409, 'ORDER_NOT_CANCELLABLE', `订单状态为 ${order.status}，不能取消`)
    }
    let closeLater = false
    if (order.paymentId || order.paymentMethod) {
      try {
        const r = await closeProviderTrade({ pay, orders, log: req.log }, order, req.id)
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
    return ok(presentOrder(cancelled), '订单已取消')
  })

  for (const url of ['/api/orders/:id/pay', '/api/orders/pay/:id']) {
    app.post(url, { preHandler: [app.requireUser, app.idempotent], schema: paySchema }, async (req) => {
      const method = normaliseMethod(req.body.method)
      if (method === 'CREDITS') return payWithCredits(req, req.params.id, req.body.channel)
      const channel = resolveChannel(method, req.body.channel, req.body.device)
      await payments.ensureEnabled(method, channel, req.id)
      const order = await owned(req, req.params.id)
      const openid = req.body.openid ?? (await app.deps.users.findById(req.user.id))?.wechatOpenid ?? undefined
      requireOpenidFor(channel, openid)
      const paymentInfo = await payments.start(order, method, channel, {
        device: req.body.device,
        clientIp: req.ip,
        openid,
        requestId: req.id,
      })
      return ok({ orderId: order.id, orderNo: order.orderNo, paymentInfo }, '创建支付成功')
    })
  }

  /**
   * A goods order paid from the credit balance: any provider trade started for it is closed first
   * (it must not be payable twice), then PAID and the CONSUME row in one transaction.
   */
  async function payWithCredits(req: FastifyRequest, ref: string, channel: string | undefined) {
    if (channel !== undefined && channel !== 'balance')
      throw new AppError(400, 'INVALID_PARAMS', `无效的支付渠道: ${channel}（CREDITS 支持 balance）`)
    let order = await owned(req, ref)
    if (order.kind !== 'goods') throw new AppError(422, 'PAYMENT_METHOD_DISABLED', '积分只能用于支付实物商品订单')
    if (order.status !== 'PENDING_PAYMENT') throw new AppError(409, 'ORDER_NOT_PAYABLE', `订单状态为 ${order.status}，不能支付`)
    if (order.expireAt.getTime() <= Date.now()) throw new AppError(409, 'ORDER_NOT_PAYABLE', '订单已过期，请重新下单')
    const credits = creditsFor(order.amountFen, config.creditValueFen)
    const user = await users.findById(order.userId)
    if (!user || user.creditBalance < credits) {
      throw new AppError(409, 'INSUFFICIENT_CREDITS', `积分不足：需要 ${credits}，当前 ${user?.creditBalance ?? 0}`)
    }
    if (order.paymentId) {
      const r = await closeProviderTrade({ pay, orders, log: req.log }, order, req.id)
      if (r.kind === 'PAID') throw new AppError(409, 'ORDER_ALREADY_PAID', '订单已通过其他方式支付')
      order = (await orders.findById(order.id))!
    }
    const r = await orders.payWithCredits(order.id, credits)
    if (r.outcome !== 'PAID') {
      throw r.outcome === 'INSUFFICIENT'
        ? new AppError(409, 'INSUFFICIENT_CREDITS', `积分不足：需要 ${credits}`)
        : new AppError(409, 'ORDER_NOT_PAYABLE', '订单当前不可支付')
    }
    req.log.info({ orderNo: r.order.orderNo, credits }, 'order paid with credits')
    return ok(
      {
        orderId: r.order.id,
        orderNo: r.order.orderNo,
        paymentInfo: {
          paymentMethod: 'CREDITS',
          channel: 'balance',
          payType: 'credits',
          amount: fenToYuanNumber(r.order.amountFen),
          currency: 'CNY',
          expireTime: r.order.expireAt.toISOString(),
          paid: true,
          creditsSpent: credits,
          balance: r.balanceAfter,
        },
        order: presentOrder(r.order),
      },
      '积分支付成功',
    )
  }

  // Seed 003: {paymentId, formHtml} with a form named punchout_form.
  app.post('/api/orders/:id/alipay', { preHandler: [app.requireUser, app.idempotent], schema: alipaySchema }, async (req) => {
    const order = await owned(req, req.params.id)
    const info = await payments.start(order, 'ALIPAY', 'page', { clientIp: req.ip, requestId: req.id })
    return ok({ paymentId: info.paymentId, formHtml: info.formHtml ?? '' })
  })

  for (const url of ['/api/orders/:id/payment-status', '/api/orders/payment-status/:id']) {
    app.get(url, { preHandler: app.requireUser, schema: paymentStatusSchema }, async (req) => {
      const order = await payments.sync(await owned(req, req.params.id), req.id)
      return ok({
        id: order.id,
        orderNo: order.orderNo,
        status: paymentStatusOf(order.status),
        orderStatus: order.status,
        paidAt: order.paidAt ? order.paidAt.toISOString() : null,
        paid: paymentStatusOf(order.status) === 'PAID',
        creditsGranted: order.creditsGranted,
      })
    })
  }

  // Seed 000: public by the unguessable orderNo; by numeric id only for its owner.
  app.get('/api/payment-orders/:orderId/status', { preHandler: app.optionalUser, schema: orderStatusSchema }, async (req) => {
    const ref = req.params.orderId
    let order: OrderRow | undefined
    if (/^\d+$/.test(ref)) {
      const user = currentUser(req)
      if (!user) throw new AppError(401, 'UNAUTHORIZED', '按数字ID查询需要登录')
      order = await owned(req, ref)
    } else {
      order = await lookup(ref)
      if (!order) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    }
    return ok(presentOrderStatus(await payments.sync(order, req.id)), '查询订单状态成功')
  })

  // Events from pay, signed with the service key; idempotent by eventId.
  app.post('/api/orders/callback', { schema: callbackSchema }, async (req, reply) => {
    await verifyServiceCall(app, req)
    const e = req.body
    const seen = await sql`select outcome from processed_events where event_id = ${e.eventId}`
    if (seen.length) return ok({ eventId: e.eventId, outcome: 'DUPLICATE' })
    if (e.type === 'REFUND_SUCCEEDED') {
      const outcome = await app.deps.refunds.applyEvent(e)
      if (outcome === 'NOT_FOUND') throw new AppError(404, 'REFUND_NOT_FOUND', `退款不存在: ${e.refundNo}`)
      if (outcome === 'MISMATCH') throw new AppError(409, 'AMOUNT_MISMATCH', '退款事件与退款记录不一致')
      await sql`insert into processed_events (event_id, order_no, type, outcome) values (${e.eventId}, ${e.orderNo}, ${e.type}, ${outcome})
        on conflict do nothing`
      return ok({ eventId: e.eventId, outcome })
    }
    const r = await payments.applyEvent(e)
    if (r.outcome === 'NOT_FOUND') throw new AppError(404, 'ORDER_NOT_FOUND', `订单不存在: ${e.orderNo}`)
    if (r.outcome === 'AMOUNT_MISMATCH') throw new AppError(409, 'AMOUNT_MISMATCH', '支付金额与订单金额不一致')
    if (r.order.id !== e.orderId)
      req.log.warn({ orderNo: e.orderNo, eventOrderId: e.orderId }, 'event orderId differs from the order; orderNo wins')
    await sql`insert into processed_events (event_id, order_no, type, outcome) values (${e.eventId}, ${e.orderNo}, ${e.type}, ${r.outcome})
      on conflict do nothing`
    reply.status(200)
    return ok({ eventId: e.eventId, outcome: r.outcome })
  })
}
