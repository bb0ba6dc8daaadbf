/**
 * Response schemas of main's API (OpenAPI at /docs) and the document's security schemes. The
 * shapes follow the presenters (present.ts, catalog.ts, users.ts, ledger.ts, refunds.ts); every
 * object is open (see @paysys/contracts), so a property added to a presenter is still written.
 * Amounts are yuan (JSON numbers); credits, ids and balances are integers.
 */
import { Type } from 'typebox'
import { IsoTime, Nullable, OpenObject, StringEnum } from '@paysys/contracts'
import type { OpenApiOptions } from '@paysys/server-kit'
import { DELIVERY_STATUSES, ORDER_STATUSES } from '../orders/repo.ts'

export const MAIN_OPENAPI: OpenApiOptions = {
  title: 'paysys main — orders, credits, catalogue',
  version: '1.0.0',
  description:
    'Every JSON answer is `{code, message, data, timestamp}`; `code` is 200 on success and the HTTP status on errors, ' +
    'which also carry `error` (a stable UPPER_SNAKE code). Amounts are yuan (JSON numbers, ≤ 2 decimals). ' +
    'POSTs that create something accept an `Idempotency-Key` header (same key and body replay the first answer).',
  securitySchemes: {
    bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: '`data.token` of POST /api/auth/login or /register' },
    serviceSignature: {
      type: 'apiKey',
      in: 'header',
      name: 'x-svc-signature',
      description:
        'A signed service call (pay, or a backend holding a SERVICE_KEYS key): headers x-svc-key-id, x-svc-timestamp (unix s, ±300 s), ' +
        'x-svc-nonce (once) and x-svc-signature = HMAC-SHA256 over method, path, timestamp, nonce and the body hash (@paysys/service-auth).',
    },
  },
  tags: [
    { name: 'auth', description: 'accounts and profile' },
    { name: 'credits', description: 'packages, purchase, balance, ledger, consume (seed 000)' },
    { name: 'orders', description: 'orders, payment, status, cancel (seeds 001, 003, 004)' },
    { name: 'catalogue', description: 'products, delivery, payment methods (seeds 001, 004)' },
    { name: 'admin', description: 'role admin' },
    { name: 'service', description: 'signed calls from pay' },
    { name: 'points-shop', description: 'seed 002 at its own paths (/payment/*): {code: 0, message}' },
  ],
}

/** `schema.security` values. */
type Security = { [scheme: string]: string[] }[]
export const USER: Security = [{ bearerAuth: [] }]
/** A token is optional (guest checkout), but a bad one is a 401. */
export const OPTIONAL_USER: Security = [{ bearerAuth: [] }, {}]
export const USER_OR_SERVICE: Security = [{ bearerAuth: [] }, { serviceSignature: [] }]
export const SERVICE: Security = [{ serviceSignature: [] }]

const Yuan = (description?: string) => Type.Number({ description: description ? `yuan; ${description}` : 'yuan' })
const Kind = StringEnum(['credits', 'goods'])

export const UserSchema = OpenObject({
  id: Type.Integer(),
  email: Type.String(),
  name: Type.String(),
  role: StringEnum(['user', 'admin']),
  creditBalance: Type.Integer(),
  wechatOpenid: Nullable(Type.String()),
  registered: Type.Boolean({ description: 'false for a guest account (claimable by registering)' }),
  createdAt: IsoTime(),
})

export const AuthResultSchema = OpenObject({ token: Type.String({ description: 'JWT (bearerAuth)' }), user: UserSchema })

/** Seed 000's package. */
export const PackageSchema = OpenObject({
  id: Type.Integer(),
  packageCode: Nullable(Type.String()),
  packageName: Type.String(),
  packageDescription: Type.String(),
  credits: Type.Integer(),
  originalPrice: Yuan(),
  currentPrice: Yuan(),
  discount: Type.Integer({ description: 'percent off the original price' }),
  packageType: StringEnum(['STANDARD', 'CUSTOM']),
  isActive: Type.Boolean(),
  displayOrder: Type.Integer(),
  features: Type.Array(Type.String()),
  costPerCredit: Yuan(),
  minCredits: Type.Optional(Nullable(Type.Integer({ description: 'CUSTOM only' }))),
  maxCredits: Type.Optional(Nullable(Type.Integer({ description: 'CUSTOM only' }))),
  recommendedFor: Nullable(Type.String()),
  isPopular: Type.Optional(Type.Boolean({ description: 'present when true' })),
})

