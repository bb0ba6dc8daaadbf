/**
 * What an order costs, computed only here and only on the server: credits packages (fixed or
 * CUSTOM at a price per credit) and goods (unit price × quantity + the delivery fee).
 * Pure: the caller loads the product and the delivery methods.
 */
import { AppError } from '@paysys/contracts'
import { MAX_FEN } from '@paysys/money'
import { deliveryOptions, type DeliveryMethodRow, type ProductRow } from '../catalog.ts'

export interface OrderInput {
  customCredits?: number | null
  quantity?: number
  deliveryMethod?: string | null
  deliveryAddress?: string | null
  contactName?: string | null
  contactPhone?: string | null
}

export interface PricedOrder {
  productName: string
  credits: number
  quantity: number
  unitPriceFen: number
  amountFen: number
  delivery?: { method: string; address: string | null; contactName: string | null; contactPhone: string | null; feeFen: number }
}

const bad = (message: string) => new AppError(400, 'INVALID_PARAMS', message)

/** The delivery fee of `methodCode` for `product` (seed 004: a base fee per method, whatever the address). */
export function deliveryFee(
  product: ProductRow,
  methods: DeliveryMethodRow[],
  methodCode: string | null | undefined,
  address: string | null | undefined,
): { method: DeliveryMethodRow; feeFen: number; address: string | null } {
  if (product.kind !== 'goods') throw new AppError(422, 'DELIVERY_METHOD_UNAVAILABLE', '积分商品无需配送')
  if (!methodCode) throw bad('实物商品需要选择配送方式 deliveryMethod')
  const method = deliveryOptions(product, methods).find((m) => m.code === methodCode)
  if (!method) throw new AppError(422, 'DELIVERY_METHOD_UNAVAILABLE', `该商品不支持配送方式: ${methodCode}`)
  const trimmed = address?.trim() || null
  if (method.requiresAddress && !trimmed) throw bad(`配送方式 ${method.name} 需要收货地址 deliveryAddress`)
  return { method, feeFen: method.baseFeeFen, address: method.requiresAddress ? trimmed : null }
}

export function priceOrder(product: ProductRow, input: OrderInput, methods: DeliveryMethodRow[]): PricedOrder {
  const quantity = input.quantity ?? 1
  if (product.kind === 'credits') {
    if (quantity !== 1) throw bad('积分套餐的数量只能为 1')
    if (input.deliveryMethod) throw bad('积分商品无需配送')
    if (product.packageType === 'CUSTOM') {
      const n = input.customCredits
      const min = product.minCredits ?? 100
      const max = product.maxCredits ?? 10000
      if (n === undefined || n === null) throw bad('自定义积分套餐需要 customCredits')
      if (n < min || n > max) throw new AppError(422, 'CUSTOM_CREDITS_OUT_OF_RANGE', `自定义积分数量无效，必须在${min}-${max}之间`)
      const unit = product.unitPriceFen ?? 5
      return { productName: `${product.name} ${n}积分`, credits: n, quantity: 1, unitPriceFen: n * unit, amountFen: n * unit }
    }
    if (input.customCredits !== undefined && input.customCredits !== null) throw bad('该套餐不支持自定义积分 customCredits')
    if (product.priceFen <= 0) throw new AppError(422, 'UNPROCESSABLE', '该商品没有价格，不能下单')
    return { productName: product.name, credits: product.credits, quantity: 1, unitPriceFen: product.priceFen, amountFen: product.priceFen }
  }
  if (input.customCredits !== undefined && input.customCredits !== null) throw bad('实物商品不支持 customCredits')
  if (product.priceFen <= 0) throw new AppError(422, 'UNPROCESSABLE', '该商品没有价格，不能下单')
  const fee = deliveryFee(product, methods, input.deliveryMethod, input.deliveryAddress)
  const itemsFen = product.priceFen * quantity
  const amountFen = itemsFen + fee.feeFen
  if (!Number.isSafeInteger(amountFen) || amountFen > MAX_FEN) throw bad('订单金额超出上限')
  return {
    productName: product.name,
    credits: 0,
    quantity,
    unitPriceFen: product.priceFen,
    amountFen,
    delivery: {
      method: fee.method.code,
      address: fee.address,
      contactName: input.contactName?.trim() || null,
      contactPhone: input.contactPhone?.trim() || null,
      feeFen: fee.feeFen,
    },
  }
}

/** Credits needed to pay `amountFen` (a credit is worth `creditValueFen`; rounded up, never a free fen). */
export function creditsFor(amountFen: number, creditValueFen: number): number {
  return Math.ceil(amountFen / creditValueFen)
}
