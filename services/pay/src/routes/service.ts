/**
 * The signed API main calls: create, status, close. Every request is verified with
 * `verifyServiceRequest` over the exact bytes received, so the JSON parser here keeps the raw
 * body, and verification runs before the body is validated or used.
 */
import { Type } from 'typebox'
import { TypeBoxValidatorCompiler, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError, CreatePaymentRequest, fail, ok, RefundRequest } from '@paysys/contracts'
import { verifyServiceRequest, type ServiceKey } from '@paysys/service-auth'
import type { PaymentFlows } from '../flows.ts'
import type { NonceStore } from '../nonces.ts'
import type { RefundFlows } from '../refunds.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (signed service routes only). */
    rawBody?: string
    rawBodyInvalid?: boolean
  }
}

const OrderNoParams = Type.Object({ orderNo: Type.String({ minLength: 1, maxLength: 64 }) })

export const serviceRoutes: FastifyPluginAsyncTypebox<{
  flows: PaymentFlows
  refunds: RefundFlows
  keys: readonly ServiceKey[]
  nonces: NonceStore
}> = async (app, { flows, refunds, keys, nonces }) => {
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

  app.post('/api/pay/create', { schema: { body: CreatePaymentRequest } }, async (req) => ok(await flows.create(req.body)))

  app.get('/api/pay/methods', async () => ok(flows.methods()))

  app.get('/api/pay/status/:orderNo', { schema: { params: OrderNoParams } }, async (req) => ok(await flows.status(req.params.orderNo)))

  app.post('/api/pay/close/:orderNo', { schema: { params: OrderNoParams } }, async (req, reply) => {
    const result = await flows.close(req.params.orderNo)
    if (result.kind === 'PAID') {
      // main reacts to this (marks the order paid): the paid status travels with the conflict.
      return reply.status(409).send({ ...fail(409, 'ORDER_NOT_PAYABLE', '订单已支付，无法关闭'), data: result.status })
    }
    return ok({ orderNo: result.orderNo, status: result.status })
  })

  // Refunds: partial allowed, never above paid − refunded; idempotent by refundNo.
  app.post('/api/pay/refund', { schema: { body: RefundRequest } }, async (req) => ok(await refunds.refund(req.body)))

  app.get(
    '/api/pay/refund/:refundNo',
    { schema: { params: Type.Object({ refundNo: Type.String({ minLength: 1, maxLength: 64 }) }) } },
    async (req) => ok(await refunds.status(req.params.refundNo)),
  )
}