/** Seed 001's product (credit products and goods). */
export const ProductSchema = OpenObject({
  id: Type.Integer(),
  kind: Kind,
  name: Type.String(),
  description: Type.String(),
  credits: Type.Integer(),
  price: Yuan(),
  originalPrice: Yuan(),
  imageUrl: Nullable(Type.String()),
  isActive: Type.Boolean(),
  sortOrder: Type.Integer(),
  packageCode: Nullable(Type.String()),
  packageType: StringEnum(['STANDARD', 'CUSTOM']),
  sku: Nullable(Type.String()),
  minCredits: Type.Optional(Nullable(Type.Integer({ description: 'CUSTOM only' }))),
  maxCredits: Type.Optional(Nullable(Type.Integer({ description: 'CUSTOM only' }))),
  unitPrice: Type.Optional(Yuan('CUSTOM only: price of one credit')),
  deliveryMethods: Type.Optional(Nullable(Type.Array(Type.String(), { description: 'goods only: delivery method codes (null: all)' }))),
  createdAt: IsoTime(),
  updatedAt: IsoTime(),
})

export const DeliveryMethodSchema = OpenObject({
  id: Type.String(),
  code: Type.String(),
  name: Type.String(),
  icon: Type.String(),
  baseFee: Yuan(),
  requiresAddress: Type.Boolean(),
})

export const DeliveryFeeSchema = OpenObject({
  productId: Type.Integer(),
  deliveryMethod: Type.String(),
  deliveryFee: Yuan(),
  quantity: Type.Integer(),
  price: Yuan(),
  itemsAmount: Yuan(),
  totalAmount: Yuan(),
})

/** Seed 004's methods with their channels, as pay has them configured. */
export const PaymentMethodSchema = OpenObject({
  code: Type.String(),
  method: Type.String(),
  provider: Type.String({ description: "the pay provider serving the method (a name in pay's provider registry)" }),
  name: Type.String(),
  icon: Type.String(),
  description: Type.String(),
  enabled: Type.Boolean(),
  channels: Type.Array(OpenObject({ code: Type.String(), name: Type.String() })),
})

/** The properties of seed 003's order detail (presentOrder), for the shapes that add to it. */
export const OrderProperties = {
  id: Type.Integer(),
  orderNo: Type.String(),
  status: StringEnum(ORDER_STATUSES),
  kind: Kind,
  productId: Type.Integer(),
  productName: Type.String(),
  packageCode: Nullable(Type.String()),
  credits: Type.Integer(),
  quantity: Type.Integer(),
  amount: Yuan(),
  totalAmount: Yuan(),
  payAmount: Nullable(Yuan('paid')),
  paymentMethod: Nullable(Type.String({ description: 'the method the buyer chose; kept as chosen once paid' })),
  paymentProvider: Nullable(Type.String({ description: 'the provider that took the money; null for CREDITS' })),
  paymentChannel: Nullable(Type.String()),
  paidAt: Nullable(IsoTime()),
  payTime: Nullable(IsoTime()),
  expireAt: Nullable(IsoTime()),
  creditsGranted: Type.Boolean(),
  creditsSpent: Type.Integer({ description: 'credits paid with (method CREDITS)' }),
  latePayment: Type.Boolean({ description: 'paid after it was cancelled or expired (credited all the same)' }),
  customerEmail: Type.String(),
  refundedAmount: Yuan(),
  refundTime: Nullable(IsoTime()),
  delivery: Type.Optional(
    OpenObject(
      {
        method: Nullable(Type.String()),
        address: Nullable(Type.String()),
        contactName: Nullable(Type.String()),
        contactPhone: Nullable(Type.String()),
        fee: Yuan(),
        status: Nullable(StringEnum(DELIVERY_STATUSES)),
        trackingNo: Nullable(Type.String()),
        shippedAt: Nullable(IsoTime()),
        deliveredAt: Nullable(IsoTime()),
      },
      { description: 'goods only' },
    ),
  ),
  deliveryMethod: Type.Optional(Nullable(Type.String())),
  deliveryAddress: Type.Optional(Nullable(Type.String())),
  deliveryFee: Type.Optional(Yuan()),
  deliveryStatus: Type.Optional(Nullable(StringEnum(DELIVERY_STATUSES))),
  remark: Nullable(Type.String()),
  createdAt: Nullable(IsoTime()),
  updatedAt: Nullable(IsoTime()),
  items: Type.Array(
    OpenObject({
      productId: Type.Integer(),
      name: Type.String(),
      quantity: Type.Integer(),
      credits: Type.Integer(),
      price: Yuan(),
      subtotal: Yuan(),
    }),
  ),
}
export const OrderSchema = OpenObject(OrderProperties)

