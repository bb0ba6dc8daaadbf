/**
 * Shapes shared between services: the response envelope, the closed list of error codes,
 * the pay service's signed API (main → pay) and the events pay pushes to main.
 * Amounts between services are integer fen.
 */
import { Type, type Static, type TObjectOptions, type TProperties, type TSchema } from 'typebox'

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
  // reconciliation against provider bills (issue 8)
  'BILL_UNAVAILABLE',
  'RECONCILIATION_RUNNING',
  // live order status streams (issue 18)
  'STREAM_TICKET_INVALID',
  'TOO_MANY_STREAMS',
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

export const PAY_TYPES = ['form', 'jump', 'qrcode', 'jsapi'] as const

/** Seed 002's `method` values (Epay V2's 接口类型), see CreatePaymentRequest.interfaceType. */
export const INTERFACE_TYPES = ['web', 'jump', 'jsapi', 'app', 'scan', 'applet'] as const
export type InterfaceType = (typeof INTERFACE_TYPES)[number]

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
    /**
     * Seed 002's `method` (接口类型): how the buyer pays — `web` (the provider picks by device), `jump` (a
     * URL only), `jsapi`, `app`, `scan`, `applet`. A provider whose API has this vocabulary passes it
     * through; the others map `jump` onto a jump and ignore the rest. Absent: `web`.
     */
    interfaceType: Type.Optional(
      Type.Union([
        Type.Literal('web'),
        Type.Literal('jump'),
        Type.Literal('jsapi'),
        Type.Literal('app'),
        Type.Literal('scan'),
        Type.Literal('applet'),
      ]),
    ),
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
  /**
   * When the provider answered in seed 002's vocabulary (Epay V2 `pay_type` / `pay_info`): its words as
   * they came, for a dialect that shows them as they are (`jump`, `qrcode`, `html`, `urlscheme`, …).
   */
  providerPayType?: string
  payInfo?: string
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

/** ABNORMAL: accepted by the provider but stuck there, waiting for a person; not final, nothing given back. */
export const REFUND_STATUSES = ['PENDING', 'SUCCEEDED', 'ABNORMAL', 'FAILED'] as const
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
    amount: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
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
    amount: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
    /** Integer fen refunded so far for the order, this refund included. */
    totalRefunded: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
    provider: Type.String(),
    refundedAt: Type.String(),
  },
  { additionalProperties: false },
)
export type RefundSucceededEvent = Static<typeof RefundSucceededEvent>

/** Every event pay pushes to main (discriminated by `type`). */
export const PaymentEvent = Type.Union([PaymentSucceededEvent, RefundSucceededEvent])
export type PaymentEvent = Static<typeof PaymentEvent>

/**
 * pay's bulk delivery, `POST /api/orders/callbacks` (signed like the single callback): up to
 * CALLBACK_BATCH_MAX events, each applied once by event id and on its own. Every event needs an
 * eventId here (an answer is per event id); the rest of each event is checked one by one, so one
 * malformed event fails alone.
 */
export const CALLBACK_BATCH_MAX = 200
export const PaymentEventBatch = Type.Object(
  {
    events: Type.Array(Type.Object({ eventId: Type.String({ minLength: 8, maxLength: 64 }) }, { additionalProperties: true }), {
      minItems: 1,
      maxItems: CALLBACK_BATCH_MAX,
    }),
  },
  { additionalProperties: false },
)
/** One event's answer in a bulk delivery: `outcome` when main applied it (or had before), else why not. */
export type EventResult = { eventId: string; outcome: string } | { eventId: string; status: number; error: ErrorCode; message: string }

// ---- HTTP response schemas (OpenAPI at /docs; fastify also writes the responses with them) ----
//
// fast-json-stringify writes only what a response schema declares and coerces what it declares:
// a closed object drops the properties it does not list, a non-nullable field writes null as 0 or
// "", an `integer` rounds 9.9. So every object here is open (the listed properties documented and
// typed, anything else written as it is), nullable fields say so, and yuan amounts are `number`.

/**
 * `T | null` for a schema with one `type`, as `type: [T, 'null']`: fast-json-stringify picks the
 * branch of such a type list with `typeof`, whereas for `anyOf` it runs a validator on the value
 * and throws (a 500) when no branch matches exactly (a format, an enum).
 */
