/**
 * Starting payments through pay and bringing their outcome back into orders.
 * Either path alone gets credits granted: pay's pushed event (callback) or main's pull (status sync).
 */
import QRCode from 'qrcode'
import type { FastifyBaseLogger } from 'fastify'
import { AppError, type CreatePaymentResponse, type PaymentSucceededEvent } from '@paysys/contracts'
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

/** Channels per method (SPEC §4). BANK_CARD is Epay's `bank` type; CREDITS pays from the balance. */
export const CHANNELS: Record<Method, readonly string[]> = {
  ALIPAY: ['page', 'wap', 'qr'],
  WECHAT_PAY: ['native', 'jsapi', 'h5'],
  EPAY: ['alipay', 'wxpay', 'qqpay', 'bank'],
  BANK_CARD: ['bank'],
  CREDITS: ['balance'],
}

/** The provider (in pay) behind a method. */
export function providerOf(method: Method): string {
  return method === 'BANK_CARD' ? 'EPAY' : method
}

export function normaliseMethod(input: string): Method {
  const upper = input.toUpperCase()
  if ((METHODS as readonly string[]).includes(upper)) return upper as Method
  const alias = METHOD_ALIASES[input.toLowerCase()]
  if (alias) return alias
  throw new AppError(400, 'INVALID_PARAMS', `不支持的支付方式: ${input}`)
}

/** The default channel for a device (seed 002): pc → page/native, mobile → wap/h5, WeChat browser → jsapi. */
function channelForDevice(method: Method, device: string | undefined): string {
  switch (method) {
    case 'ALIPAY':
      return device === 'mobile' || device === 'alipay' ? 'wap' : device === 'wechat' || device === 'qq' ? 'qr' : 'page'
    case 'WECHAT_PAY':
      return device === 'wechat' ? 'jsapi' : device === 'mobile' ? 'h5' : 'native'
    case 'EPAY':
      return device === 'wechat' ? 'wxpay' : device === 'qq' ? 'qqpay' : 'alipay'
    case 'BANK_CARD':
      return 'bank'
    case 'CREDITS':
      return 'balance'
  }
}

/** Picks the channel from an explicit channel, else from the device. Pure validation; see `ensureEnabled`. */
export function resolveChannel(method: Method, channel: string | undefined, device: string | undefined): string {
  if (device !== undefined && !(DEVICES as readonly string[]).includes(device))
    throw new AppError(400, 'INVALID_PARAMS', `无效的设备类型: ${device}`)
  if (channel !== undefined) {
    if (!CHANNELS[method].includes(channel))
      throw new AppError(400, 'INVALID_PARAMS', `无效的支付渠道: ${channel}（${method} 支持 ${CHANNELS[method].join('/')}）`)
    return channel
  }
  return channelForDevice(method, device)
}

/** WeChat JSAPI pays as a known WeChat user: without the payer's openid there is nothing to start. */
export function requireOpenidFor(channel: string, openid: string | null | undefined): void {
  if (channel === 'jsapi' && !openid)
    throw new AppError(
      400,
      'INVALID_PARAMS',
      '微信JSAPI支付需要用户的 openid：请在请求中提供 openid，或先通过 PATCH /api/users/me 绑定 wechatOpenid',
    )
}

/** Display data for `GET /api/payment-methods` (seed 004). */
export const METHOD_INFO: Record<Exclude<Method, 'CREDITS'>, { name: string; icon: string; description: string }> = {
  ALIPAY: { name: '支付宝', icon: '/icons/alipay.svg', description: '支付宝扫码或网页支付' },
  WECHAT_PAY: { name: '微信支付', icon: '/icons/wechat.svg', description: '微信扫码、公众号或H5支付' },
  EPAY: { name: '易支付', icon: '/icons/epay.svg', description: '聚合支付（支付宝/微信/QQ钱包）' },
  BANK_CARD: { name: '银行卡', icon: '/icons/bank.svg', description: '通过易支付的网银通道' },
}
export const CHANNEL_NAMES: Record<string, string> = {
  page: '电脑网站支付',
  wap: '手机网站支付',
  qr: '扫码支付',
  native: '扫码支付',
  jsapi: '微信内支付',
  h5: 'H5支付',
  alipay: '支付宝',
  wxpay: '微信支付',
  qqpay: 'QQ钱包',
  bank: '网银支付',
  balance: '积分余额',
}

