/** Seed 001 products (credit products and goods) and seed 004 delivery methods and fees. Public. */
import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, PageSchema } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { MainApp } from '../deps.ts'
import { deliveryOptions, presentDeliveryMethod, presentProduct, type ProductRow } from '../catalog.ts'
import { deliveryFee } from '../orders/pricing.ts'
import { NumericId, Paging, pageOf, paging } from './common.ts'
import { DeliveryFeeSchema, DeliveryMethodSchema, ProductSchema } from './schemas.ts'

export const Kind = Type.Union([Type.Literal('credits'), Type.Literal('goods')])
export const DeliveryCode = Type.String({ pattern: '^[a-z_]{1,32}$' })
export const ProductIdField = Type.Integer({ minimum: 1, maximum: 2_147_483_647 })

export async function catalogRoutes(app: MainApp) {
  const { catalog } = app.deps

  async function activeProduct(id: number): Promise<ProductRow> {
    const p = await catalog.findProduct(id)
    if (!p || !p.isActive) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${id}`)
    return p
  }

  const ListQuery = Type.Object({ ...Paging.properties, kind: Type.Optional(Kind) })
  // OpenAPI (/docs) and response serialisation: see schemas.ts.
  const listSchema = {
    tags: ['catalogue'],
    summary: 'Active products (seed 001): credit products and goods',
    querystring: ListQuery,
    response: { 200: OkEnvelope(PageSchema(ProductSchema), '获取商品列表成功'), ...errorResponses(400) },
  }
  const productSchema = {
    tags: ['catalogue'],
    summary: 'One active product',
    params: Type.Object({ id: NumericId }),
    response: { 200: OkEnvelope(ProductSchema, '获取商品详情成功'), ...errorResponses(400, 404) },
  }
  const deliveryMethodsSchema = {
    tags: ['catalogue'],
    summary: 'Delivery methods (seed 004): all active ones, or what a product offers',
    querystring: Type.Object({ productId: Type.Optional(ProductIdField) }),
    response: { 200: OkEnvelope(Type.Array(DeliveryMethodSchema), '获取配送方式成功'), ...errorResponses(400, 404) },
  }
  for (const url of ['/api/products', '/api/products/']) {
    app.get(url, { schema: listSchema }, async (req) => {
      const p = paging(req.query, 20)
      const { rows, total } = await catalog.listProducts({ kind: req.query.kind, activeOnly: true }, p)
      return ok(pageOf(rows.map(presentProduct), total, p), '获取商品列表成功')
    })
  }

  app.get('/api/products/:id', { schema: productSchema }, async (req) => {
    return ok(presentProduct(await activeProduct(Number(req.params.id))), '获取商品详情成功')
  })

  // Without productId: every active method; with it: what that product offers (none for credits).
  app.get('/api/delivery-methods', { schema: deliveryMethodsSchema }, async (req) => {
    const methods = await catalog.listDeliveryMethods()
    const list = req.query.productId === undefined ? methods : deliveryOptions(await activeProduct(req.query.productId), methods)
    return ok(list.map(presentDeliveryMethod), '获取配送方式成功')
  })

  app.post(
    '/api/delivery-fee',
    {
      schema: {
        tags: ['catalogue'],
        summary: 'Delivery fee and total for a product, method and quantity (seed 004)',
        response: { 200: OkEnvelope(DeliveryFeeSchema, '计算配送费用成功'), ...errorResponses(400, 404, 422) },
        body: Type.Object({
          productId: ProductIdField,
          deliveryMethod: DeliveryCode,
          address: Type.Optional(Type.String({ maxLength: 256 })),
          deliveryAddress: Type.Optional(Type.String({ maxLength: 256 })),
          quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 99 })),
        }),
      },
    },
    async (req) => {
      const b = req.body
      const product = await activeProduct(b.productId)
      const fee = deliveryFee(product, await catalog.listDeliveryMethods(), b.deliveryMethod, b.deliveryAddress ?? b.address)
      const quantity = b.quantity ?? 1
      const itemsFen = product.priceFen * quantity
      return ok(
        {
          productId: product.id,
          deliveryMethod: fee.method.code,
          deliveryFee: fenToYuanNumber(fee.feeFen),
          quantity,
          price: fenToYuanNumber(product.priceFen),
          itemsAmount: fenToYuanNumber(itemsFen),
          totalAmount: fenToYuanNumber(itemsFen + fee.feeFen),
        },
        '计算配送费用成功',
      )
    },
  )
}