export function Nullable<T extends TSchema>(schema: T) {
  const { type, enum: values } = schema as { type?: unknown; enum?: unknown[] }
  if (typeof type !== 'string') throw new Error('Nullable: the schema must have one `type`')
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'], ...(values ? { enum: [...values, null] } : {}) })
}

/** An object whose listed properties are documented; any other property is kept as it is. */
export const OpenObject = <T extends TProperties>(properties: T, options: TObjectOptions = {}) =>
  Type.Object(properties, { additionalProperties: true, ...options })

/** A string from a closed list: documented as an enum, written as the string it is. */
export const StringEnum = <const T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })

/** A timestamp as the API writes it (ISO-8601, UTC). */
export const IsoTime = (description?: string) => Type.String({ format: 'date-time', ...(description ? { description } : {}) })

/** `{code: 200, message, data, timestamp}` around `data`. */
export const OkEnvelope = <T extends TSchema>(data: T, description = '成功 (code 200)') =>
  OpenObject(
    {
      code: Type.Integer({ description: '200 on success' }),
      message: Type.String(),
      data,
      timestamp: Type.Integer({ description: 'milliseconds since the epoch' }),
    },
    { description },
  )

const ErrorEnvelopeProperties = {
  code: Type.Integer({ description: 'the HTTP status' }),
  message: Type.String({ description: 'for people (Chinese by default)' }),
  data: Type.Unknown({ description: 'null, or details (409 ORDER_NOT_PAYABLE from pay carries the paid PaymentStatusResponse)' }),
  timestamp: Type.Integer({ description: 'milliseconds since the epoch' }),
  error: StringEnum(ERROR_CODES, { description: 'stable error code' }),
}

/** `{code, message, data, timestamp, error}`: every error answer (the one error handler writes it with `fail`). */
export const ErrorEnvelope = (description = '错误') => Type.Unsafe<Envelope<unknown>>(OpenObject(ErrorEnvelopeProperties, { description }))

const ERROR_DESCRIPTIONS = {
  400: 'INVALID_PARAMS: 请求参数无效',
  401: 'UNAUTHORIZED / SERVICE_AUTH_FAILED / INVALID_CREDENTIALS: 未认证',
  403: 'FORBIDDEN: 无权访问',
  404: '*_NOT_FOUND: 不存在',
  409: 'conflict: duplicate, state, idempotency key, insufficient credits',
  413: 'PAYLOAD_TOO_LARGE: 请求体过大',
  415: 'UNSUPPORTED_MEDIA_TYPE: 不支持的内容类型',
  422: 'semantic: CUSTOM_CREDITS_OUT_OF_RANGE, PAYMENT_METHOD_DISABLED, …',
  429: 'RATE_LIMITED: 请求过于频繁',
  502: 'PROVIDER_ERROR / PAY_SERVICE_UNAVAILABLE: 上游不可用',
  503: 'SERVICE_UNAVAILABLE / PAY_SERVICE_UNAVAILABLE: 服务暂不可用',
  '4xx': 'any other client error (e.g. 413, 415), same envelope',
} as const
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS

/** Response schemas for the error statuses a route answers: `{...errorResponses(400, 404)}`. */
export function errorResponses<const S extends readonly ErrorStatus[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((s) => [s, ErrorEnvelope(ERROR_DESCRIPTIONS[s])])) as {
    [K in S[number]]: ReturnType<typeof ErrorEnvelope>
  }
}

/** Seed 000 §4.2 paging: `{content, totalElements, totalPages, page (0-based), size}`. */
export const PageSchema = <T extends TSchema>(item: T) =>
  OpenObject({
    content: Type.Array(item),
    totalElements: Type.Integer(),
    totalPages: Type.Integer(),
    page: Type.Integer({ description: '0-based' }),
    size: Type.Integer(),
  })

/** A request with no parameters (stated, so that every route declares its input). */
export const NoQuery = Type.Object({}, { description: 'no parameters' })

/** The signed service-call headers (HMAC-SHA256 over method, path, timestamp, nonce and body hash). */
export const ServiceAuthHeaders = Type.Object({
  'x-svc-key-id': Type.String({ minLength: 1, description: 'id of the shared key (SERVICE_KEYS)' }),
  'x-svc-timestamp': Type.String({ minLength: 1, description: 'unix seconds; ±300 s' }),
  'x-svc-nonce': Type.String({ minLength: 1, description: 'accepted once' }),
  'x-svc-signature': Type.String({ minLength: 1, description: 'HMAC-SHA256 of method, path, timestamp, nonce and body hash' }),
})

