/** `/api/admin/products*`: the catalogue, active or not; create, update, (de)activate. */
import { Type } from 'typebox'
import { errorResponses, ok, OkEnvelope, PageSchema } from '@paysys/contracts'
import { presentProduct, type ProductInput } from '../../catalog.ts'
import type { MainApp } from '../../deps.ts'
import { DeliveryCode, Kind } from '../catalog.ts'
import { Paging, pageOf, paging, Yuan, yuanToFen } from '../common.ts'
import { ProductSchema } from '../schemas.ts'
import { ADMIN, IdParams, Text } from './common.ts'

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

export async function adminProductRoutes(app: MainApp) {
  const { catalog, catalogAdmin } = app.deps
  const by = (req: { user: { id: number }; log: MainApp['log'] }) => ({ adminId: req.user.id, log: req.log })

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

  app.post('/api/admin/products', { preHandler: app.idempotent, schema: createProductSchema }, async (req) => {
    const b = req.body
    const priceFen = yuanToFen(b.price, 'price')
    const originalPriceFen = b.originalPrice === undefined ? priceFen : yuanToFen(b.originalPrice, 'originalPrice')
    const input: ProductInput = {
      kind: b.kind,
      name: b.name.trim(),
      description: b.description ?? '',
      credits: b.credits ?? 0,
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
      deliveryMethods: b.deliveryMethods ?? null,
    }
    return ok(presentProduct(await catalogAdmin.create(input, by(req))), '商品已创建')
  })

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
    return ok(presentProduct(await catalogAdmin.update(Number(req.params.id), patch, by(req))), '商品已更新')
  })

  for (const [action, isActive] of [
    ['deactivate', false],
    ['activate', true],
  ] as const) {
    app.post(`/api/admin/products/:id/${action}`, { schema: productStateSchema(isActive ? 'Put on sale' : 'Take off sale') }, async (req) =>
      ok(presentProduct(await catalogAdmin.update(Number(req.params.id), { isActive }, by(req))), isActive ? '商品已上架' : '商品已下架'),
    )
  }
  // Deleting keeps the row (orders refer to it): it is a deactivation.
  app.delete('/api/admin/products/:id', { schema: productStateSchema('Take off sale (the row stays: orders refer to it)') }, async (req) =>
    ok(presentProduct(await catalogAdmin.update(Number(req.params.id), { isActive: false }, by(req))), '商品已下架'),
  )
}
