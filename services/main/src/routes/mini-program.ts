/**
 * Seed 001 (a mini program's API, bare JSON, FastAPI errors) under `/mp`: a mini program sets its
 * base URL to `https://<host>/mp` (its paths collide with seed 003's). Validate, call the dialect, present.
 * app.ts registers this plugin under MINI_PROGRAM_BASE (dialects/mini-program/seed-names.ts).
 */
import { Type } from 'typebox'
import { yuanToFen, NumericId, Yuan } from './common.ts'
import type { MainApp } from '../deps.ts'
import { verifyServiceCall } from '../service-calls.ts'
import { detailResponses, useDetailErrors } from '../dialects/mini-program/errors.ts'
import { MINI_PROGRAM_LOGIN_ROUTE } from '../dialects/mini-program/seed-names.ts'
import { miniOrderDetail, miniOrderRow, miniPaymentStatus, miniProduct } from '../dialects/mini-program/present.ts'
import { SERVICE, USER } from './schemas.ts'

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])
const Time = Type.String({ description: 'ISO 8601' })
const SkipLimit = Type.Object({
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
})
const ProductId = Type.Object({ product_id: NumericId })
const OrderId = Type.Object({ order_id: NumericId })

const Product = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  credits: Type.Integer(),
  price: Type.Number({ description: 'yuan' }),
  image_url: Nullable(Type.String()),
  is_active: Type.Boolean(),
  sort_order: Type.Integer(),
  created_at: Time,
  updated_at: Time,
})
const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('paid'),
  Type.Literal('completed'),
  Type.Literal('cancelled'),
  Type.Literal('refunded'),
])
const OrderFields = {
  id: Type.Integer(),
  order_no: Type.String(),
  amount: Type.Number({ description: 'yuan' }),
  credits: Type.Integer(),
  status: Status,
  payment_id: Nullable(Type.String({ description: "the provider's transaction number" })),
  payment_time: Nullable(Time),
  refund_time: Nullable(Time),
  remark: Nullable(Type.String()),
  created_at: Time,
  updated_at: Time,
}
const OrderRowSchema = Type.Object({ ...OrderFields, user_id: Type.Integer(), product_id: Type.Integer() })
const OrderDetailSchema = Type.Object({
  ...OrderFields,
  product_name: Type.String(),
  product_description: Nullable(Type.String()),
  product_image_url: Nullable(Type.String()),
})
const tags = ['seed 001 (mini program, /mp)']

