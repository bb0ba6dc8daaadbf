import { fenToYuanNumber } from '@paysys/money'
import type { OrderRow } from './orders/repo.ts'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** Seed 003's order detail, plus our fields; local state only. */
export function presentOrder(o: OrderRow) {
  const amount = fenToYuanNumber(o.amountFen)
  return {
    id: o.id,
    orderNo: o.orderNo,
    status: o.status,
    kind: o.kind,
    productId: o.productId,
    productName: o.productName,
    packageCode: o.packageCode,
    credits: o.credits,
    quantity: o.quantity,
    amount,
    totalAmount: amount,
    payAmount: o.paidAmountFen === null ? null : fenToYuanNumber(o.paidAmountFen),
    paymentMethod: o.paymentMethod,
    paymentProvider: o.paymentProvider,
    paymentChannel: o.paymentChannel,
    paidAt: iso(o.paidAt),
    payTime: iso(o.paidAt),
    expireAt: iso(o.expireAt),
    creditsGranted: o.creditsGranted,
    creditsSpent: o.creditsSpent,
    latePayment: o.latePayment,
    customerEmail: o.customerEmail,
    refundedAmount: fenToYuanNumber(o.refundedAmountFen),
    refundTime: iso(o.refundedAt),
    ...(o.kind === 'goods'
      ? {
          delivery: {
            method: o.deliveryMethod,
            address: o.deliveryAddress,
            contactName: o.contactName,
            contactPhone: o.contactPhone,
            fee: fenToYuanNumber(o.deliveryFeeFen),
            status: o.deliveryStatus,
            trackingNo: o.trackingNo,
            shippedAt: iso(o.shippedAt),
            deliveredAt: iso(o.deliveredAt),
          },
          deliveryMethod: o.deliveryMethod,
          deliveryAddress: o.deliveryAddress,
          deliveryFee: fenToYuanNumber(o.deliveryFeeFen),
          deliveryStatus: o.deliveryStatus,
        }
      : {}),
    remark: o.remark,
    createdAt: iso(o.createdAt),
    updatedAt: iso(o.updatedAt),
    items: [
      {
        productId: o.productId,
        name: o.productName,
        quantity: o.quantity,
        credits: o.credits,
        price: fenToYuanNumber(o.unitPriceFen ?? o.amountFen - o.deliveryFeeFen),
        subtotal: fenToYuanNumber(o.amountFen - o.deliveryFeeFen),
      },
    ],
  }
}

/** Seed 000 §4.2's history row (orderId is the orderNo), plus id and orderNo. */
export function presentHistoryRow(o: OrderRow) {
  return {
    orderId: o.orderNo,
    id: o.id,
    orderNo: o.orderNo,
    kind: o.kind,
    packageName: o.productName,
    credits: o.credits,
    quantity: o.quantity,
    amount: fenToYuanNumber(o.amountFen),
    refundedAmount: fenToYuanNumber(o.refundedAmountFen),
    status: o.status,
    paymentMethod: o.paymentMethod,
    createdAt: iso(o.createdAt),
    paidAt: iso(o.paidAt),
  }
}

/** Seed 003's payment-status mapping. */
export function paymentStatusOf(status: OrderRow['status']): 'PENDING' | 'PAID' | 'FAILED' {
  if (status === 'PENDING_PAYMENT') return 'PENDING'
  if (status === 'PAID' || status === 'PARTIALLY_REFUNDED' || status === 'REFUNDED') return 'PAID'
  return 'FAILED'
}

/** Seed 000's `/payment-orders/{orderId}/status` shape (orderId is the orderNo). */
export function presentOrderStatus(o: OrderRow) {
  return {
    orderId: o.orderNo,
    id: o.id,
    orderNo: o.orderNo,
    status: o.status,
    amount: fenToYuanNumber(o.amountFen),
    paidAt: iso(o.paidAt),
    creditsGranted: o.creditsGranted,
    creditsAmount: o.credits,
    latePayment: o.latePayment,
    expireAt: iso(o.expireAt),
  }
}
