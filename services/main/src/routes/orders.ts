import { Type } from 'typebox'
import { AppError, ok, PaymentEvent } from '@paysys/contracts'
import { verifyServiceRequest } from '@paysys/service-auth'
import type { FastifyRequest } from 'fastify'
import type { App } from '../app.ts'
import { currentUser } from '../auth.ts'
import { ORDER_NO_RE } from '../orders/order-no.ts'
import type { OrderRow } from '../orders/repo.ts'
import { normaliseMethod, resolveChannel } from '../payments.ts'
import { paymentStatusOf, presentOrder, presentOrderStatus } from '../present.ts'

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
const PayBody = Type.Object({
  method: Type.String({ minLength: 1, maxLength: 32 }),
  channel: Type.Optional(Type.String({ maxLength: 16 })),
  device: Type.Optional(Type.String({ maxLength: 16 })),
  openid: Type.Optional(Type.String({ maxLength: 128 })),
})

export async function ordersRoutes(app: App) {
  const { orders, payments, sql, config } = app.deps

  /** An order by numeric id or orderNo. */
  async function lookup(ref: string): Promise<OrderRow | undefined> {
    if (/^\d{1,15}$/.test(ref)) return orders.findById(Number(ref))
    if (ORDER_NO_RE.test(ref)) return orders.findByOrderNo(ref)
    throw new AppError(400, 'INVALID_PARAMS', `无效的订单号: ${ref.slice(0, 64)}`)
  }

  /** The order, if the caller owns it (or is an admin). */
  async function owned(req: FastifyRequest, ref: string): Promise<OrderRow> {
    const order = await lookup(ref)
    if (!order) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    const user = req.user
    if (order.userId !== user.id && user.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '无权访问该订单')
    return order
  }

  app.get('/api/orders/:id', { preHandler: app.requireUser, schema: { params: IdParams } }, async (req) => {
    return ok(presentOrder(await owned(req, req.params.id)))
  })

  for (const url of ['/api/orders/:id/pay', '/api/orders/pay/:id']) {
    app.post(url, { preHandler: app.requireUser, schema: { params: IdParams, body: PayBody } }, async (req) => {
      const method = normaliseMethod(req.body.method)
      const channel = resolveChannel(method, req.body.channel, req.body.device)
      await payments.ensureEnabled(method, channel, req.id)
      const order = await owned(req, req.params.id)
      const openid = req.body.openid ?? (await app.deps.users.findById(req.user.id))?.wechatOpenid ?? undefined
      const paymentInfo = await payments.start(order, method, channel, { device: req.body.device, clientIp: req.ip, openid, requestId: req.id })
      return ok({ orderId: order.id, orderNo: order.orderNo, paymentInfo }, '创建支付成功')
    })
  }

  // Seed 003: {paymentId, formHtml} with a form named punchout_form.
  app.post('/api/orders/:id/alipay', { preHandler: app.requireUser, schema: { params: IdParams } }, async (req) => {
    const order = await owned(req, req.params.id)
    const info = await payments.start(order, 'ALIPAY', 'page', { clientIp: req.ip, requestId: req.id })
    return ok({ paymentId: info.paymentId, formHtml: info.formHtml ?? '' })
  })

  for (const url of ['/api/orders/:id/payment-status', '/api/orders/payment-status/:id']) {
    app.get(url, { preHandler: app.requireUser, schema: { params: IdParams } }, async (req) => {
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
  app.get(
    '/api/payment-orders/:orderId/status',
    { preHandler: app.optionalUser, schema: { params: Type.Object({ orderId: Type.String({ minLength: 1, maxLength: 64 }) }) } },
    async (req) => {
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
    },
  )

  // Events from pay, signed with the service key; idempotent by eventId.
  app.post('/api/orders/callback', { schema: { body: PaymentEvent } }, async (req, reply) => {
    const auth = await verifyServiceRequest({
      headers: req.headers,
      method: req.method,
      path: req.url,
      body: req.rawBody ?? '',
      keys: config.serviceKeys,
      rememberNonce: async (keyId, nonce) =>
        (await sql`insert into service_nonces (key_id, nonce) values (${keyId}, ${nonce}) on conflict do nothing returning 1`).length === 1,
    })
    if (!auth.ok) throw new AppError(401, 'SERVICE_AUTH_FAILED', `服务签名校验失败: ${auth.reason}`)
    const e = req.body
    const seen = await sql`select outcome from processed_events where event_id = ${e.eventId}`
    if (seen.length) return ok({ eventId: e.eventId, outcome: 'DUPLICATE' })
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
