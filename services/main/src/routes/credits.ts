import { Type } from 'typebox'
import { AppError, errorResponses, IsoTime, NoQuery, Nullable, ok, OkEnvelope, OpenObject, PageSchema, StringEnum } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import { currentUser } from '../auth.ts'
import { presentPackage } from '../catalog.ts'
import type { MainApp } from '../deps.ts'
import { presentLedgerRow } from '../ledger.ts'
import { isServiceCall, verifyServiceCall } from '../service-calls.ts'
import { ORDER_STATUSES } from '../orders/repo.ts'
import { Paging, paging, pageOf } from './common.ts'
import { LedgerRowSchema, OPTIONAL_USER, PackageSchema, PaymentInfoSchema, USER, USER_OR_SERVICE } from './schemas.ts'

const PackageCode = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
export { paging, pageOf } from './common.ts'

// OpenAPI (/docs) and response serialisation: see schemas.ts.
const packagesSchema = {
  tags: ['credits'],
  summary: 'Active credit packages (seed 000), CREDITS_CUSTOM included',
  querystring: NoQuery,
  response: { 200: OkEnvelope(Type.Array(PackageSchema)), ...errorResponses('4xx') },
}
const packageSchema = {
  tags: ['credits'],
  summary: 'One package by its code',
  params: Type.Object({ packageCode: PackageCode }),
  response: { 200: OkEnvelope(PackageSchema), ...errorResponses(400, 404) },
}
const PurchaseResultSchema = OpenObject({
  orderId: Type.String({ description: 'the orderNo (seed 000)' }),
  id: Type.Integer(),
  orderNo: Type.String(),
  packageInfo: OpenObject({
    packageCode: Nullable(Type.String()),
    packageName: Type.String(),
    credits: Type.Integer(),
    price: Type.Number({ description: 'yuan' }),
  }),
  customerInfo: OpenObject({ email: Type.String(), name: Type.String() }),
  paymentInfo: PaymentInfoSchema,
  orderStatus: StringEnum(ORDER_STATUSES),
  createdAt: IsoTime(),
  expireAt: IsoTime(),
})
const ConsumeResultSchema = OpenObject({
  ...LedgerRowSchema.properties,
  ledgerId: Type.Integer(),
  credits: Type.Integer(),
  balance: Type.Integer(),
  idempotencyKey: Type.String(),
  replayed: Type.Boolean({ description: 'true: this key was spent before; nothing was spent again' }),
})
const balanceSchema = {
  tags: ['credits'],
  summary: 'My credit balance',
  security: USER,
  response: { 200: OkEnvelope(OpenObject({ balance: Type.Integer() })), ...errorResponses(401) },
}
const ledgerSchema = {
  tags: ['credits'],
  summary: 'My credit ledger, newest first',
  security: USER,
  querystring: Paging,
  response: { 200: OkEnvelope(PageSchema(LedgerRowSchema)), ...errorResponses(400, 401) },
}

