/**
 * Document 004 (`/api/v1/payment/*`, `{data}` / `{error}`), as a thin dialect: every route validates the
 * document's request, calls main's services (checkout, payments, orders, catalogue) and writes the
 * document's answer. See ../README.md. Registered with the prefix `/api/v1/payment`.
 */
import QRCode from 'qrcode'
import type { FastifyError } from 'fastify'
import { Type, type TSchema } from 'typebox'
import { AppError, Nullable, OpenObject, StringEnum } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import { deliveryOptions } from '../../catalog.ts'
import type { MainApp } from '../../deps.ts'
import { deliveryFee } from '../../orders/pricing.ts'
import type { OrderRow } from '../../orders/repo.ts'
import type { PaymentInfo } from '../../payments.ts'
import { paymentStatusOf } from '../../present.ts'
import { ProductIdField } from '../../routes/catalog.ts'
import { SERVICE, USER } from '../../routes/schemas.ts'
import { verifyServiceCall } from '../../service-calls.ts'
import {
  coreMethod,
  historyRow,
  liveLinks,
  methodWord,
  qrSignature,
  qrSignatureValid,
  statusWord,
  unixSeconds,
  V1_METHODS,
  WALLET,
} from './vocabulary.ts'

const V1Error = Type.Object({ error: Type.String({ description: 'what went wrong (Chinese)' }) })
const ERROR_TEXT: Record<number, string> = {
  400: '请求参数错误',
  401: '未认证或认证过期 (bearer token; the callback: a service signature)',
  403: '无权限访问该资源',
  404: '请求的资源不存在',
  409: '订单当前状态不允许此操作',
  422: '请求格式正确但语义错误',
  502: '支付服务出错',
  503: '支付服务暂时不可用',
}
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { ...V1Error, description: ERROR_TEXT[c] }]))
const Data = <T extends TSchema>(data: T, description = 'success') => Type.Object({ data }, { description })
const Message = Data(OpenObject({ message: Type.String() }))

const OrderRef = Type.String({ minLength: 1, maxLength: 64, description: 'the order number (orderNo) of an order made with the order API' })
const OrderParams = Type.Object({ order_id: OrderRef })
const Yuan = Type.Number({ description: 'yuan' })
const tags = ['seed 004 /api/v1/payment']

const CreateBody = Type.Object(
  {
    order_id: OrderRef,
    payment_method: StringEnum(V1_METHODS, { description: 'wallet: the credit balance (goods orders)' }),
    delivery_method: Type.Optional(
      Nullable(Type.String({ maxLength: 32, description: 'must be the order’s (delivery is priced when ordering)' })),
    ),
    delivery_address: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
  },
  { additionalProperties: false },
) // an `amount` from the client is refused, not ignored (as the order API does)
const StatusData = OpenObject({
  order_id: Type.String(),
  status: Type.String({ description: 'payment_pending, paid, cancelled, expired, failed, partially_refunded, refunded' }),
  payment_method: Nullable(Type.String()),
  payment_time: Nullable(Type.Integer({ description: 'Unix seconds' })),
  total_amount: Yuan,
  live: OpenObject(
    { stream_ticket_url: Type.String(), events_url: Type.String(), ws_url: Type.String() },
    { description: 'the live stream of the order: POST a stream ticket, then SSE events or a WebSocket (instead of polling)' },
  ),
})
const HistoryRow = OpenObject({
  order_id: Type.String(),
  price: Yuan,
  delivery_fee: Yuan,
  payment_method: Nullable(Type.String()),
  payment_time: Nullable(Type.Integer({ description: 'Unix seconds' })),
  status: Type.String(),
})
const Method = OpenObject({ id: Type.String(), name: Type.String(), icon: Type.String() })
const DeliveryMethod = OpenObject({ id: Type.String(), name: Type.String(), icon: Nullable(Type.String()), base_fee: Yuan })

