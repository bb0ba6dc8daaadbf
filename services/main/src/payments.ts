/**
 * Starting payments through pay and bringing their outcome back into orders.
 * Either path alone gets credits granted: pay's pushed event (callback) or main's pull (status sync).
 */
import QRCode from 'qrcode'
import type { FastifyBaseLogger } from 'fastify'
import { AppError, type CreatePaymentResponse, type InterfaceType, type PayMethodInfo, type PaymentSucceededEvent } from '@paysys/contracts'
import { fenToYuanNumber } from '@paysys/money'
import type { PayClient } from './pay-client.ts'
import type { OrderRow, OrdersRepo, PaidOutcome } from './orders/repo.ts'
import { CREDITS, checkDevice, chooseMethod, type PaymentChoice } from './pay-methods.ts'

export interface PaymentInfo {
  paymentId: string
  /** The trade number the provider knows this payment by (shown in the buyer's records at the provider). */
  outTradeNo: string
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
  /** The provider's own pay_type / pay_info when it answers in seed 002's vocabulary. */
  providerPayType?: string
  payInfo?: string
}

export async function presentPaymentInfo(order: OrderRow, method: string, created: CreatePaymentResponse): Promise<PaymentInfo> {
  const info: PaymentInfo = {
    paymentId: created.paymentId,
    outTradeNo: created.outTradeNo,
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
    // SVG, not PNG: PNG encoding was ~40% of main's CPU per QR checkout under load (bench profile).
    // One byte-mode segment and a fixed mask: by default qrcode picks segments by a shortest-path search and scores
    // all eight masks, half of main's CPU per QR checkout (bench profile); any mask and segmenting scan the same.
    const svg = await QRCode.toString([{ data: Buffer.from(created.qrCode), mode: 'byte' }], {
      type: 'svg',
      margin: 1,
      width: 256,
      maskPattern: 0,
    })
    info.qrCodeUrl = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`
  }
  if (created.jsapiParams) info.jsapiParams = created.jsapiParams
  if (created.providerPayType !== undefined) info.providerPayType = created.providerPayType
  if (created.payInfo !== undefined) info.payInfo = created.payInfo
  return info
}

/** What a PAYMENT_SUCCEEDED event from pay asks of the orders repo: the payment, and the event that carries it. */
export function markPaidArgs(e: PaymentSucceededEvent): Parameters<OrdersRepo['markPaid']> {
  return [
    { orderNo: e.orderNo, amountFen: e.amount, tradeNo: e.tradeNo, paidAt: new Date(e.paidAt), provider: e.provider, channel: e.channel },
    { eventId: e.eventId, type: e.type },
  ]
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
    } else if (r.outcome === 'ALREADY_PAID' && r.order.paymentMethod === CREDITS) {
      log.error({ orderNo, source }, 'provider payment for an order already paid with credits: refund needed, needs a person')
    }
  }

  // The enabled methods, as pay's provider registry describes them (main keeps no list of its own):
  // cached briefly, and the last answer is kept for when pay is briefly unreachable.
  let enabled: { at: number; list: PayMethodInfo[] } | undefined
  async function enabledMethods(requestId?: string): Promise<PayMethodInfo[]> {
    if (enabled && Date.now() - enabled.at < 10_000) return enabled.list
    try {
      const list = await pay.methods(requestId)
      enabled = { at: Date.now(), list }
      return list
    } catch (err) {
      if (enabled) return enabled.list
      throw err
    }
  }

  return {
    /** `GET /api/payment-methods`: every enabled method with its channels (seed 004), in pay's order. */
    async listMethods(requestId?: string) {
      return (await enabledMethods(requestId)).map((m) => ({
        code: m.method,
        method: m.method,
        // Which provider serves it (the web app's footer names them; display data only).
        provider: m.provider,
        name: m.name,
        icon: m.icon,
        description: m.description,
        enabled: true,
        channels: m.channels.map((c) => ({ code: c.code, name: c.name, ...(c.aliases ? { aliases: c.aliases } : {}) })),
      }))
    },

    /**
     * The method, channel and provider for `method` (a code or an alias, any case) as pay has them
     * enabled: 400 for a channel or device the method does not have, 422 PAYMENT_METHOD_DISABLED for
     * a method pay does not list, 503 when pay cannot be asked. CREDITS is main's own (the balance).
     * Call before writing anything.
     */
    async choose(method: string, channel: string | undefined, device: string | undefined, requestId?: string): Promise<PaymentChoice> {
      checkDevice(device)
      if (method.toUpperCase() === CREDITS) return chooseMethod([], method, channel, device)
      return chooseMethod(await enabledMethods(requestId), method, channel, device)
    },

    /** Starts (or restarts) the provider payment of a pending order; `choice` comes from `choose`. */
    async start(
      order: OrderRow,
      choice: PaymentChoice,
      opts: { device?: string; clientIp?: string; openid?: string; requestId?: string; interfaceType?: InterfaceType },
    ): Promise<PaymentInfo> {
      if (order.status !== 'PENDING_PAYMENT') throw new AppError(409, 'ORDER_NOT_PAYABLE', `订单状态为 ${order.status}，不能支付`)
      if (order.expireAt.getTime() <= Date.now()) throw new AppError(409, 'ORDER_NOT_PAYABLE', '订单已过期，请重新下单')
      const { method, provider, channel } = choice
      const created = await pay.create(
        {
          orderId: order.id,
          orderNo: order.orderNo,
          amount: order.amountFen,
          subject: order.productName,
          method: provider,
          channel,
          ...(opts.device ? { device: opts.device } : {}),
          ...(opts.clientIp ? { clientIp: opts.clientIp } : {}),
          ...(opts.openid ? { openid: opts.openid } : {}),
          ...(opts.interfaceType ? { interfaceType: opts.interfaceType } : {}),
          expireAt: order.expireAt.toISOString(),
        },
        opts.requestId,
      )
      await orders.recordPaymentStarted(order.id, { method, provider, channel, paymentId: created.paymentId })
      return presentPaymentInfo(order, method, created)
    },

    /** A payment event pushed by pay; DUPLICATE when this event id was applied before. */
    async applyEvent(e: PaymentSucceededEvent): Promise<PaidOutcome> {
      const r = await orders.markPaid(...markPaidArgs(e))
      logOutcome('callback', r, e.orderNo)
      return r
    },

    /** Payments in one transaction (orders.markPaidTogether); undefined: apply them in smaller turns. */
    async applyEventsTogether(es: PaymentSucceededEvent[]): Promise<PaidOutcome[] | undefined> {
      const rs = await orders.markPaidTogether(es.map(markPaidArgs))
      rs?.forEach((r, k) => logOutcome('callback', r, es[k]!.orderNo))
      return rs
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
          provider: s.method,
          channel: s.channel,
        })
        logOutcome('status-sync', r, order.orderNo)
        return r.outcome === 'PAID' || r.outcome === 'ALREADY_PAID' || r.outcome === 'AMOUNT_MISMATCH' ? r.order : order
      } catch (err) {
        log.warn({ orderNo: order.orderNo, err: (err as Error).message }, 'payment status sync failed; answering local state')
        return order
      }
    },
  }
}
export type PaymentsService = ReturnType<typeof createPaymentsService>