export interface PaymentInfo {
  paymentId: string
  /** The trade number the provider knows this payment by (shown in the buyer's Alipay/WeChat records). */
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
    const svg = await QRCode.toString(created.qrCode, { type: 'svg', margin: 1, width: 256 })
    info.qrCodeUrl = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`
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
    } else if (r.outcome === 'ALREADY_PAID' && r.order.paymentMethod === 'CREDITS') {
      log.error({ orderNo, source }, 'provider payment for an order already paid with credits: refund needed, needs a person')
    }
  }

  // The enabled providers, as pay reports them; cached briefly, and the last answer is kept
  // for when pay is briefly unreachable.
  let enabled: { at: number; list: { method: string; channels: string[] }[] } | undefined
  async function enabledProviders(requestId?: string) {
    if (enabled && Date.now() - enabled.at < 10_000) return enabled.list
    try {
      const list = (await pay.methods(requestId)).map((m) => ({ ...m, method: m.method === 'WECHAT' ? 'WECHAT_PAY' : m.method }))
      enabled = { at: Date.now(), list }
      return list
    } catch (err) {
      if (enabled) return enabled.list
      throw err
    }
  }

  return {
    /** `GET /api/payment-methods`: every enabled method with its channels (seed 004). */
    async listMethods(requestId?: string) {
      const list = await enabledProviders(requestId)
      const has = (p: string, ch?: string) => list.some((m) => m.method === p && (!ch || m.channels.includes(ch)))
      const methods = (Object.keys(METHOD_INFO) as (keyof typeof METHOD_INFO)[]).filter((m) =>
        m === 'BANK_CARD' ? has('EPAY', 'bank') : has(m),
      )
      return methods.map((m) => {
        const provider = list.find((p) => p.method === providerOf(m))!
        const channels = CHANNELS[m].filter((c) => provider.channels.includes(c))
        return {
          code: m,
          method: m,
          ...METHOD_INFO[m],
          enabled: true,
          channels: channels.map((c) => ({ code: c, name: CHANNEL_NAMES[c] ?? c })),
        }
      })
    },

    /** 422 PAYMENT_METHOD_DISABLED unless pay has the method's provider (and channel) configured. Call before writing anything. */
    async ensureEnabled(method: Method, channel: string, requestId?: string): Promise<void> {
      if (method === 'CREDITS') return
      const list = await enabledProviders(requestId)
      const provider = list.find((p) => p.method === providerOf(method))
      if (!provider || !provider.channels.includes(channel))
        throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `支付方式未启用: ${method}${provider ? ` (${channel})` : ''}`)
    },

    async start(
      order: OrderRow,
      method: Method,
      channel: string,
      opts: { device?: string; clientIp?: string; openid?: string; requestId?: string },
    ): Promise<PaymentInfo> {
      if (order.status !== 'PENDING_PAYMENT') throw new AppError(409, 'ORDER_NOT_PAYABLE', `订单状态为 ${order.status}，不能支付`)
      if (order.expireAt.getTime() <= Date.now()) throw new AppError(409, 'ORDER_NOT_PAYABLE', '订单已过期，请重新下单')
      await this.ensureEnabled(method, channel, opts.requestId)
      const created = await pay.create(
        {
          orderId: order.id,
          orderNo: order.orderNo,
          amount: order.amountFen,
          subject: order.productName,
          method: providerOf(method),
          channel,
          ...(opts.device ? { device: opts.device } : {}),
          ...(opts.clientIp ? { clientIp: opts.clientIp } : {}),
          ...(opts.openid ? { openid: opts.openid } : {}),
          expireAt: order.expireAt.toISOString(),
        },
        opts.requestId,
      )
      await orders.recordPaymentStarted(order.id, { method, channel, paymentId: created.paymentId })
      return presentPaymentInfo(order, method, created)
    },

    /** A payment event pushed by pay. */
    async applyEvent(e: PaymentSucceededEvent): Promise<PaidOutcome> {
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
