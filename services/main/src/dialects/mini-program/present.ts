/** Seed 001's shapes (snake_case, bare JSON, yuan numbers) over main's rows. */
import { fenToYuanNumber } from '@paysys/money'
import type { ProductRow } from '../../catalog.ts'
import type { OrderRow } from '../../orders/repo.ts'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** Seed 001's five status words. */
export type MiniStatus = 'pending' | 'paid' | 'completed' | 'cancelled' | 'refunded'

/**
 * pending = awaiting payment; completed = paid and delivered (a credits order is delivered when its credits are
 * granted, goods when DELIVERED); paid = paid, not yet delivered; refunded = (partly) refunded; cancelled =
 * cancelled, expired or failed.
 */
export function miniStatus(o: OrderRow): MiniStatus {
  switch (o.status) {
    case 'PENDING_PAYMENT':
      return 'pending'
    case 'PAID':
      return (o.kind === 'credits' ? o.creditsGranted : o.deliveryStatus === 'DELIVERED') ? 'completed' : 'paid'
    case 'PARTIALLY_REFUNDED':
    case 'REFUNDED':
      return 'refunded'
    case 'CANCELLED':
    case 'EXPIRED':
    case 'FAILED':
      return 'cancelled'
  }
}

export const isPaid = (s: MiniStatus) => s === 'paid' || s === 'completed'

export function miniProduct(p: ProductRow) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    credits: p.credits,
    price: fenToYuanNumber(p.priceFen),
    image_url: p.imageUrl,
    is_active: p.isActive,
    sort_order: p.displayOrder,
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
  }
}

function orderBase(o: OrderRow) {
  return {
    id: o.id,
    order_no: o.orderNo,
    amount: fenToYuanNumber(o.amountFen),
    credits: o.credits,
    status: miniStatus(o),
    /** The provider's transaction number (e.g. 4200…), once paid. */
    payment_id: o.paidAt ? o.tradeNo : null,
    payment_time: iso(o.paidAt),
    refund_time: iso(o.refundedAt),
    remark: o.remark,
    created_at: o.createdAt.toISOString(),
    updated_at: o.updatedAt.toISOString(),
  }
}

/** §2.3 list row. */
export function miniOrderRow(o: OrderRow) {
  return { ...orderBase(o), user_id: o.userId, product_id: o.productId }
}

/** §2.4 detail: with the product's name, description and image. */
export function miniOrderDetail(o: OrderRow, product: ProductRow | undefined) {
  return {
    ...orderBase(o),
    product_name: o.productName,
    product_description: product?.description ?? null,
    product_image_url: product?.imageUrl ?? null,
  }
}

const STATUS_MESSAGES: Record<MiniStatus, string> = {
  pending: '等待支付',
  paid: '支付成功',
  completed: '支付成功',
  cancelled: '支付失败或已取消',
  refunded: '订单已退款',
}

/** The payment-status answer. */
export function miniPaymentStatus(o: OrderRow) {
  const status = miniStatus(o)
  return { order_id: o.id, status, paid: isPaid(status), message: STATUS_MESSAGES[status] }
}
