/**
 * Seed 002's routes (`/payment/*`), exactly as its document shows them: the core API's bearer JWT,
 * answers `{code: 0, message: {…}}`, errors `{code, message: "…", error}` with the HTTP status of the
 * core API and the document's codes: -1 bad or missing parameter (4xx), -2 no permission (401/403),
 * -3 server error (5xx). Validation here, the rules in ./service.ts and the checkout.
 */
import { Type, type TSchema } from 'typebox'
import { AppError, DEVICES, IsoTime, Nullable, OpenObject, StringEnum, type ErrorCode } from '@paysys/contracts'
import type { FastifyError } from 'fastify'
import type { MainApp } from '../../deps.ts'
import { USER } from '../../routes/schemas.ts'
import { Yuan, yuanToFen } from '../../routes/common.ts'
import { createPointsShop, PAYMENT_TYPES, presentOrder, presentPayInfo, SERVED_METHODS } from './service.ts'

const Answer = <T extends TSchema>(message: T) =>
  Type.Object({ code: Type.Literal(0, { description: '0: success' }), message }, { additionalProperties: true })
const ErrorAnswer = (description: string) =>
  Type.Object(
    {
      code: Type.Integer({ description: '-1 bad or missing parameter · -2 no permission · -3 server error' }),
      message: Type.String(),
      error: Type.String({ description: 'stable UPPER_SNAKE code, as in the core API' }),
    },
    { description, additionalProperties: true },
  )
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      ErrorAnswer(s === 401 ? 'no or bad token' : s === 403 ? 'not your order' : s >= 500 ? 'server or pay unavailable' : 'refused'),
    ]),
  )

const CreateBody = Type.Object(
  {
    amount: Yuan,
    points: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'credits; must match the amount (catalogue or custom rule)' }),
    payment_type: StringEnum(PAYMENT_TYPES),
  },
  { additionalProperties: false },
)
const OrderNo = Type.String({ minLength: 1, maxLength: 64 })
const PayUrlBody = Type.Object(
  {
    order_no: OrderNo,
    method: Type.Optional(Type.String({ maxLength: 16, description: 'web (default) | jump; jsapi, app, scan, applet are 422' })),
    device: Type.Optional(StringEnum(DEVICES, { description: "where the buyer is (default pc), one of the document's devices" })),
  },
  { additionalProperties: false },
)
const OrderQuery = Type.Object({ sync: Type.Optional(StringEnum(['true', '1', 'false', '0'])) }, { additionalProperties: false })

const CreatedSchema = OpenObject({
  order_no: Type.String(),
  order_id: Type.String(),
  amount: Type.Number({ description: 'yuan' }),
  points: Type.Integer(),
  payment_type: Type.String(),
})
const PayUrlSchema = OpenObject({
  trade_no: Type.String({ description: 'the merchant trade number the provider knows the payment by' }),
  pay_type: Type.String({ description: 'jump | qrcode | html | jsapi | … (as the provider answered)' }),
  pay_info: Type.String(),
  order_no: Type.String(),
})
const StatusCode = Type.Integer({ description: '0 unpaid · 1 paid · 2 refunded · 3 frozen/closed' })
const OrderSchema = OpenObject({
  order_no: Type.String(),
  order_id: Type.String(),
  amount: Type.Number({ description: 'yuan' }),
  points: Type.Integer(),
  payment_type: Nullable(Type.String()),
  status: StatusCode,
  status_text: Type.String(),
  paid_at: Nullable(IsoTime()),
  created_at: IsoTime(),
  yipay_info: Nullable(
    OpenObject({
      trade_no: Nullable(Type.String()),
      api_trade_no: Nullable(Type.String()),
      status: StatusCode,
      status_text: Type.String(),
      addtime: Type.String({ description: 'yyyy-MM-dd HH:mm:ss (UTC+8)' }),
      endtime: Nullable(Type.String()),
    }),
  ),
  synced: Type.Boolean({ description: 'sync was asked: a pending order was checked with pay (and the provider) first' }),
})

const tags = ['points-shop']

/** The document's code for an HTTP status. */
const docCode = (status: number) => (status === 401 || status === 403 ? -2 : status >= 500 ? -3 : -1)

