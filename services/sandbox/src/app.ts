/**
 * The provider sandbox app: Alipay's openapi gateway, the cashier, QR scanning and the control API.
 * `buildApp` does not listen; the notify worker starts when the app is ready (listen/inject) and
 * stops when it closes (pass `worker: false` to run without it).
 */
import formbody from '@fastify/formbody'
import { createApp } from '@paysys/server-kit'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from './config.ts'
import { createDeliveryService, type DeliveryService } from './deliveries.ts'
import { registerCashier, type CashierProvider } from './cashier.ts'
import { registerGateway, type AlipayContext } from './alipay/gateway.ts'
import { alipayCashier, registerQrRoutes } from './alipay/cashier.ts'
import { alipayAck, scaledSchedule } from './alipay/notify.ts'
import { loadKeys } from './alipay/signing.ts'
import { expireDue } from './alipay/trades.ts'
import { registerControl } from './control.ts'
import { epayAck, epayScaledSchedule, registerEpay } from './epay/index.ts'
import { registerWechat, wechatDeliveryRules } from './wechat/index.ts'
import { registerBills } from './bills/index.ts'
import { registerProviderFaults } from './faults.ts'

declare module 'fastify' {
  interface FastifyInstance {
    deliveries: DeliveryService
  }
}

export async function buildApp(config: SandboxConfig, sql: Sql, opts: { worker?: boolean } = {}) {
  const app = createApp({ name: 'sandbox', sql, logLevel: config.logLevel, http: config.http })
  await app.register(formbody, { bodyLimit: 64 * 1024 })

  let lastExpirySweep = 0
  const wechatRules = config.wechat ? wechatDeliveryRules({ ...config, wechat: config.wechat }) : null
  const deliveries = createDeliveryService({
    sql,
    log: app.log,
    timeoutMs: config.notifyTimeoutMs,
    pollMs: config.notifyPollMs,
    ackRules: { alipay: alipayAck, epay: epayAck, ...(wechatRules ? { wechat: wechatRules.ack } : {}) },
    retrySchedules: {
      alipay: scaledSchedule(config),
      epay: epayScaledSchedule(config),
      ...(wechatRules ? { wechat: wechatRules.schedule } : {}),
    },
    ...(wechatRules ? { prepareAttempt: { wechat: wechatRules.prepare } } : {}),
    onTick: async () => {
      // Close unpaid trades past their time_expire, at most once a second.
      if (!config.alipay || Date.now() - lastExpirySweep < 1000) return
      lastExpirySweep = Date.now()
      await expireDue(sql)
    },
  })
  app.decorate('deliveries', deliveries)

  // Before the provider routes: its hook must see every API call.
  registerProviderFaults(app, config)
  const providers: CashierProvider[] = []
  if (config.alipay) {
    const ctx: AlipayContext = {
      config,
      alipay: config.alipay,
      sql,
      keys: loadKeys(config.alipay.merchantPublicKey, config.alipay.platformPrivateKey),
      deliveries,
    }
    registerGateway(app, ctx)
    registerQrRoutes(app, ctx)
    registerControl(app, ctx)
    providers.push(alipayCashier(ctx))
  }
  if (config.epay) providers.push(registerEpay(app, { config, epay: config.epay, sql, deliveries }))
  if (config.wechat) providers.push(registerWechat(app, { config: { ...config, wechat: config.wechat }, sql, deliveries }))
  registerCashier(app, providers)
  registerBills(app, config, sql)

  if (opts.worker !== false) {
    app.addHook('onReady', async () => deliveries.start())
    app.addHook('onClose', async () => deliveries.stop())
  }
  return app
}

export type SandboxApp = Awaited<ReturnType<typeof buildApp>>
