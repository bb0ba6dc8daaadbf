import { ok } from '@paysys/contracts'
import type { App } from '../app.ts'

/** Seed 004: the enabled payment methods with names, icons and channels (as pay has them configured). */
export async function paymentMethodsRoutes(app: App) {
  app.get('/api/payment-methods', async (req) => ok(await app.deps.payments.listMethods(req.id), '获取支付方式成功'))
}
