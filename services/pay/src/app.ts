/**
 * The pay service as a fastify app (no listening, no background work): server.ts runs it,
 * tests drive it with `inject`.
 */
import type { Sql } from '@paysys/db'
import { createApp } from '@paysys/server-kit'
import type { PayConfig } from './config.ts'
import { createPaymentFlows } from './flows.ts'
import { createNonceStore } from './nonces.ts'
import { createPaymentsRepo } from './payments.ts'
import { createProviders } from './providers/index.ts'
import { createRefundFlows } from './refunds.ts'
import type { ProviderRegistry } from './providers/types.ts'
import { notifyRoutes } from './routes/notify.ts'
import { returnRoutes } from './routes/return.ts'
import { serviceRoutes } from './routes/service.ts'

export interface AppDeps {
  /** Overrides the providers built from the config. */
  providers?: ProviderRegistry
  /** Called when an event for main was queued (server.ts wakes the outbox worker). */
  onEventQueued?: () => void
}

export function buildApp(config: Readonly<PayConfig>, sql: Sql, deps: AppDeps = {}) {
  const app = createApp({ name: 'pay', sql, logLevel: config.logLevel })
  const repo = createPaymentsRepo(sql)
  const providers = deps.providers ?? createProviders(config)
  const flows = createPaymentFlows({
    repo,
    providers,
    log: app.log,
    onEventQueued: deps.onEventQueued,
  })
  const refunds = createRefundFlows({ sql, providers, log: app.log, onEventQueued: deps.onEventQueued })
  app.register(serviceRoutes, { flows, refunds, keys: config.serviceKeys, nonces: createNonceStore(sql, app.log) })
  app.register(notifyRoutes, { flows })
  app.register(returnRoutes, { repo, frontendUrl: config.frontendUrl })
  return app
}

export type PayApp = ReturnType<typeof buildApp>
