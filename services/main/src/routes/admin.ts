/**
 * `/api/admin/*` (role admin, checked against the database on every request, not only the token):
 * catalogue create/update/deactivate, order search, refunds, credit adjustments, shipping, daily stats.
 */
import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject, PageSchema } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { FastifyRequest } from 'fastify'
import type { App } from '../app.ts'
import { presentProduct, type ProductInput } from '../catalog.ts'
import { presentLedgerRow } from '../ledger.ts'
import { ORDER_NO_RE } from '../orders/order-no.ts'
import { DELIVERY_STATUSES, type DeliveryStatus, type OrderRow } from '../orders/repo.ts'
import { presentOrder } from '../present.ts'
import { presentRefund } from '../refunds.ts'
import { eventAdminRoutes } from './events-admin.ts'
import { adminConsoleRoutes } from './admin-console.ts'
import { reconciliationAdminRoutes } from './reconciliations.ts'
import { EMAIL_RE, normaliseEmail, presentUser, type UserRow } from '../users.ts'
import { DeliveryCode, Kind } from './catalog.ts'
import { NumericId, Paging, pageOf, paging, Yuan, yuanToFen } from './common.ts'
import { OrderStatusQuery } from './orders.ts'
import {
  DailyStatsSchema,
  LedgerRowSchema,
  OrderProperties,
  OrderSchema,
  ProductSchema,
  RefundSchema,
  USER,
  UserSchema,
} from './schemas.ts'

const IdParams = Type.Object({ id: NumericId })
const Text = (maxLength: number, minLength = 0) => Type.String({ minLength, maxLength })
const ProductFields = {
  name: Text(64, 1),
  description: Type.Optional(Text(1000)),
  price: Yuan,
  originalPrice: Type.Optional(Yuan),
  credits: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
  packageCode: Type.Optional(Type.Union([Type.Null(), Type.String({ pattern: '^[A-Z0-9_]{3,64}$' })])),
  sku: Type.Optional(Type.Union([Type.Null(), Type.String({ pattern: '^[A-Za-z0-9_-]{2,64}$' })])),
  imageUrl: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 512, pattern: '^(https?://|/)[^\\s<>"]*$' })])),
  displayOrder: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  features: Type.Optional(Type.Array(Text(64, 1), { maxItems: 20 })),
  recommendedFor: Type.Optional(Type.Union([Type.Null(), Text(64)])),
  isPopular: Type.Optional(Type.Boolean()),
  isActive: Type.Optional(Type.Boolean()),
  deliveryMethods: Type.Optional(Type.Union([Type.Null(), Type.Array(DeliveryCode, { minItems: 1, maxItems: 10 })])),
}
const CreateProductBody = Type.Object({ kind: Kind, ...ProductFields }, { additionalProperties: false })
const UpdateProductBody = Type.Partial(Type.Object(ProductFields), { additionalProperties: false, minProperties: 1 })

// OpenAPI (/docs) and response serialisation: see schemas.ts. Every admin route answers 401 and 403 (role admin).
const ADMIN = { tags: ['admin'], security: USER }
const AdminOrderSchema = OpenObject({ ...OrderProperties, userId: Type.Integer() })
const createProductSchema = {
  ...ADMIN,
  summary: 'Create a product (credits or goods)',
  body: CreateProductBody,
  response: { 200: OkEnvelope(ProductSchema, '商品已创建'), ...errorResponses(400, 401, 403, 409) },
}
const updateProductSchema = {
  ...ADMIN,
  summary: 'Update a product',
  params: IdParams,
  body: UpdateProductBody,
  response: { 200: OkEnvelope(ProductSchema, '商品已更新'), ...errorResponses(400, 401, 403, 404, 409) },
}
const productStateSchema = (summary: string) => ({
  ...ADMIN,
  summary,
  params: IdParams,
  response: { 200: OkEnvelope(ProductSchema), ...errorResponses(400, 401, 403, 404) },
})
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
const adminUserSchema = {
  ...ADMIN,
  summary: 'One user',
  params: IdParams,
  response: { 200: OkEnvelope(UserSchema), ...errorResponses(400, 401, 403, 404) },
}

/** YYYY-MM-DD (a China-time calendar day) or a full ISO date-time. */
function parseInstant(value: string, what: string, endOfDay = false): Date {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)
  let d: Date
  if (day) {
    d = new Date(`${value}T00:00:00+08:00`)
    if (!Number.isNaN(d.getTime()) && endOfDay) d = new Date(d.getTime() + 86_400_000)
    if (Number.isNaN(d.getTime()) || chinaDay(d.getTime() - (endOfDay ? 86_400_000 : 0)) !== value) {
      throw new AppError(400, 'INVALID_PARAMS', `${what} 不是有效日期: ${value}`)
    }
    return d
  }
  d = new Date(value)
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(d.getTime()))
    throw new AppError(400, 'INVALID_PARAMS', `${what} 不是有效日期: ${value}`)
  return d
}
const chinaDay = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 10)

