import { Type } from 'typebox'
import { errorResponses, NoQuery, ok, OkEnvelope } from '@paysys/contracts'
import type { MainApp } from '../deps.ts'
import { PaymentMethodSchema } from './schemas.ts'

// OpenAPI (/docs) and response serialisation: see schemas.ts.
const methodsSchema = {
  tags: ['catalogue'],
  summary: 'Enabled payment methods with their channels (seed 004)',
  querystring: NoQuery,
  response: { 200: OkEnvelope(Type.Array(PaymentMethodSchema), '获取支付方式成功'), ...errorResponses('4xx', 502, 503) },
}

/** Seed 004: the enabled payment methods with names, icons and channels (as pay has them configured). */
export async function paymentMethodsRoutes(app: MainApp) {
  app.get('/api/payment-methods', { schema: methodsSchema }, async (req) =>
    ok(await app.deps.payments.listMethods(req.id), '获取支付方式成功'),
  )
}
