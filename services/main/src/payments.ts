/**
 * Starting payments through pay and bringing their outcome back into orders.
 * Either path alone gets credits granted: pay's pushed event (callback) or main's pull (status sync).
 */
import QRCode from 'qrcode'
import type { FastifyBaseLogger } from 'fastify'
import { AppError, type CreatePaymentResponse, type PaymentEvent } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { PayClient } from './pay-client.ts'
import type { OrderRow, OrdersRepo, PaidOutcome } from './orders/repo.ts'

export const METHODS = ['ALIPAY', 'WECHAT_PAY', 'EPAY', 'BANK_CARD', 'CREDITS'] as const
export type Method = (typeof METHODS)[number]
const METHOD_ALIASES: Record<string, Method> = {
  alipay: 'ALIPAY',
  wechat: 'WECHAT_PAY',
  wechat_pay: 'WECHAT_PAY',
  wxpay: 'WECHAT_PAY',
  epay: 'EPAY',
  bank_card: 'BANK_CARD',
  bank: 'BANK_CARD',
  credits: 'CREDITS',
}
export const DEVICES = ['pc', 'mobile', 'wechat', 'alipay', 'qq'] as const
const ALIPAY_CHANNELS = ['page', 'wap', 'qr'] as const

/** Methods this build of main can route to pay. The others answer 422 until their adapters land. */
const SUPPORTED: readonly Method[] = ['ALIPAY']

export function normaliseMethod(input: string): Method {
  const upper = input.toUpperCase()
  if ((METHODS as readonly string[]).includes(upper)) return upper as Method
  const alias = METHOD_ALIASES[input.toLowerCase()]
  if (alias) return alias
  throw new AppError(400, 'INVALID_PARAMS', `不支持的支付方式: ${input}`)
}

/** Picks the channel from an explicit channel, else from the device (seed 002). */
export function resolveChannel(method: Method, channel: string | undefined, device: string | undefined): string {
  if (!SUPPORTED.includes(method)) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `支付方式未启用: ${method}`)
  if (device !== undefined && !(DEVICES as readonly string[]).includes(device))
    throw new AppError(400, 'INVALID_PARAMS', `无效的设备类型: ${device}`)
  if (channel !== undefined) {
    if (!(ALIPAY_CHANNELS as readonly string[]).includes(channel)) throw new AppError(400, 'INVALID_PARAMS', `无效的支付渠道: ${channel}`)
    return channel
  }
  return device === 'mobile' || device === 'alipay' ? 'wap' : 'page'
}

export interface PaymentInfo {
  paymentId: string
  paymentMethod: string
  channel: string
  payType: string
  amount: number
  currency: 'CNY'
  expireTime: string
  formHtml?: string
  paymentUrl?: string
  qrCode?: string
  qrCodeUrl?: string
  jsapiParams?: Record<string, string>
}

export async function presentPaymentInfo(order: OrderRow, method: string, created: CreatePaymentResponse): Promise<PaymentInfo> {
  const info: PaymentInfo = {
    paymentId: created.paymentId,
    paymentMethod: method,
    channel: created.channel,
    payType: created.payType,
    amount: fenToYuanNumber(order.amountFen),
    currency: 'CNY',
    expireTime: order.expireAt.toISOString(),
  }
  if (created.formHtml) info.formHtml = created.formHtml
  if (created.paymentUrl) info.paymentUrl = created.paymentUrl
  if (created.qrCode) {
    info.qrCode = created.qrCode
    // Rendered here: a QR code is never sent to a third-party image service.
    info.qrCodeUrl = await QRCode.toDataURL(created.qrCode, { margin: 1, width: 256 })
  }
  if (created.jsapiParams) info.jsapiParams = created.jsapiParams
  return info
}

export function createPaymentsService(deps: { orders: OrdersRepo; pay: PayClient; log: FastifyBaseLogger }) {
  const { orders, pay, log } = deps

  function logOutcome(source: string, r: PaidOutcome, orderNo: string) {
    if (r.outcome === 'PAID') {
      const o = r.order
      if (o.latePayment) log.warn({ orderNo, source }, 'late payment: order was no longer pending, marked PAID and credited')
      else log.info({ orderNo, source, credits: o.credits }, 'order paid')
    } else if (r.outcome === 'AMOUNT_MISMATCH') {
      log.error({ orderNo, source }, 'paid amount differs from the order amount: not credited, needs a person')
    }
  }

  return {
    async start(
      order: OrderRow,
      method: Method,
      channel: string,
      opts: { device?: string; clientIp?: string; requestId?: string },
    ): Promise<PaymentInfo> {
      if (order.status !== 'PENDING_PAYMENT') throw new AppError(409, 'ORDER_NOT_PAYABLE', `订单状态为 ${order.status}，不能支付`)
      if (order.expireAt.getTime() <= Date.now()) throw new AppError(409, 'ORDER_NOT_PAYABLE', '订单已过期，请重新下单')
      const created = await pay.create(
        {
          orderId: order.id,
          orderNo: order.orderNo,
          amount: order.amountFen,
          subject: order.productName,
          method,
          channel,
          ...(opts.device ? { device: opts.device } : {}),
          ...(opts.clientIp ? { clientIp: opts.clientIp } : {}),
          expireAt: order.expireAt.toISOString(),
        },
        opts.requestId,
      )
      await orders.recordPaymentStarted(order.id, { method, channel, paymentId: created.paymentId })
      return presentPaymentInfo(order, method, created)
    },

    /** A payment event pushed by pay. */
    async applyEvent(e: PaymentEvent): Promise<PaidOutcome> {
      const r = await orders.markPaid({
        orderNo: e.orderNo,
        amountFen: e.amount,
        tradeNo: e.tradeNo,
        paidAt: new Date(e.paidAt),
        method: e.provider,
        channel: e.channel,
      })
      logOutcome('callback', r, e.orderNo)
      return r
    },

    /**
     * While an order is pending and a payment was started, ask pay (which asks the provider).
     * Pay being down or slow is not an error here: the caller gets the local state.
     */
    async sync(order: OrderRow, requestId?: string): Promise<OrderRow> {
      if (order.status !== 'PENDING_PAYMENT' || !order.paymentId) return order
      try {
        const s = await pay.status(order.orderNo, requestId)
        if (s.status !== 'PAID' || !s.paidAt) return order
        const r = await orders.markPaid({
          orderNo: order.orderNo,
          amountFen: s.amount,
          tradeNo: s.tradeNo ?? '',
          paidAt: new Date(s.paidAt),
          method: s.method,
          channel: s.channel,
        })
        logOutcome('status-sync', r, order.orderNo)
        return r.outcome === 'NOT_FOUND' ? order : r.order
      } catch (err) {
        log.warn({ orderNo: order.orderNo, err: (err as Error).message }, 'payment status sync failed; answering local state')
        return order
      }
    },
  }
}
export type PaymentsService = ReturnType<typeof createPaymentsService>
