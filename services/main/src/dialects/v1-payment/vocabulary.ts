/**
 * Document 004's words and shapes ↔ main's codes and rows. Pure, except `methodWord`, which asks the
 * payments service (pay's cached method list) which of the document's words names a method.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { fenToYuanNumber } from '@paysys/money'
import type { OrderRow, OrderStatus } from '../../orders/repo.ts'
import { CREDITS } from '../../pay-methods.ts'
import type { PaymentsService } from '../../payments.ts'

/** The document's `payment_method` words: `wallet` is main's CREDITS; the others are aliases in pay's method list. */
export const V1_METHODS = ['alipay', 'wechat', 'card', 'wallet'] as const
export type V1Method = (typeof V1_METHODS)[number]
export const WALLET: V1Method = 'wallet'

/** What main's checkout is asked for: the balance, or the word itself (pay resolves its aliases). */
export const coreMethod = (word: V1Method) => (word === WALLET ? CREDITS : word)

/** The document's status words (`payment_pending`, `paid`); main's other states in the same style. */
export function statusWord(status: OrderStatus): string {
  return status === 'PENDING_PAYMENT' ? 'payment_pending' : status.toLowerCase()
}

export const unixSeconds = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : null)

/** The document's word for the method an order records (null before a payment was started). */
export async function methodWord(payments: PaymentsService, method: string | null, requestId?: string): Promise<string | null> {
  if (method === null) return null
  if (method === CREDITS) return WALLET
  for (const word of V1_METHODS) {
    if (word === WALLET) continue
    try {
      if ((await payments.choose(word, undefined, undefined, requestId)).method === method) return word
    } catch {
      // not enabled (or pay unreachable): not this word
    }
  }
  return method.toLowerCase()
}

/** Seed 004 history row: `price` is what the goods cost, `delivery_fee` on top; yuan. */
export function historyRow(o: OrderRow, word: string | null) {
  return {
    order_id: o.orderNo,
    price: fenToYuanNumber(o.amountFen - o.deliveryFeeFen),
    delivery_fee: fenToYuanNumber(o.deliveryFeeFen),
    payment_method: word,
    payment_time: unixSeconds(o.paidAt),
    status: statusWord(o.status),
  }
}

/** Where a browser follows the order live (the document's "WebSocket"); relative to main's origin (or the web app's). */
export function liveLinks(orderNo: string) {
  const base = `/api/orders/${orderNo}`
  return { stream_ticket_url: `${base}/stream-ticket`, events_url: `${base}/events`, ws_url: `${base}/ws` }
}

/** The signature of a QR page link: binds the QR content to the order, so the page renders no one else's code. */
export function qrSignature(secret: string, orderNo: string, code: string): string {
  return createHmac('sha256', secret).update(`v1-payment-qr\n${orderNo}\n${code}`).digest('base64url')
}

export function qrSignatureValid(secret: string, orderNo: string, code: string, sig: string): boolean {
  const want = Buffer.from(qrSignature(secret, orderNo, code))
  const got = Buffer.from(sig)
  return want.length === got.length && timingSafeEqual(want, got)
}