/** Seed 000 §4.2's history row (`orderId` is the orderNo). */
export const HistoryRowSchema = OpenObject({
  orderId: Type.String({ description: 'the orderNo' }),
  id: Type.Integer(),
  orderNo: Type.String(),
  kind: Kind,
  packageName: Type.String(),
  credits: Type.Integer(),
  quantity: Type.Integer(),
  amount: Yuan(),
  refundedAmount: Yuan(),
  status: StringEnum(ORDER_STATUSES),
  paymentMethod: Nullable(Type.String()),
  createdAt: Nullable(IsoTime()),
  paidAt: Nullable(IsoTime()),
})

/** Seed 000's `/payment-orders/{orderId}/status`. */
export const OrderStatusSchema = OpenObject({
  orderId: Type.String({ description: 'the orderNo' }),
  id: Type.Integer(),
  orderNo: Type.String(),
  status: StringEnum(ORDER_STATUSES),
  amount: Yuan(),
  paidAt: Nullable(IsoTime()),
  creditsGranted: Type.Boolean(),
  creditsAmount: Type.Integer(),
  latePayment: Type.Boolean(),
  expireAt: Nullable(IsoTime()),
})

/** Seed 003/001's payment-status answer. */
export const PaymentSyncSchema = OpenObject({
  id: Type.Integer(),
  orderNo: Type.String(),
  status: StringEnum(['PENDING', 'PAID', 'FAILED']),
  orderStatus: StringEnum(ORDER_STATUSES),
  paidAt: Nullable(IsoTime()),
  paid: Type.Boolean(),
  creditsGranted: Type.Boolean(),
})

export const PaymentInfoSchema = OpenObject(
  {
    paymentId: Type.Optional(Type.String({ description: 'absent when paid with credits' })),
    paymentMethod: Type.String(),
    channel: Type.String(),
    payType: Type.String({ description: 'form | jump | qrcode | jsapi | credits' }),
    amount: Yuan(),
    currency: Type.String({ description: 'CNY' }),
    expireTime: IsoTime(),
    formHtml: Type.Optional(Type.String({ description: 'form: an auto-submitting HTML form' })),
    paymentUrl: Type.Optional(Type.String({ description: 'jump (and the GET variant of form)' })),
    qrCode: Type.Optional(Type.String({ description: 'qrcode: the raw QR content' })),
    qrCodeUrl: Type.Optional(Type.String({ description: 'qrcode: a data: image rendered locally' })),
    jsapiParams: Type.Optional(OpenObject({}, { description: 'jsapi: appId, timeStamp, nonceStr, package, signType, paySign' })),
    paid: Type.Optional(Type.Boolean({ description: 'credits: paid at once' })),
    creditsSpent: Type.Optional(Type.Integer({ description: 'credits' })),
    balance: Type.Optional(Type.Integer({ description: 'credits: balance after' })),
  },
  { description: 'by payType' },
)

export const LedgerRowSchema = OpenObject({
  id: Type.Integer(),
  // (typed as a string: the ledger route reads rows straight from SQL)
  type: Type.Unsafe<string>(StringEnum(['PURCHASE', 'CONSUME', 'REFUND', 'ADJUST'])),
  delta: Type.Integer(),
  balanceAfter: Type.Integer(),
  description: Type.String(),
  orderId: Nullable(Type.Integer()),
  createdAt: IsoTime(),
})

export const RefundSchema = OpenObject({
  id: Type.Integer(),
  refundNo: Type.String(),
  orderId: Type.Integer(),
  amount: Yuan(),
  reason: Type.String(),
  status: StringEnum(['PENDING', 'SUCCEEDED', 'FAILED']),
  via: StringEnum(['PROVIDER', 'CREDITS']),
  creditsClawedBack: Type.Integer(),
  creditsReturned: Type.Integer(),
  forced: Type.Boolean(),
  failureReason: Nullable(Type.String()),
  completedAt: Nullable(IsoTime()),
  createdAt: IsoTime(),
})

const DayStats = OpenObject({
  date: Type.String({ description: 'YYYY-MM-DD (Asia/Shanghai); empty in totals' }),
  ordersCreated: Type.Integer(),
  ordersPaid: Type.Integer(),
  revenue: Yuan(),
  refunded: Yuan(),
  netRevenue: Yuan(),
  creditsSold: Type.Integer(),
  creditsConsumed: Type.Integer(),
})
export const DailyStatsSchema = OpenObject({
  from: Type.String(),
  to: Type.String(),
  timezone: Type.String(),
  days: Type.Array(DayStats),
  totals: DayStats,
})