/** server-kit's `errorShapes` entry: a `/payment/*` URL the router refuses (malformed, over-long) answers in 002's shape too. */
export const POINTS_SHOP_PREFIX = '/payment'

export const POINTS_SHOP_ERROR_SHAPE = {
  prefix: POINTS_SHOP_PREFIX,
  body: (status: number, message: string) => ({ code: docCode(status), message, error: 'INVALID_PARAMS' }),
}

function errorOf(err: FastifyError | AppError): { status: number; error: ErrorCode | string; message: string } {
  if (err instanceof AppError) return { status: err.status, error: err.error, message: err.message }
  if (err.validation) return { status: 400, error: 'INVALID_PARAMS', message: `缺少参数或参数无效: ${err.message}` }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500)
    return { status, error: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_PARAMS', message: `请求无效: ${err.message}` }
  return { status: 500, error: 'INTERNAL_ERROR', message: '服务器错误' }
}

export async function pointsShopRoutes(app: MainApp) {
  const shop = createPointsShop(app.deps)
  const caller = (req: { log: MainApp['log']; id: string; ip: string }) => ({ log: req.log, requestId: req.id, clientIp: req.ip })

  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    const e = errorOf(err)
    if (e.status >= 500) req.log[e.error === 'INTERNAL_ERROR' ? 'error' : 'warn']({ err }, 'points-shop request failed')
    return reply.status(e.status).send({ code: docCode(e.status), message: e.message, error: e.error })
  })
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: docCode(404), message: `未找到: ${req.method} ${req.url.split('?')[0]}`, error: 'NOT_FOUND' }),
  )

  app.post(
    '/create-order',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: 'Seed 002: create an order; amount + points must be a catalogue package or the custom rule, else 422',
        security: USER,
        body: CreateBody,
        response: { 200: Answer(CreatedSchema), ...errors(400, 401, 422, 502, 503) },
      },
    },
    async (req) => {
      const b = req.body
      const amountFen = yuanToFen(b.amount, 'amount')
      const order = await shop.createOrder(req.user.id, { amountFen, points: b.points, paymentType: b.payment_type }, caller(req))
      const o = presentOrder(order, false)
      return {
        code: 0 as const,
        message: { order_no: o.order_no, order_id: o.order_id, amount: o.amount, points: o.points, payment_type: b.payment_type },
      }
    },
  )

  app.post(
    '/get-pay-url',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: 'Seed 002: start the payment; pay_type/pay_info from method and device (passed through to a provider that speaks them)',
        security: USER,
        body: PayUrlBody,
        response: { 200: Answer(PayUrlSchema), ...errors(400, 401, 403, 404, 409, 422, 502, 503) },
      },
    },
    async (req) => {
      const method = req.body.method ?? 'web'
      if (!(SERVED_METHODS as readonly string[]).includes(method)) {
        throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `不支持的接口类型: ${method.slice(0, 16)}（支持 ${SERVED_METHODS.join('、')}）`)
      }
      const r = await shop.payUrl(
        req.user.id,
        { orderNo: req.body.order_no, method: method as (typeof SERVED_METHODS)[number], device: req.body.device ?? 'pc' },
        caller(req),
      )
      const p = presentPayInfo(r.paymentInfo)
      return {
        code: 0 as const,
        message: { trade_no: r.paymentInfo.outTradeNo, pay_type: p.payType, pay_info: p.payInfo, order_no: r.order.orderNo },
      }
    },
  )

  app.get(
    '/order/:order_no',
    {
      preHandler: app.requireUser,
      schema: {
        tags,
        summary: 'Seed 002: the order, status 0/1/2/3; sync=true|1 asks pay (and the provider) first while it is pending',
        security: USER,
        params: Type.Object({ order_no: OrderNo }),
        querystring: OrderQuery,
        response: { 200: Answer(OrderSchema), ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const sync = req.query.sync === 'true' || req.query.sync === '1'
      return { code: 0 as const, message: presentOrder(await shop.order(req.user.id, req.params.order_no, sync, req.id), sync) }
    },
  )
}
