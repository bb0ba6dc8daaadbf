/** `/api/admin/orders*`: search, one order with its refunds, refunds, shipping. */
import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject, PageSchema } from '@paysys/contracts'
import { parseInstant } from '../../days.ts'
import type { MainApp } from '../../deps.ts'
import { ORDER_NO_RE } from '../../orders/order-no.ts'
import { DELIVERY_STATUSES, type OrderRow } from '../../orders/repo.ts'
import { advanceDelivery } from '../../orders/shipping.ts'
import { presentOrder } from '../../present.ts'
import { presentRefund } from '../../refunds.ts'
import { EMAIL_RE, normaliseEmail } from '../../users.ts'
import { Kind } from '../catalog.ts'
import { Paging, pageOf, paging, Yuan, yuanToFen } from '../common.ts'
import { OrderStatusQuery } from '../orders.ts'
import { OrderProperties, OrderSchema, RefundSchema } from '../schemas.ts'
import { ADMIN, IdParams, Text } from './common.ts'

const AdminOrderSchema = OpenObject({ ...OrderProperties, userId: Type.Integer() })
const adminOrderSchema = {
  ...ADMIN,
  summary: 'One order with its refunds',
  params: IdParams,
  response: {
    200: OkEnvelope(OpenObject({ ...OrderProperties, userId: Type.Integer(), refunds: Type.Array(RefundSchema) })),
    ...errorResponses(400, 401, 403, 404),
  },
}
const orderRefundsSchema = {
  ...ADMIN,
  summary: "An order's refunds",
  params: IdParams,
  response: { 200: OkEnvelope(Type.Array(RefundSchema)), ...errorResponses(400, 401, 403, 404) },
}

export async function adminOrderRoutes(app: MainApp) {
  const { orders, refunds } = app.deps

  async function orderById(id: string): Promise<OrderRow> {
    const o = await orders.findById(Number(id))
    if (!o) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    return o
  }

  app.get(
    '/api/admin/orders',
    {
      schema: {
        ...ADMIN,
        summary: 'Search orders (status, kind, user, email, orderNo, from/to: YYYY-MM-DD China time or ISO)',
        response: { 200: OkEnvelope(PageSchema(AdminOrderSchema)), ...errorResponses(400, 401, 403) },
        querystring: Type.Object({
          ...Paging.properties,
          status: Type.Optional(OrderStatusQuery),
          kind: Type.Optional(Kind),
          userId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
          email: Type.Optional(Type.String({ maxLength: 254 })),
          orderNo: Type.Optional(Type.String({ maxLength: 64 })),
          provider: Type.Optional(
            Type.String({
              pattern: '^[A-Z_]{2,32}$',
              description: "the provider that took the payment, or the buyer's method (pay's methods list)",
            }),
          ),
          from: Type.Optional(Type.String({ maxLength: 40 })),
          to: Type.Optional(Type.String({ maxLength: 40 })),
        }),
      },
    },
    async (req) => {
      const q = req.query
      if (q.orderNo !== undefined && !ORDER_NO_RE.test(q.orderNo)) throw new AppError(400, 'INVALID_PARAMS', `无效的订单号: ${q.orderNo}`)
      const email = q.email === undefined ? undefined : normaliseEmail(q.email)
      if (email !== undefined && !EMAIL_RE.test(email)) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
      const from = q.from === undefined ? undefined : parseInstant(q.from, 'from')
      const to = q.to === undefined ? undefined : parseInstant(q.to, 'to', true)
      if (from && to && from >= to) throw new AppError(400, 'INVALID_PARAMS', 'from 必须早于 to')
      const p = paging(q, 20)
      const { rows, total } = await orders.search(
        { status: q.status, kind: q.kind, userId: q.userId, email, orderNo: q.orderNo, paymentMethod: q.provider, from, to },
        p,
      )
      return ok(
        pageOf(
          rows.map((o) => ({ ...presentOrder(o), userId: o.userId })),
          total,
          p,
        ),
      )
    },
  )

  app.get('/api/admin/orders/:id', { schema: adminOrderSchema }, async (req) => {
    const o = await orderById(req.params.id)
    return ok({ ...presentOrder(o), userId: o.userId, refunds: (await refunds.listForOrder(o.id)).map(presentRefund) })
  })

  app.post(
    '/api/admin/orders/:id/refund',
    {
      preHandler: app.idempotent,
      schema: {
        ...ADMIN,
        summary: 'Refund an order, fully or partly (credits granted are clawed back; force: even if spent)',
        response: {
          200: OkEnvelope(OpenObject({ refund: RefundSchema, order: OrderSchema })),
          ...errorResponses(400, 401, 403, 404, 409, 502, 503),
        },
        params: IdParams,
        body: Type.Object(
          { amount: Type.Optional(Yuan), reason: Text(256, 1), force: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const amountFen = req.body.amount === undefined ? undefined : yuanToFen(req.body.amount, 'amount')
      const order = await orderById(req.params.id)
      const r = await refunds.refund(
        order,
        { amountFen, reason: req.body.reason.trim(), force: req.body.force ?? false, adminId: req.user.id },
        req.id,
      )
      req.log.info({ orderNo: order.orderNo, refundNo: r.refundNo, status: r.status, admin: req.user.id }, 'refund requested')
      const fresh = (await orders.findById(order.id))!
      const message = r.status === 'SUCCEEDED' ? '退款成功' : r.status === 'PENDING' ? '退款处理中，结果确认后自动更新' : '退款失败'
      return ok({ refund: presentRefund(r), order: presentOrder(fresh) }, message)
    },
  )

  app.get('/api/admin/orders/:id/refunds', { schema: orderRefundsSchema }, async (req) => {
    const o = await orderById(req.params.id)
    return ok((await refunds.listForOrder(o.id)).map(presentRefund))
  })

  // Shipping: PENDING → SHIPPED → DELIVERED, forward only, for paid goods orders.
  const ShippingBody = Type.Object(
    {
      deliveryStatus: Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s))),
      trackingNo: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{4,64}$' })),
    },
    { additionalProperties: false },
  )
  for (const [method, url] of [
    ['POST', '/api/admin/orders/:id/shipping'],
    ['PATCH', '/api/admin/orders/:id/shipping'],
  ] as const) {
    app.route({
      method,
      url,
      schema: {
        ...ADMIN,
        summary: 'Advance the delivery status of a paid goods order: PENDING → SHIPPED → DELIVERED',
        params: IdParams,
        body: ShippingBody,
        response: { 200: OkEnvelope(OrderSchema, '配送状态已更新'), ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
      handler: async (req) => {
        const order = await orderById(req.params.id)
        const by = { adminId: req.user.id, log: req.log }
        const updated = await advanceDelivery(orders, order, req.body.deliveryStatus, req.body.trackingNo ?? null, by)
        return ok(presentOrder(updated), '配送状态已更新')
      },
    })
  }
}
