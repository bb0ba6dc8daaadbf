/** The catalogue's rules for admins: what a product of each kind may have, checked before catalog.ts writes it. */
import type { FastifyBaseLogger } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { CatalogRepo, ProductInput, ProductRow } from './catalog.ts'

const bad = (message: string) => new AppError(400, 'INVALID_PARAMS', message)

export function createCatalogAdmin(deps: { catalog: CatalogRepo }) {
  const { catalog } = deps

  async function checkDeliveryCodes(codes: string[] | null | undefined) {
    if (!codes) return
    const known = new Set((await catalog.listDeliveryMethods(false)).map((m) => m.code))
    const unknown = codes.filter((c) => !known.has(c))
    if (unknown.length) throw bad(`未知的配送方式: ${unknown.join(', ')}`)
  }

  return {
    /** 400 for a field the kind cannot have, 409 DUPLICATE for a taken packageCode or sku. */
    async create(input: ProductInput, by: { adminId: number; log: FastifyBaseLogger }): Promise<ProductRow> {
      if (input.kind === 'credits') {
        if (!input.credits) throw bad('积分商品需要 credits > 0')
        if (input.deliveryMethods) throw bad('积分商品没有配送方式')
      } else if (input.packageCode) {
        throw bad('实物商品不能有 packageCode')
      }
      await checkDeliveryCodes(input.deliveryMethods)
      const created = await catalog.createProduct({
        ...input,
        credits: input.kind === 'credits' ? input.credits : 0,
        deliveryMethods: input.kind === 'goods' ? input.deliveryMethods : null,
      })
      if (!created) throw new AppError(409, 'DUPLICATE', 'packageCode 或 sku 已存在')
      by.log.info({ productId: created.id, admin: by.adminId }, 'product created')
      return created
    },

    /** 404 for an unknown product; the same field rules as `create`, against the product's kind. */
    async update(id: number, patch: Partial<ProductInput>, by: { adminId: number; log: FastifyBaseLogger }): Promise<ProductRow> {
      const current = await catalog.findProduct(id)
      if (!current) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${id}`)
      if (current.kind === 'credits' && patch.deliveryMethods) throw bad('积分商品没有配送方式')
      if (current.kind === 'goods' && patch.packageCode) throw bad('实物商品不能有 packageCode')
      if (current.kind === 'credits' && current.packageType === 'STANDARD' && patch.credits === 0) throw bad('积分商品需要 credits > 0')
      if (current.packageType === 'CUSTOM' && patch.priceFen !== undefined) throw bad('自定义积分套餐按单价计费，不能设置 price')
      await checkDeliveryCodes(patch.deliveryMethods)
      const updated = await catalog.updateProduct(id, patch)
      if (updated === 'CONFLICT') throw new AppError(409, 'DUPLICATE', 'packageCode 或 sku 已存在')
      if (!updated) throw new AppError(404, 'PRODUCT_NOT_FOUND', `商品不存在: ${id}`)
      by.log.info({ productId: id, admin: by.adminId, fields: Object.keys(patch) }, 'product updated')
      return updated
    },
  }
}
export type CatalogAdmin = ReturnType<typeof createCatalogAdmin>
