/** Epay (彩虹易支付) in the sandbox: merchant endpoints, QR contents, control API and the cashier plug-in. */
import type { FastifyInstance } from 'fastify'
import type { CashierProvider } from '../cashier.ts'
import { registerEpayApi, type EpayContext } from './api.ts'
import { epayCashier, registerEpayQrRoutes } from './cashier.ts'
import { registerEpayControl } from './control.ts'

export { epayAck, epayScaledSchedule } from './notify.ts'
export type { EpayContext } from './api.ts'

export function registerEpay(app: FastifyInstance, ctx: EpayContext): CashierProvider {
  registerEpayApi(app, ctx)
  registerEpayQrRoutes(app, ctx)
  registerEpayControl(app, ctx)
  return epayCashier(ctx)
}
