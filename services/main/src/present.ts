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
    paymentChannel: o.paymentChannel,
    paidAt: iso(o.paidAt),
    payTime: iso(o.paidAt),
    expireAt: iso(o.expireAt),
    creditsGranted: o.creditsGranted,
    latePayment: o.latePayment,
    customerEmail: o.customerEmail,
    createdAt: iso(o.createdAt),
    items: [{ productId: o.productId, name: o.productName, quantity: o.quantity, credits: o.credits, price: amount }],
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
