/**
 * Shapes shared between services: the response envelope, the closed list of error codes,
 * the pay service's signed API (main → pay) and the events pay pushes to main.
 * Amounts between services are integer fen.
 */
import { Type, type Static } from 'typebox'

/** Every JSON answer: `{code, message, data, timestamp}`; errors add `error` (stable code). */
export interface Envelope<T> {
  code: number
  message: string
  data: T
  timestamp: number
  error?: ErrorCode
}

export const ERROR_CODES = [
  'INVALID_PARAMS',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'PACKAGE_NOT_FOUND',
  'ORDER_NOT_FOUND',
  'PAYMENT_NOT_FOUND',
  'CONFLICT',
  'DUPLICATE',
  'EMAIL_TAKEN',
  'INVALID_CREDENTIALS',
  'INSUFFICIENT_CREDITS',
  'ORDER_NOT_PAYABLE',
  'AMOUNT_MISMATCH',
  'IDEMPOTENCY_KEY_REUSED',
  'CUSTOM_CREDITS_OUT_OF_RANGE',
  'PAYMENT_METHOD_DISABLED',
  'UNPROCESSABLE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'SERVICE_AUTH_FAILED',
  'PROVIDER_ERROR',
  'PAY_SERVICE_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_ERROR',
  // orders, catalogue, delivery, refunds, ledger (issue 4)
  'PRODUCT_NOT_FOUND',
  'USER_NOT_FOUND',
  'REFUND_NOT_FOUND',
  'DELIVERY_METHOD_UNAVAILABLE',
  'ORDER_NOT_CANCELLABLE',
  'ORDER_ALREADY_PAID',
  'ORDER_NOT_REFUNDABLE',
  'REFUND_AMOUNT_EXCEEDED',
  'REFUND_CONFLICT',
  'CREDITS_ALREADY_SPENT',
  'NOT_GOODS_ORDER',
  'INVALID_DELIVERY_TRANSITION',
  'IDEMPOTENCY_KEY_IN_PROGRESS',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

export function ok<T>(data: T, message = 'success'): Envelope<T> {
  return { code: 200, message, data, timestamp: Date.now() }
}

export function fail(status: number, error: ErrorCode, message: string): Envelope<null> {
  return { code: status, message, data: null, timestamp: Date.now(), error }
}

/** A typed error carrying its HTTP status and stable code; mapped to the envelope in one error handler. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly error: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'AppError'
  }
}

// ---- pay service API (signed; called by main) ----

export const PAY_METHODS = ['ALIPAY'] as const
export const ALIPAY_CHANNELS = ['page', 'wap', 'qr'] as const
export const PAY_TYPES = ['form', 'jump', 'qrcode', 'jsapi'] as const

export const CreatePaymentRequest = Type.Object(
  {
    orderId: Type.Integer({ minimum: 1 }),
    orderNo: Type.String({ pattern: '^[A-Za-z0-9_-]{6,64}$' }),
    /** Integer fen. */
    amount: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
    subject: Type.String({ minLength: 1, maxLength: 128 }),
    /** ALIPAY | WECHAT_PAY | EPAY (pay answers 422 PAYMENT_METHOD_DISABLED for one it has no config for). */
    method: Type.String({ pattern: '^[A-Z_]{2,32}$' }),
    channel: Type.String({ minLength: 1, maxLength: 16 }),
    device: Type.Optional(Type.String({ maxLength: 16 })),
    openid: Type.Optional(Type.String({ maxLength: 128 })),
    clientIp: Type.Optional(Type.String({ maxLength: 64 })),
    /** ISO-8601; the provider trade is created to expire then. */
    expireAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
)
export type CreatePaymentRequest = Static<typeof CreatePaymentRequest>

export interface CreatePaymentResponse {
  paymentId: string
  orderNo: string
  /** The merchant trade number this attempt was sent to the provider with (orderNo, or orderNo_N for a later attempt). */
  outTradeNo: string
  method: string
  channel: string
  payType: (typeof PAY_TYPES)[number]
  amount: number
  formHtml?: string
  paymentUrl?: string
  qrCode?: string
  jsapiParams?: Record<string, string>
  expireAt: string | null
}

export const PAYMENT_STATUSES = ['PENDING', 'PAID', 'FAILED', 'CLOSED', 'REFUNDED'] as const
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number]

export interface PaymentStatusResponse {
  orderNo: string
  /** The provider trade number of the attempt that speaks for the order. */
  outTradeNo: string
  status: PaymentStatus
  paidAt: string | null
  tradeNo: string | null
  /** Integer fen. */
  amount: number
  method: string
  channel: string
}

// ---- refunds (signed; called by main) ----

export const RefundRequest = Type.Object(
  {
    orderNo: Type.String({ pattern: '^[A-Za-z0-9_-]{6,64}$' }),
    /** Unique per refund; a repeat with the same refundNo (and amount) returns the first result. */
    refundNo: Type.String({ pattern: '^[A-Za-z0-9_-]{6,64}$' }),
    /** Integer fen; never above paid − refunded. */
    amount: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
    reason: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
)
export type RefundRequest = Static<typeof RefundRequest>

export const REFUND_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED'] as const
export type RefundStatus = (typeof REFUND_STATUSES)[number]

export interface RefundResponse {
  refundNo: string
  orderNo: string
  /** Integer fen of this refund. */
  amount: number
  /** PENDING: not confirmed by the provider yet (asking again with the same refundNo retries). */
  status: RefundStatus
  /** Integer fen refunded so far for the order (succeeded refunds). */
  totalRefunded: number
  refundedAt: string | null
  failureReason: string | null
  provider: string
}

// ---- events pushed by pay to main at POST /api/orders/callback (signed) ----

export const PaymentSucceededEvent = Type.Object(
  {
    /** Unique per event; main processes each event id once. */
    eventId: Type.String({ minLength: 8, maxLength: 64 }),
    type: Type.Literal('PAYMENT_SUCCEEDED'),
    orderId: Type.Integer({ minimum: 1 }),
    orderNo: Type.String({ minLength: 6, maxLength: 64 }),
    /** Integer fen actually paid. */
    amount: Type.Integer({ minimum: 1 }),
    provider: Type.String(),
    channel: Type.String(),
    tradeNo: Type.String(),
    paidAt: Type.String(),
  },
  { additionalProperties: false },
)
export type PaymentSucceededEvent = Static<typeof PaymentSucceededEvent>

/** A refund the provider confirmed. */
export const RefundSucceededEvent = Type.Object(
  {
    eventId: Type.String({ minLength: 8, maxLength: 64 }),
    type: Type.Literal('REFUND_SUCCEEDED'),
    orderId: Type.Integer({ minimum: 1 }),
    orderNo: Type.String({ minLength: 6, maxLength: 64 }),
    refundNo: Type.String({ minLength: 6, maxLength: 64 }),
    /** Integer fen of this refund. */
    amount: Type.Integer({ minimum: 1 }),
    /** Integer fen refunded so far for the order, this refund included. */
    totalRefunded: Type.Integer({ minimum: 1 }),
    provider: Type.String(),
    refundedAt: Type.String(),
  },
  { additionalProperties: false },
)
export type RefundSucceededEvent = Static<typeof RefundSucceededEvent>

/** Every event pay pushes to main (discriminated by `type`). */
export const PaymentEvent = Type.Union([PaymentSucceededEvent, RefundSucceededEvent])
export type PaymentEvent = Static<typeof PaymentEvent>