export async function adminRoutes(app: App) {
  const { users, orders, catalog, refunds, ledger, sql } = app.deps

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/admin/') && req.url !== '/api/admin') return
    await app.requireUser(req, reply)
    const me = await users.findById(req.user.id)
    if (!me) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
    if (me.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '需要管理员权限')
  })

  async function orderById(id: string): Promise<OrderRow> {
    const o = await orders.findById(Number(id))
    if (!o) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    return o
  }

  // ---- catalogue ----

  app.get(
    '/api/admin/products',
    {
      schema: {
        ...ADMIN,
        summary: 'Products, active or not',
        querystring: Type.Object({ ...Paging.properties, kind: Type.Optional(Kind), active: Type.Optional(Type.Boolean()) }),
        response: { 200: OkEnvelope(PageSchema(ProductSchema)), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const p = paging(req.query, 20)
      const { active, kind } = req.query
      const { rows, total } = await catalog.listProducts({ kind, activeOnly: active === true, inactiveOnly: active === false }, p)
      return ok(pageOf(rows.map(presentProduct), total, p))
    },
  )

  async function checkDeliveryCodes(codes: string[] | null | undefined) {
    if (!codes) return
    const known = new Set((await catalog.listDeliveryMethods(false)).map((m) => m.code))
    const unknown = codes.filter((c) => !known.has(c))
    if (unknown.length) throw new AppError(400, 'INVALID_PARAMS', `未知的配送方式: ${unknown.join(', ')}`)
  }

  app.post('/api/admin/products', { preHandler: app.idempotent, schema: createProductSchema }, async (req) => {
    const b = req.body
    const priceFen = yuanToFen(b.price, 'price')
    const originalPriceFen = b.originalPrice === undefined ? priceFen : yuanToFen(b.originalPrice, 'originalPrice')
    if (b.kind === 'credits') {
      if (!b.credits) throw new AppError(400, 'INVALID_PARAMS', '积分商品需要 credits > 0')
      if (b.deliveryMethods) throw new AppError(400, 'INVALID_PARAMS', '积分商品没有配送方式')
    } else if (b.packageCode) {
      throw new AppError(400, 'INVALID_PARAMS', '实物商品不能有 packageCode')
    }
    await checkDeliveryCodes(b.deliveryMethods)
    const input: ProductInput = {
      kind: b.kind,
      name: b.name.trim(),
      description: b.description ?? '',
      credits: b.kind === 'credits' ? b.credits! : 0,
      priceFen,
      originalPriceFen,
      packageCode: b.packageCode ?? null,
      sku: b.sku ?? null,
      imageUrl: b.imageUrl ?? null,
      displayOrder: b.displayOrder ?? 100,
      features: b.features ?? [],
      recommendedFor: b.recommendedFor ?? null,
      isPopular: b.isPopular ?? false,
      isActive: b.isActive ?? true,
      deliveryMethods: b.kind === 'goods' ? (b.deliveryMethods ?? null) : null,
    }
    const created = await catalog.createProduct(input)
    if (!created) throw new AppError(409, 'DUPLICATE', 'packageCode 或 sku 已存在')
    req.log.info({ productId: created.id, admin: req.user.id }, 'product created')
    return ok(presentProduct(created), '商品已创建')
  })

  async function update(req: FastifyRequest, id: number, patch: Partial<ProductInput>) {
    const current = await catalog.findProduct(id)
    if (!current) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${id}`)
    if (current.kind === 'credits' && patch.deliveryMethods) throw new AppError(400, 'INVALID_PARAMS', '积分商品没有配送方式')
    if (current.kind === 'goods' && patch.packageCode) throw new AppError(400, 'INVALID_PARAMS', '实物商品不能有 packageCode')
    if (current.kind === 'credits' && current.packageType === 'STANDARD' && patch.credits === 0) {
      throw new AppError(400, 'INVALID_PARAMS', '积分商品需要 credits > 0')
    }
    if (current.packageType === 'CUSTOM' && patch.priceFen !== undefined) {
      throw new AppError(400, 'INVALID_PARAMS', '自定义积分套餐按单价计费，不能设置 price')
    }
    await checkDeliveryCodes(patch.deliveryMethods)
    const updated = await catalog.updateProduct(id, patch)
    if (updated === 'CONFLICT') throw new AppError(409, 'DUPLICATE', 'packageCode 或 sku 已存在')
    if (!updated) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${id}`)
    req.log.info({ productId: id, admin: req.user.id, fields: Object.keys(patch) }, 'product updated')
    return updated
  }

  app.patch('/api/admin/products/:id', { schema: updateProductSchema }, async (req) => {
    const b = req.body
    const patch: Partial<ProductInput> = {
      name: b.name?.trim(),
      description: b.description,
      credits: b.credits,
      priceFen: b.price === undefined ? undefined : yuanToFen(b.price, 'price'),
      originalPriceFen: b.originalPrice === undefined ? undefined : yuanToFen(b.originalPrice, 'originalPrice'),
      packageCode: b.packageCode,
      sku: b.sku,
      imageUrl: b.imageUrl,
      displayOrder: b.displayOrder,
      features: b.features,
      recommendedFor: b.recommendedFor,
      isPopular: b.isPopular,
      isActive: b.isActive,
      deliveryMethods: b.deliveryMethods,
    }
    return ok(presentProduct(await update(req, Number(req.params.id), patch)), '商品已更新')
  })

  for (const [action, isActive] of [
    ['deactivate', false],
    ['activate', true],
  ] as const) {
    app.post(`/api/admin/products/:id/${action}`, { schema: productStateSchema(isActive ? 'Put on sale' : 'Take off sale') }, async (req) =>
      ok(presentProduct(await update(req, Number(req.params.id), { isActive })), isActive ? '商品已上架' : '商品已下架'),
    )
  }
  // Deleting keeps the row (orders refer to it): it is a deactivation.
  app.delete('/api/admin/products/:id', { schema: productStateSchema('Take off sale (the row stays: orders refer to it)') }, async (req) =>
    ok(presentProduct(await update(req, Number(req.params.id), { isActive: false })), '商品已下架'),
  )

  // ---- orders ----

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
            Type.String({ pattern: '^[A-Z_]{2,32}$', description: 'payment method: ALIPAY, WECHAT_PAY, EPAY, CREDITS' }),
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
        const to: DeliveryStatus = req.body.deliveryStatus
        if (order.kind !== 'goods' || order.deliveryStatus === null) throw new AppError(422, 'NOT_GOODS_ORDER', '积分订单没有配送状态')
        if (order.status !== 'PAID' && order.status !== 'PARTIALLY_REFUNDED') {
          throw new AppError(409, 'INVALID_DELIVERY_TRANSITION', `订单状态为 ${order.status}，不能发货`)
        }
        const from = order.deliveryStatus
        if (DELIVERY_STATUSES.indexOf(to) <= DELIVERY_STATUSES.indexOf(from)) {
          throw new AppError(409, 'INVALID_DELIVERY_TRANSITION', `配送状态只能向前推进：${from} → ${to} 不允许`)
        }
        const updated = await orders.advanceDelivery(order.id, from, to, req.body.trackingNo ?? null)
        if (!updated) throw new AppError(409, 'INVALID_DELIVERY_TRANSITION', '配送状态已被修改，请刷新后重试')
        req.log.info({ orderNo: order.orderNo, from, to, admin: req.user.id }, 'delivery status advanced')
        return ok(presentOrder(updated), '配送状态已更新')
      },
    })
  }

  // ---- credits ----

  app.post(
    '/api/admin/credits/adjust',
    {
      preHandler: app.idempotent,
      schema: {
        ...ADMIN,
        summary: 'Adjust a balance (an ADJUST ledger row); never below zero',
        response: {
          200: OkEnvelope(OpenObject({ entry: LedgerRowSchema, balance: Type.Integer(), user: UserSchema }), '积分已调整'),
          ...errorResponses(400, 401, 403, 404, 409),
        },
        body: Type.Object(
          {
            userId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
            email: Type.Optional(Type.String({ maxLength: 254 })),
            delta: Type.Integer({ minimum: -100_000_000, maximum: 100_000_000 }),
            reason: Text(256, 1),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const b = req.body
      if (b.delta === 0) throw new AppError(400, 'INVALID_PARAMS', 'delta 不能为 0')
      if ((b.userId === undefined) === (b.email === undefined)) throw new AppError(400, 'INVALID_PARAMS', '需要 userId 或 email（二选一）')
      if (!b.reason.trim()) throw new AppError(400, 'INVALID_PARAMS', '需要调整原因 reason')
      let user: UserRow | undefined
      if (b.userId !== undefined) user = await users.findById(b.userId)
      else {
        if (!EMAIL_RE.test(normaliseEmail(b.email!))) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
        user = await users.findByEmail(b.email!)
      }
      if (!user) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
      const row = await ledger.adjust(user.id, b.delta, `管理员调整：${b.reason.trim()}`)
      if (!row) throw new AppError(409, 'INSUFFICIENT_CREDITS', `余额 ${user.creditBalance} 不足以扣减 ${-b.delta} 积分`)
      req.log.info({ userId: user.id, delta: b.delta, admin: req.user.id }, 'credits adjusted')
      return ok(
        { entry: presentLedgerRow(row), balance: row.balanceAfter, user: presentUser({ ...user, creditBalance: row.balanceAfter }) },
        '积分已调整',
      )
    },
  )

  app.get('/api/admin/users/:id', { schema: adminUserSchema }, async (req) => {
    const user = await users.findById(Number(req.params.id))
    if (!user) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
    return ok(presentUser(user))
  })

  // ---- stats ----

  app.get(
    '/api/admin/stats/daily',
    {
      schema: {
        ...ADMIN,
        summary: 'Daily figures (Asia/Shanghai days; default the last 7; at most 366)',
        response: { 200: OkEnvelope(DailyStatsSchema), ...errorResponses(400, 401, 403) },
        querystring: Type.Object({
          from: Type.Optional(Type.String({ maxLength: 10 })),
          to: Type.Optional(Type.String({ maxLength: 10 })),
        }),
      },
    },
    async (req) => {
      const DAY = /^\d{4}-\d{2}-\d{2}$/
      const today = chinaDay(Date.now())
      const toDay = req.query.to ?? today
      const fromDay = req.query.from ?? chinaDay(parseInstant(toDay, 'to').getTime() - 6 * 86_400_000)
      if (!DAY.test(fromDay) || !DAY.test(toDay)) throw new AppError(400, 'INVALID_PARAMS', 'from/to 格式为 YYYY-MM-DD')
      const start = parseInstant(fromDay, 'from')
      const end = parseInstant(toDay, 'to', true)
      const days = Math.round((end.getTime() - start.getTime()) / 86_400_000)
      if (days < 1) throw new AppError(400, 'INVALID_PARAMS', 'from 不能晚于 to')
      if (days > 366) throw new AppError(400, 'INVALID_PARAMS', '统计区间最长 366 天')
      const rows = await sql<
        { day: string; created: number; paid: number; revenue: number; refunded: number; creditsSold: number; creditsConsumed: number }[]
      >`
        with days as (
          select to_char(d, 'YYYY-MM-DD') as day from generate_series(${fromDay}::date, ${toDay}::date, interval '1 day') d
        ),
        created as (
          select to_char(created_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, count(*)::int as n
            from orders where created_at >= ${start} and created_at < ${end} group by 1
        ),
        paid as (
          select to_char(paid_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, count(*)::int as n,
                 coalesce(sum(paid_amount_fen) filter (where payment_method is distinct from 'CREDITS'), 0)::bigint as revenue,
                 coalesce(sum(credits) filter (where kind = 'credits' and credits_granted), 0)::bigint as credits_sold
            from orders where paid_at >= ${start} and paid_at < ${end} and paid_at is not null group by 1
        ),
        refunded as (
          select to_char(completed_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, coalesce(sum(amount_fen), 0)::bigint as n
            from refunds where status = 'SUCCEEDED' and via = 'PROVIDER' and completed_at >= ${start} and completed_at < ${end} group by 1
        ),
        consumed as (
          select to_char(created_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day, coalesce(-sum(delta), 0)::bigint as n
            from credit_ledger where type = 'CONSUME' and created_at >= ${start} and created_at < ${end} group by 1
        )
        select days.day, coalesce(created.n, 0) as created, coalesce(paid.n, 0) as paid, coalesce(paid.revenue, 0) as revenue,
               coalesce(refunded.n, 0) as refunded, coalesce(paid.credits_sold, 0) as "creditsSold",
               coalesce(consumed.n, 0) as "creditsConsumed"
          from days left join created using (day) left join paid using (day) left join refunded using (day)
               left join consumed using (day)
         order by days.day`
      const present = (r: (typeof rows)[number]) => ({
        date: r.day,
        ordersCreated: Number(r.created),
        ordersPaid: Number(r.paid),
        revenue: fenToYuanNumber(Number(r.revenue)),
        refunded: fenToYuanNumber(Number(r.refunded)),
        netRevenue: fenToYuanNumber(Number(r.revenue) - Number(r.refunded)),
        creditsSold: Number(r.creditsSold),
        creditsConsumed: Number(r.creditsConsumed),
      })
      const sum = (k: 'created' | 'paid' | 'revenue' | 'refunded' | 'creditsSold' | 'creditsConsumed') =>
        rows.reduce((a, r) => a + Number(r[k]), 0)
      return ok({
        from: fromDay,
        to: toDay,
        timezone: 'Asia/Shanghai',
        days: rows.map(present),
        totals: present({
          day: '',
          created: sum('created'),
          paid: sum('paid'),
          revenue: sum('revenue'),
          refunded: sum('refunded'),
          creditsSold: sum('creditsSold'),
          creditsConsumed: sum('creditsConsumed'),
        }),
      })
    },
  )

  // Reconciliation against provider bills (对账): registered here so the admin check above applies.
  await app.register(reconciliationAdminRoutes)
  await app.register(eventAdminRoutes)
  await app.register(adminConsoleRoutes)
}
