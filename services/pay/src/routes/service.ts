/**
 * The signed API main calls: create, status, close, refunds, reconciliation, events. Every request is verified with
 * `verifyServiceRequest` over the exact bytes received, so the JSON parser here keeps the raw
 * body, and verification runs before the body is validated or used.
 */
import { Type } from 'typebox'
import { TypeBoxValidatorCompiler, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  AppError,
  CreatePaymentRequest,
  CreatePaymentResponseSchema,
  errorResponses,
  fail,
  ok,
  OkEnvelope,
  OpenObject,
  PaymentStatusResponseSchema,
  PayMethodInfoSchema,
  RefundRequest,
  RefundResponseSchema,
  ServiceAuthHeaders,
} from '@paysys/contracts'
import { verifyServiceRequest, type ServiceKey } from '@paysys/service-auth'
import type { PaymentFlows } from '../flows.ts'
import type { NonceStore } from '../nonces.ts'
import type { RefundFlows } from '../refunds.ts'
import type { Reconciler } from '../reconciliation/engine.ts'
import type { OutboxAdmin } from '../outbox.ts'
import { eventRoutes } from './events.ts'
import { reconciliationRoutes } from './reconciliation.ts'
import { consoleRoutes } from './console.ts'
import type { ConsoleQueries } from '../console.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (signed service routes only). */
    rawBody?: string
    rawBodyInvalid?: boolean
  }
}

const OrderNoParams = Type.Object({ orderNo: Type.String({ minLength: 1, maxLength: 64 }) })

// OpenAPI (/docs) and response serialisation (open objects: see @paysys/contracts). Every route
// here is signed (headers x-svc-*, checked before validation) and answers 401 SERVICE_AUTH_FAILED.
const SIGNED = { tags: ['service'], headers: ServiceAuthHeaders }
const createSchema = {
  ...SIGNED,
  summary: 'Start a payment attempt; the same orderNo, amount and channel answer the existing attempt',
  body: CreatePaymentRequest,
  response: { 200: OkEnvelope(CreatePaymentResponseSchema), ...errorResponses(400, 401, 409, 422, 502) },
}
const methodsSchema = {
  ...SIGNED,
  summary: 'The buyer-facing methods of the configured providers: display data, aliases, channels, device defaults',
  response: { 200: OkEnvelope(Type.Array(PayMethodInfoSchema)), ...errorResponses(401) },
}
const statusSchema = {
  ...SIGNED,
  summary: 'Payment status; while PENDING the provider is asked (and a payment it proves is recorded)',
  params: OrderNoParams,
  response: { 200: OkEnvelope(PaymentStatusResponseSchema), ...errorResponses(400, 401, 404) },
}
const closeSchema = {
  ...SIGNED,
  summary: 'Close the provider trade; 409 ORDER_NOT_PAYABLE with data = the paid status when it was paid meanwhile',
  params: OrderNoParams,
  response: {
    200: OkEnvelope(OpenObject({ orderNo: Type.String(), status: Type.String() })),
    ...errorResponses(400, 401, 404, 409, 502),
  },
}
const refundSchema = {
  ...SIGNED,
  summary: 'Refund (partial allowed, never above paid − refunded); idempotent by refundNo',
  body: RefundRequest,
  response: { 200: OkEnvelope(RefundResponseSchema), ...errorResponses(400, 401, 404, 409, 422, 502) },
}
const refundStatusSchema = {
  ...SIGNED,
  summary: 'A refund; a PENDING one is sent to the provider again first',
  params: Type.Object({ refundNo: Type.String({ minLength: 1, maxLength: 64 }) }),
  response: { 200: OkEnvelope(RefundResponseSchema), ...errorResponses(400, 401, 404, 502) },
}

export const serviceRoutes: FastifyPluginAsyncTypebox<{
  flows: PaymentFlows
  refunds: RefundFlows
  /** Optional so a test can mount the payment routes alone. */
  reconciler?: Reconciler
  enqueueReconciliation?: () => ((provider: string, day: string) => Promise<string | null>) | undefined
  keys: readonly ServiceKey[]
  nonces: NonceStore
  /** The outbox's list/resend (optional so a test can mount the payment routes alone). */
  outbox?: OutboxAdmin
  /** Queues the delivery of an event (a resent one). */
  onEventQueued?: (eventId: string) => void
  /** The operator console's read-only figures (optional so a test can mount the payment routes alone). */
  consoleQueries?: ConsoleQueries
}> = async (app, { flows, refunds, reconciler, enqueueReconciliation, keys, nonces, outbox, onEventQueued, consoleQueries }) => {
  // Strict bodies: the shared ajv setup coerces types, which would read an amount of "25.00"
  // (yuan, by mistake) as 25 fen. TypeBox's compiler checks JSON bodies as they are.
  app.setValidatorCompiler(TypeBoxValidatorCompiler)

  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const raw = body as string
    req.rawBody = raw
    if (raw === '') return done(null, undefined)
    try {
      done(null, JSON.parse(raw))
    } catch {
      // Reported after authentication: an unauthenticated caller learns nothing.
      req.rawBodyInvalid = true
      done(null, undefined)
    }
  })

  app.addHook('preValidation', async (req) => {
    const result = await verifyServiceRequest({
      headers: req.headers,
      method: req.method,
      path: req.url,
      body: req.rawBody ?? '',
      keys,
      rememberNonce: (keyId, nonce) => nonces.remember(keyId, nonce),
    })
    if (!result.ok) {
      req.log.warn({ reason: result.reason, keyId: req.headers['x-svc-key-id'] }, 'service request rejected')
      throw new AppError(401, 'SERVICE_AUTH_FAILED', `服务认证失败: ${result.reason}`)
    }
    if (req.rawBodyInvalid) throw new AppError(400, 'INVALID_PARAMS', '请求体不是有效的 JSON')
  })

  app.post('/api/pay/create', { schema: createSchema }, async (req) => ok(await flows.create(req.body)))

  app.get('/api/pay/methods', { schema: methodsSchema }, async () => ok(flows.methods()))

  app.get('/api/pay/status/:orderNo', { schema: statusSchema }, async (req) => ok(await flows.status(req.params.orderNo)))

  app.post('/api/pay/close/:orderNo', { schema: closeSchema }, async (req, reply) => {
    const result = await flows.close(req.params.orderNo)
    if (result.kind === 'PAID') {
      // main reacts to this (marks the order paid): the paid status travels with the conflict.
      return reply.status(409).send({ ...fail(409, 'ORDER_NOT_PAYABLE', '订单已支付，无法关闭'), data: result.status })
    }
    return ok({ orderNo: result.orderNo, status: result.status })
  })

  // Refunds: partial allowed, never above paid − refunded; idempotent by refundNo.
  app.post('/api/pay/refund', { schema: refundSchema }, async (req) => ok(await refunds.refund(req.body)))

  app.get('/api/pay/refund/:refundNo', { schema: refundStatusSchema }, async (req) => ok(await refunds.status(req.params.refundNo)))

  // Signed like everything here: the child plugin inherits the verification hook above.
  if (reconciler) await app.register(reconciliationRoutes, { reconciler, enqueue: enqueueReconciliation })
  if (outbox) await app.register(eventRoutes, { outbox, onEventQueued })
  if (consoleQueries) await app.register(consoleRoutes, { queries: consoleQueries })
}