/** The document's answer to a payment started through pay: a URL a browser can simply open. */
function browserUrl(info: PaymentInfo, order: OrderRow, qrPage: (code: string) => string): string {
  if (info.paymentUrl) return info.paymentUrl
  if (info.qrCode && /^https?:\/\//.test(info.qrCode)) return info.qrCode
  if (info.qrCode) return qrPage(info.qrCode)
  throw new AppError(502, 'PAY_SERVICE_UNAVAILABLE', `支付渠道 ${info.channel} 没有可在浏览器打开的支付地址（订单 ${order.orderNo}）`)
}

/** Delivery is priced when the order is made: here it can only be confirmed, never changed. */
function confirmDelivery(order: OrderRow, method: string | null | undefined, address: string | null | undefined) {
  if (method) {
    if (order.kind !== 'goods') throw new AppError(422, 'DELIVERY_METHOD_UNAVAILABLE', '积分商品无需配送')
    if (method !== order.deliveryMethod)
      throw new AppError(422, 'DELIVERY_METHOD_UNAVAILABLE', `配送方式与订单不一致：订单为 ${order.deliveryMethod}（配送方式在下单时确定）`)
  }
  const given = address?.trim()
  if (given && order.deliveryAddress !== null && given !== order.deliveryAddress)
    throw new AppError(422, 'UNPROCESSABLE', '收货地址与订单不一致（收货地址在下单时确定）')
}

const qrHtml = (orderNo: string, amount: string, svg: string) => `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>扫码支付</title></head>
<body><main><h1>扫码支付 ¥${amount}</h1><p>订单 ${orderNo}</p><div>${svg}</div><p>请使用手机扫描二维码完成支付，支付后返回原页面查看结果。</p></main></body></html>`

export const V1_PREFIX = '/api/v1/payment'

/** server-kit's `errorShapes` entry: a request under the prefix refused by the router gets `{error}` too. */
export const V1_ERROR_SHAPE = { prefix: V1_PREFIX, body: (_status: number, error: string) => ({ error }) }

export async function v1PaymentRoutes(app: MainApp) {
  const { checkout, payments, orders, catalog, config } = app.deps
  const caller = (req: { log: MainApp['log']; id: string; ip: string }) => ({ log: req.log, requestId: req.id, clientIp: req.ip })
  const qrPage = (orderNo: string) => (code: string) =>
    `${config.frontendUrl}/api/v1/payment/${orderNo}/qrcode?code=${encodeURIComponent(code)}&sig=${qrSignature(config.jwtSecret, orderNo, code)}`

  // The document's error shape for everything under the prefix; what is not a client's fault goes to the app's handler.
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) req.log.warn({ err: { message: err.message, code: err.error } }, 'request failed')
      return reply.status(err.status).send({ error: err.message })
    }
    if (err.validation) return reply.status(400).send({ error: `请求参数无效: ${err.message}` })
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500)
      return reply.status(status).send({ error: status === 413 ? '请求体过大' : `请求无效: ${err.message}` })
    throw err
  })
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: `未找到: ${req.method} ${req.url.split('?')[0]}` }))

  app.post(
    '/create',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: "Seed 004: pay an order made with the order API (the document's methods through pay; wallet from the balance)",
        security: USER,
        body: CreateBody,
        response: {
          201: Data(
            OpenObject({
              order_id: Type.String(),
              amount: Yuan,
              payment_method: Type.String(),
              payment_url: Type.String({ description: 'open it in a browser: the cashier, a QR page, or (wallet) the paid order page' }),
              status: Type.String(),
            }),
          ),
          ...errors(400, 401, 403, 404, 409, 422, 502, 503),
        },
      },
    },
    async (req, reply) => {
      const b = req.body
      const order = await checkout.owned(req.user.id, b.order_id)
      confirmDelivery(order, b.delivery_method, b.delivery_address)
      const r = await checkout.pay(req.user.id, order.orderNo, { method: coreMethod(b.payment_method) }, caller(req))
      const payment_url = r.credits
        ? `${config.frontendUrl}/order/${r.order.orderNo}`
        : browserUrl(r.paymentInfo, r.order, qrPage(r.order.orderNo))
      const status = r.credits ? r.order.status : order.status
      return reply.status(201).send({
        data: {
          order_id: r.order.orderNo,
          amount: fenToYuanNumber(r.order.amountFen),
          payment_method: b.payment_method,
          payment_url,
          status: statusWord(status),
        },
      })
    },
  )

  app.get(
    '/:order_id/status',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: "Seed 004: the order's payment status (asks pay while pending); `live` points at its SSE/WebSocket stream",
        security: USER,
        params: OrderParams,
        response: { 200: Data(StatusData), ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const order = await payments.sync(await checkout.owned(req.user.id, req.params.order_id), req.id)
      return {
        data: {
          order_id: order.orderNo,
          status: statusWord(order.status),
          payment_method: await methodWord(payments, order.paymentMethod, req.id),
          payment_time: unixSeconds(order.paidAt),
          total_amount: fenToYuanNumber(order.amountFen),
          live: liveLinks(order.orderNo),
        },
      }
    },
  )

  app.post(
    '/callback',
    {
      schema: {
        tags,
        summary:
          "Seed 004's payment callback, only signed with a service key (as pay's events); a success is confirmed with pay before it counts",
        security: SERVICE,
        body: Type.Object({
          order_id: OrderRef,
          payment_status: Type.String({ minLength: 1, maxLength: 32, description: 'success, or anything else (nothing changes)' }),
          transaction_id: Type.String({ maxLength: 128 }),
        }),
        response: { 200: Message, ...errors(400, 401, 404, 409) },
      },
    },
    async (req) => {
      await verifyServiceCall(app, req)
      const b = req.body
      const found = await checkout.lookup(b.order_id)
      if (!found) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
      if (b.payment_status !== 'success') return { data: { message: '已收到：支付未成功，订单状态不变' } }
      // The body names no amount and no provider: the payment is confirmed where it happened (pay asks the
      // provider) and recorded like every other payment (markPaid, credited once).
      const order = await payments.sync(found, req.id)
      if (paymentStatusOf(order.status) !== 'PAID') throw new AppError(409, 'ORDER_NOT_PAYABLE', '支付平台尚未确认该订单已支付')
      if (order.tradeNo && b.transaction_id && order.tradeNo !== b.transaction_id)
        req.log.warn({ orderNo: order.orderNo }, 'v1 callback: transaction_id differs from the provider trade number; the provider wins')
      return { data: { message: '支付成功' } }
    },
  )

  app.get(
    '/methods',
    {
      schema: {
        tags,
        summary: "Seed 004: the payment methods (the document's words) that are enabled",
        querystring: Type.Object({}),
        response: { 200: Data(Type.Array(Method)), ...errors(400, 502, 503) },
      },
    },
    async (req) => {
      const listed = await payments.listMethods(req.id)
      const data: { id: string; name: string; icon: string }[] = []
      for (const word of V1_METHODS) {
        if (word === WALLET) {
          data.push({ id: word, name: '钱包余额', icon: '/icons/wallet.svg' })
          continue
        }
        const choice = await payments.choose(word, undefined, undefined, req.id).catch(() => undefined)
        const m = choice && listed.find((l) => l.code === choice.method)
        if (m) data.push({ id: word, name: m.name, icon: m.icon })
      }
      return { data }
    },
  )

  async function activeProduct(id: number) {
    const p = await catalog.findProduct(id)
    if (!p || !p.isActive) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${id}`)
    return p
  }

  app.get(
    '/delivery_methods',
    {
      schema: {
        tags,
        summary: 'Seed 004: the delivery methods a product offers (every active one without product_id)',
        querystring: Type.Object({ product_id: Type.Optional(ProductIdField) }),
        response: { 200: Data(Type.Array(DeliveryMethod)), ...errors(400, 404) },
      },
    },
    async (req) => {
      const methods = await catalog.listDeliveryMethods()
      const list = req.query.product_id === undefined ? methods : deliveryOptions(await activeProduct(req.query.product_id), methods)
      return { data: list.map((m) => ({ id: m.code, name: m.name, icon: m.icon, base_fee: fenToYuanNumber(m.baseFeeFen) })) }
    },
  )

  app.post(
    '/calculate_delivery_fee',
    {
      schema: {
        tags,
        summary: 'Seed 004: the delivery fee of a product by a method (the pricing of the order API)',
        body: Type.Object({
          product_id: ProductIdField,
          delivery_method: Type.String({ pattern: '^[a-z_]{1,32}$' }),
          address: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
        }),
        response: { 200: Data(OpenObject({ delivery_fee: Yuan })), ...errors(400, 404, 422) },
      },
    },
    async (req) => {
      const b = req.body
      const fee = deliveryFee(await activeProduct(b.product_id), await catalog.listDeliveryMethods(), b.delivery_method, b.address)
      return { data: { delivery_fee: fenToYuanNumber(fee.feeFen) } }
    },
  )

  app.get(
    '/history',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: 'Seed 004: my orders, newest first, with pagination',
        security: USER,
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
        }),
        response: {
          200: Data(
            OpenObject({
              orders: Type.Array(HistoryRow),
              pagination: OpenObject({ total_count: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }),
            }),
          ),
          ...errors(400, 401),
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 10
      const offset = req.query.offset ?? 0
      const { rows, total } = await orders.search({ userId: req.user.id }, { limit, offset })
      const words = new Map<string | null, string | null>()
      for (const o of rows) if (!words.has(o.paymentMethod)) words.set(o.paymentMethod, await methodWord(payments, o.paymentMethod, req.id))
      return {
        data: {
          orders: rows.map((o) => historyRow(o, words.get(o.paymentMethod) ?? null)),
          pagination: { total_count: total, limit, offset },
        },
      }
    },
  )

  app.delete(
    '/:order_id',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: 'Seed 004: cancel the payment (the core cancel: the provider trade is closed first; a paid order is a 409)',
        security: USER,
        params: OrderParams,
        response: { 200: Message, ...errors(400, 401, 403, 404, 409, 502, 503) },
      },
    },
    async (req) => {
      await checkout.cancel(req.user.id, req.params.order_id, caller(req))
      return { data: { message: '支付已取消' } }
    },
  )

  app.get(
    '/:order_id/qrcode',
    {
      schema: {
        tags,
        summary: "The QR page of a create's payment_url when the QR code is only an app's (signed link from create; HTML)",
        params: OrderParams,
        querystring: Type.Object({
          code: Type.String({ minLength: 1, maxLength: 512 }),
          sig: Type.String({ minLength: 1, maxLength: 64 }),
        }),
        response: { 200: Type.String({ description: 'text/html' }), ...errors(400, 403, 404) },
      },
    },
    async (req, reply) => {
      const { code, sig } = req.query
      if (!qrSignatureValid(config.jwtSecret, req.params.order_id, code, sig)) throw new AppError(403, 'FORBIDDEN', '二维码链接无效')
      const order = await checkout.lookup(req.params.order_id)
      if (!order) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
      const svg = await QRCode.toString(code, { type: 'svg', margin: 1, width: 256 })
      reply.header('cache-control', 'no-store')
      return reply.type('text/html; charset=utf-8').send(qrHtml(order.orderNo, fenToYuanNumber(order.amountFen).toFixed(2), svg))
    },
  )
}