export async function creditsRoutes(app: MainApp) {
  const { catalog, users, checkout, ledger, credits } = app.deps

  // The most requested page of all: the presented list is kept for 2 s, so an admin's change shows
  // within 2 s on every instance while the database sees one query per instance per 2 s.
  // Kept serialised: the envelope differs between answers only by its timestamp, written last (the schema's order).
  // Sent as bytes, encoded once per millisecond (answers within one share the timestamp): a string body is
  // UTF-8-encoded inside the socket write on every answer, a third of that write's cost (bench profile).
  let packagesCache: { at: number; head: Buffer; bodyAt: number; body: Buffer } | undefined
  app.get('/api/credits/packages', { schema: packagesSchema }, async (_req, reply) => {
    const now = Date.now()
    if (!packagesCache || now - packagesCache.at > 2000) {
      const { timestamp: _now, ...envelope } = ok((await catalog.listActivePackages()).map(presentPackage), '获取积分套餐成功')
      const head = Buffer.from(`${JSON.stringify(envelope).slice(0, -1)},"timestamp":`)
      packagesCache = { at: Date.now(), head, bodyAt: -1, body: head }
    }
    const c = packagesCache
    if (c.bodyAt !== now) {
      c.body = Buffer.concat([c.head, Buffer.from(`${now}}`)])
      c.bodyAt = now
    }
    // Bytes with a JSON content type are sent as they are (the response schema serialises objects only).
    return reply.type('application/json; charset=utf-8').send(c.body as never)
  })

  app.get('/api/credits/packages/:packageCode', { schema: packageSchema }, async (req) => {
    const p = await catalog.findPackage(req.params.packageCode)
    if (!p || !p.isActive) throw new AppError(404, 'PACKAGE_NOT_FOUND', `套餐不存在: ${req.params.packageCode}`)
    return ok(presentPackage(p), '获取套餐详情成功')
  })

  app.post(
    '/api/credits/purchase',
    {
      preHandler: [app.optionalUser, app.idempotent],
      schema: {
        tags: ['credits'],
        summary: 'Seed 000 purchase: create the order and start its payment (a user, or a guest by customerEmail)',
        security: OPTIONAL_USER,
        response: { 200: OkEnvelope(PurchaseResultSchema, '订单创建成功'), ...errorResponses(400, 401, 404, 409, 422, 429, 502, 503) },
        body: Type.Object({
          packageCode: PackageCode,
          paymentMethod: Type.String({ minLength: 1, maxLength: 32 }),
          customerEmail: Type.Optional(Type.String({ maxLength: 254 })),
          customerName: Type.Optional(Type.String({ maxLength: 64 })),
          customCredits: Type.Optional(Type.Union([Type.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000 }), Type.Null()])),
          channel: Type.Optional(Type.String({ maxLength: 16 })),
          openid: Type.Optional(Type.String({ maxLength: 128 })),
          device: Type.Optional(Type.String({ maxLength: 16 })),
          clientInfo: Type.Optional(
            Type.Object({
              userAgent: Type.Optional(Type.String({ maxLength: 512 })),
              ipAddress: Type.Optional(Type.String({ maxLength: 64 })),
              deviceType: Type.Optional(Type.String({ maxLength: 32 })),
            }),
          ),
        }),
      },
    },
    async (req) => {
      const b = req.body
      const {
        order,
        package: pkg,
        credits,
        paymentInfo,
      } = await checkout.purchase(
        currentUser(req)?.id,
        { ...b, method: b.paymentMethod },
        { log: req.log, requestId: req.id, clientIp: req.ip },
      )
      return ok(
        {
          orderId: order.orderNo,
          id: order.id,
          orderNo: order.orderNo,
          packageInfo: { packageCode: pkg.packageCode, packageName: pkg.name, credits, price: fenToYuanNumber(order.amountFen) },
          customerInfo: { email: order.customerEmail, name: order.customerName },
          paymentInfo,
          orderStatus: order.status,
          createdAt: order.createdAt.toISOString(),
          expireAt: order.expireAt.toISOString(),
        },
        '订单创建成功',
      )
    },
  )

  /**
   * Spends credits, by the user (JWT) or by a backend holding a service key (signed request naming
   * the user). Idempotent by `idempotencyKey` (or the Idempotency-Key header): the same key spends
   * once and answers the same row; the same key for another amount is 409.
   */
  app.post(
    '/api/credits/consume',
    {
      preHandler: async (req, reply) => {
        if (isServiceCall(req)) req.serviceKeyId = await verifyServiceCall(app, req)
        else await app.requireUser(req, reply)
      },
      schema: {
        tags: ['credits'],
        summary: 'Spend credits (the user, or a backend with a service key naming the user); idempotent by idempotencyKey',
        security: USER_OR_SERVICE,
        response: { 200: OkEnvelope(ConsumeResultSchema), ...errorResponses(400, 401, 403, 404, 409) },
        body: Type.Object({
          credits: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
          description: Type.Optional(Type.String({ maxLength: 256 })),
          idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })),
          /** Service-key callers name the user by id or email. */
          userId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
          email: Type.Optional(Type.String({ maxLength: 254 })),
        }),
      },
    },
    async (req) => {
      const b = req.body
      const header = req.headers['idempotency-key']
      const key = b.idempotencyKey ?? (typeof header === 'string' && /^[\x21-\x7e]{1,128}$/.test(header) ? header : undefined)
      const by = req.serviceKeyId ? { serviceKeyId: req.serviceKeyId } : { userId: req.user.id }
      const r = await credits.spend(by, { ...b, key })
      return ok(
        {
          ...presentLedgerRow(r.row),
          ledgerId: r.row.id,
          credits: b.credits,
          balance: r.row.balanceAfter,
          idempotencyKey: r.key,
          replayed: r.replayed,
        },
        r.replayed ? '重复请求，已按首次结果返回' : '积分消费成功',
      )
    },
  )

  app.get('/api/credits/balance', { preHandler: app.requireUser, schema: balanceSchema }, async (req) => {
    const user = await users.findById(req.user.id)
    if (!user) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
    return ok({ balance: user.creditBalance })
  })

  app.get('/api/credits/ledger', { preHandler: app.requireUser, schema: ledgerSchema }, async (req) => {
    const p = paging(req.query)
    const { rows, total } = await ledger.page(req.user.id, p)
    return ok(pageOf(rows.map(presentLedgerRow), total, p))
  })
}
