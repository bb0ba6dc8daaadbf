import { Type } from 'typebox'
import { errorResponses, ok, OkEnvelope, OpenObject, PageSchema, PaymentEvent, PaymentEventBatch } from '@paysys/contracts'
import { applyEventBatch } from '../event-batch.ts'
import { currentUser } from '../auth.ts'
import type { MainApp } from '../deps.ts'
import { ORDER_STATUSES } from '../orders/repo.ts'
import { paymentStatusOf, presentHistoryRow, presentOrder, presentOrderStatus } from '../present.ts'
import { verifyServiceCall } from '../service-calls.ts'
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

const callbacksSchema = {
  tags: ['service'],
  summary: 'Events from pay in one signed call; each applied once by eventId and on its own (one failing does not hold back the rest)',
  security: SERVICE,
  body: PaymentEventBatch,
  response: {
    200: OkEnvelope(
      OpenObject({
        results: Type.Array(
          OpenObject({
            eventId: Type.String(),
            outcome: Type.Optional(Type.String({ description: 'applied (DUPLICATE: seen before); absent when the event failed' })),
            status: Type.Optional(Type.Integer({ description: 'the failed event’s HTTP-like status (400, 404, 409, 5xx)' })),
            error: Type.Optional(Type.String({ description: 'the failed event’s error code' })),
            message: Type.Optional(Type.String()),
          }),
          { description: 'one per event, in the order sent' },
        ),
      }),
    ),
    ...errorResponses(400, 401),
  },
}

export async function ordersRoutes(app: MainApp) {
  const { orders, payments, checkout } = app.deps
  const caller = (req: { log: MainApp['log']; id: string; ip: string }) => ({ log: req.log, requestId: req.id, clientIp: req.ip })

  app.get('/api/orders/:id', { preHandler: app.requireUser, schema: orderDetailSchema }, async (req) => {
    return ok(presentOrder(await checkout.owned(req.user.id, req.params.id)))
  })

  // Seed 001 create (and seed 004 goods with delivery). The amount is computed here, never taken from the client.
  for (const url of ['/api/orders', '/api/orders/create']) {
    app.post(url, { preHandler: [app.requireUser, app.idempotent], schema: createOrderSchema }, async (req) => {
      const b = req.body
      const order = await checkout.createOrder(req.user.id, { ...b, deliveryAddress: b.deliveryAddress ?? b.address })
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
      const p = paging(req.query)
      const { rows, total } = await checkout.history(req.user.id, req.params.email, req.query.status, p)
      return ok(pageOf(rows.map(presentHistoryRow), total, p), '查询订单历史成功')
    },
  )

  // Seed 004 cancel: the provider trade is closed first; if the buyer has paid meanwhile, the order becomes PAID instead.
  app.post('/api/orders/:id/cancel', { preHandler: app.requireUser, schema: cancelSchema }, async (req) => {
    return ok(presentOrder(await checkout.cancel(req.user.id, req.params.id, caller(req))), '订单已取消')
  })

  for (const url of ['/api/orders/:id/pay', '/api/orders/pay/:id']) {
    app.post(url, { preHandler: [app.requireUser, app.idempotent], schema: paySchema }, async (req) => {
      const r = await checkout.pay(req.user.id, req.params.id, req.body, caller(req))
      if (r.credits)
        return ok(
          { orderId: r.order.id, orderNo: r.order.orderNo, paymentInfo: r.paymentInfo, order: presentOrder(r.order) },
          '积分支付成功',
        )
      return ok({ orderId: r.order.id, orderNo: r.order.orderNo, paymentInfo: r.paymentInfo }, '创建支付成功')
    })
  }

  // Seed 003: {paymentId, formHtml} with a form named punchout_form — the seed's route names its provider and channel.
  app.post('/api/orders/:id/alipay', { preHandler: [app.requireUser, app.idempotent], schema: alipaySchema }, async (req) => {
    const r = await checkout.payThrough(req.user.id, req.params.id, { method: 'ALIPAY', channel: 'page' }, caller(req))
    return ok({ paymentId: r.paymentInfo.paymentId, formHtml: r.paymentInfo.formHtml ?? '' })
  })

  for (const url of ['/api/orders/:id/payment-status', '/api/orders/payment-status/:id']) {
    app.get(url, { preHandler: app.requireUser, schema: paymentStatusSchema }, async (req) => {
      const order = await payments.sync(await checkout.owned(req.user.id, req.params.id), req.id)
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
    const order = await checkout.statusOf(req.params.orderId, currentUser(req)?.id)
    return ok(presentOrderStatus(await payments.sync(order, req.id)), '查询订单状态成功')
  })

  // Events from pay, signed with the service key; idempotent by eventId.
  app.post('/api/orders/callback', { schema: callbackSchema }, async (req) => {
    await verifyServiceCall(app, req)
    return ok({ eventId: req.body.eventId, outcome: await checkout.applyEvent(req.body, caller(req)) })
  })

  // The same events in bulk (pay's outbox delivers a batch per call): answered per event id; pay marks
  // delivered only the events answered with an outcome.
  app.post('/api/orders/callbacks', { schema: callbacksSchema, bodyLimit: 1024 * 1024 }, async (req) => {
    await verifyServiceCall(app, req)
    const by = caller(req)
    return ok({
      results: await applyEventBatch(
        req.body.events,
        (e) => checkout.applyEvent(e, by),
        req.log,
        (es) => checkout.applyPaymentEvents(es, by),
      ),
    })
  })
}