/** Registered with `{ prefix: MINI_PROGRAM_BASE }`: every path below is under `/mp`, unknown ones answer 404 `{detail}`. */
export async function miniProgramRoutes(app: MainApp) {
  useDetailErrors(app)
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ detail: 'Not Found' }))
  const { miniProgram: mp } = app.deps
  const caller = (req: { log: MainApp['log']; id: string; ip: string }) => ({ log: req.log, requestId: req.id, clientIp: req.ip })
  const page = (q: { skip?: number; limit?: number }) => ({ offset: q.skip ?? 0, limit: q.limit ?? 20 })

  app.post(
    MINI_PROGRAM_LOGIN_ROUTE,
    {
      schema: {
        tags,
        summary:
          "Mini program login: the wx.login code is exchanged at jscode2session; the openid's user (created on first login) gets a token",
        body: Type.Object({ code: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }) }),
        response: {
          200: Type.Object({
            access_token: Type.String(),
            token: Type.String({ description: 'the same token' }),
            token_type: Type.Literal('bearer'),
            user_id: Type.Integer(),
            is_new_user: Type.Boolean(),
            credits: Type.Integer({ description: 'credit balance' }),
          }),
          ...detailResponses(400, 401, 429, 502, 503),
        },
      },
    },
    async (req) => {
      const { user, created } = await mp.login(req.body.code, caller(req))
      const token = app.signToken(user)
      return {
        access_token: token,
        token,
        token_type: 'bearer' as const,
        user_id: user.id,
        is_new_user: created,
        credits: user.creditBalance,
      }
    },
  )

  for (const url of ['/api/products', '/api/products/']) {
    app.get(
      url,
      {
        schema: {
          tags,
          summary: '§1.1 active credit products (bare array)',
          querystring: SkipLimit,
          response: { 200: Type.Array(Product), ...detailResponses(400) },
        },
      },
      async (req) => (await mp.listProducts(page(req.query))).map(miniProduct),
    )
  }

  app.get(
    '/api/products/:product_id',
    { schema: { tags, summary: '§1.2 one product', params: ProductId, response: { 200: Product, ...detailResponses(400, 404) } } },
    async (req) => miniProduct(await mp.product(Number(req.params.product_id))),
  )

  app.post(
    '/api/orders/create',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: '§2.1 create an order for a product (priced by the server)',
        security: USER,
        body: Type.Object({ product_id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }),
        response: {
          200: Type.Object({
            order_id: Type.Integer(),
            order_no: Type.String(),
            amount: Type.Number({ description: 'yuan' }),
            credits: Type.Integer(),
            message: Type.String(),
          }),
          ...detailResponses(400, 401, 404, 429),
        },
      },
    },
    async (req) => {
      const o = await mp.createOrder(req.user.id, req.body.product_id)
      return { order_id: o.id, order_no: o.orderNo, amount: miniOrderRow(o).amount, credits: o.credits, message: '订单创建成功' }
    },
  )

  app.post(
    '/api/orders/pay/:order_id',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: "§2.2 a JSAPI prepay for the buyer's openid, as wx.requestPayment parameters (paySign by the merchant key)",
        security: USER,
        params: OrderId,
        response: {
          200: Type.Object({
            payment_data: Type.Object({
              appId: Type.String(),
              timeStamp: Type.String(),
              nonceStr: Type.String(),
              packageValue: Type.String({ description: 'prepay_id=…: wx.requestPayment `package`' }),
              signType: Type.Literal('RSA'),
              paySign: Type.String(),
              outTradeNo: Type.String(),
            }),
            message: Type.String(),
          }),
          ...detailResponses(400, 401, 403, 404, 502, 503),
        },
      },
    },
    async (req) => ({ payment_data: await mp.pay(req.user.id, req.params.order_id, caller(req)), message: '创建支付成功' }),
  )

  for (const url of ['/api/orders', '/api/orders/']) {
    app.get(
      url,
      {
        preHandler: app.requireUser,
        schema: {
          tags,
          summary: '§2.3 my orders, newest first (bare array)',
          security: USER,
          querystring: SkipLimit,
          response: { 200: Type.Array(OrderRowSchema), ...detailResponses(400, 401) },
        },
      },
      async (req) => (await mp.list(req.user.id, page(req.query))).map(miniOrderRow),
    )
  }

  app.get(
    '/api/orders/:order_id',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: '§2.4 my order',
        security: USER,
        params: OrderId,
        response: { 200: OrderDetailSchema, ...detailResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { order, product } = await mp.detail(req.user.id, req.params.order_id)
      return miniOrderDetail(order, product)
    },
  )

  app.get(
    '/api/orders/payment-status/:order_id',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: 'Payment status; while pending, asks pay (which asks the provider)',
        security: USER,
        params: OrderId,
        response: {
          200: Type.Object({ order_id: Type.Integer(), status: Status, paid: Type.Boolean(), message: Type.String() }),
          ...detailResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => miniPaymentStatus(await mp.paymentStatus(req.user.id, req.params.order_id, req.id)),
  )

  app.post(
    '/api/orders/callback',
    {
      schema: {
        tags,
        summary:
          '§3.1 payment callback: accepted only when signed with a service key (as pay signs its events); SUCCESS pays the order once',
        security: SERVICE,
        body: Type.Object({
          order_no: Type.String({ minLength: 6, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
          payment_id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
          status: Type.String({ minLength: 1, maxLength: 32 }),
          amount: Yuan,
        }),
        response: { 200: Type.Object({ message: Type.String() }), ...detailResponses(400, 401, 404) },
      },
    },
    async (req) => {
      await verifyServiceCall(app, req)
      const b = req.body
      await mp.callback({ ...b, amountFen: yuanToFen(b.amount, 'amount') }, caller(req))
      return { message: '处理支付回调成功' }
    },
  )
}
