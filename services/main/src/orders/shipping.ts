/** Shipping a paid goods order: PENDING → SHIPPED → DELIVERED, forward only (guarded on the current status). */
import type { FastifyBaseLogger } from 'fastify'
import { AppError } from '@paysys/contracts'
import { DELIVERY_STATUSES, type DeliveryStatus, type OrderRow, type OrdersRepo } from './repo.ts'

export async function advanceDelivery(
  orders: Pick<OrdersRepo, 'advanceDelivery'>,
  order: OrderRow,
  to: DeliveryStatus,
  trackingNo: string | null,
  by: { adminId: number; log: FastifyBaseLogger },
): Promise<OrderRow> {
  if (order.kind !== 'goods' || order.deliveryStatus === null) throw new AppError(422, 'NOT_GOODS_ORDER', '积分订单没有配送状态')
  if (order.status !== 'PAID' && order.status !== 'PARTIALLY_REFUNDED') {
    throw new AppError(409, 'INVALID_DELIVERY_TRANSITION', `订单状态为 ${order.status}，不能发货`)
  }
  const from = order.deliveryStatus
  if (DELIVERY_STATUSES.indexOf(to) <= DELIVERY_STATUSES.indexOf(from)) {
    throw new AppError(409, 'INVALID_DELIVERY_TRANSITION', `配送状态只能向前推进：${from} → ${to} 不允许`)
  }
  const updated = await orders.advanceDelivery(order.id, from, to, trackingNo)
  if (!updated) throw new AppError(409, 'INVALID_DELIVERY_TRANSITION', '配送状态已被修改，请刷新后重试')
  by.log.info({ orderNo: order.orderNo, from, to, admin: by.adminId }, 'delivery status advanced')
  return updated
}