// pay's answers to main (integer fen), as schemas of the interfaces above.

export const CreatePaymentResponseSchema = OpenObject({
  paymentId: Type.String(),
  orderNo: Type.String(),
  outTradeNo: Type.String({ description: 'the merchant trade number sent to the provider' }),
  method: Type.String(),
  channel: Type.String(),
  payType: StringEnum(PAY_TYPES),
  amount: Type.Integer({ description: 'fen' }),
  formHtml: Type.Optional(Type.String({ description: 'payType form: an auto-submitting HTML form' })),
  paymentUrl: Type.Optional(Type.String({ description: 'payType jump (and the GET variant of form)' })),
  qrCode: Type.Optional(Type.String({ description: 'payType qrcode: the raw QR content' })),
  jsapiParams: Type.Optional(OpenObject({}, { description: 'payType jsapi: appId, timeStamp, nonceStr, package, signType, paySign' })),
  providerPayType: Type.Optional(Type.String({ description: "the provider's own pay_type (Epay V2), as answered" })),
  payInfo: Type.Optional(Type.String({ description: "the provider's own pay_info (Epay V2), as answered" })),
  expireAt: Nullable(IsoTime()),
})

export const PaymentStatusResponseSchema = OpenObject({
  orderNo: Type.String(),
  outTradeNo: Type.String(),
  status: StringEnum(PAYMENT_STATUSES),
  paidAt: Nullable(IsoTime()),
  tradeNo: Nullable(Type.String()),
  amount: Type.Integer({ description: 'fen' }),
  method: Type.String(),
  channel: Type.String(),
})

export const RefundResponseSchema = OpenObject({
  refundNo: Type.String(),
  orderNo: Type.String(),
  amount: Type.Integer({ description: 'fen, this refund' }),
  status: StringEnum(REFUND_STATUSES),
  totalRefunded: Type.Integer({ description: 'fen refunded so far for the order' }),
  refundedAt: Nullable(IsoTime()),
  failureReason: Nullable(Type.String()),
  provider: Type.String(),
})

/** Where the buyer is (seed 002): each method names its default channel for every one of these. */
export const DEVICES = ['pc', 'mobile', 'wechat', 'alipay', 'qq'] as const
export type Device = (typeof DEVICES)[number]

/**
 * One entry of pay's `GET /api/pay/methods`: a buyer-facing payment method as pay's provider registry
 * describes it. main keeps no provider list of its own: what it shows, accepts and validates comes from here.
 * The list is in display order and holds only methods whose provider is configured (and, for methods a
 * provider serves through one channel such as BANK_CARD, only when that channel is on).
 */
export const PayMethodInfoSchema = OpenObject({
  /** Buyer-facing code: ALIPAY, WECHAT_PAY, EPAY, BANK_CARD, … (unique in the list). */
  method: Type.String(),
  /** The provider that serves it: the `method` to send in POST /api/pay/payments. */
  provider: Type.String(),
  name: Type.String({ description: 'display name (Chinese)' }),
  icon: Type.String({ description: 'icon path served by the web app, e.g. /icons/alipay.svg' }),
  description: Type.String(),
  /** Lower-case spellings clients may send for this method (`alipay`, `wxpay`, `bank`, …). */
  aliases: Type.Array(Type.String()),
  channels: Type.Array(
    OpenObject({
      code: Type.String(),
      name: Type.String({ description: 'display name (Chinese)' }),
      /** What a create on this channel needs from the buyer, checked before anything is written. */
      requires: Type.Array(StringEnum(['openid', 'clientIp'] as const)),
      /** Lower-case words a client may name this channel's wallet by (seed 002's payment_type: `qq`, `wechat`, …). */
      aliases: Type.Optional(Type.Array(Type.String())),
    }),
  ),
  /** Default channel per device (every one of DEVICES is present). */
  deviceChannels: Type.Record(Type.String(), Type.String()),
})
export type PayMethodInfo = Static<typeof PayMethodInfoSchema>
