/**
 * The pay service as a fastify app (no listening, no background work): server.ts runs it,
 * tests drive it with `inject`.
 */
import type { Sql } from '@paysys/db'
import { createApp } from '@paysys/server-kit'
import type { PayConfig } from './config.ts'
import { createPaymentFlows, type PaymentFlows } from './flows.ts'
import { createNonceStore } from './nonces.ts'
import { createOutboxAdmin } from './outbox.ts'
import { createConsoleQueries } from './console.ts'
import { createPaymentsRepo } from './payments.ts'
import { createProviders, PROVIDER_MODULES } from './providers/index.ts'
import { registerPayMetrics } from './metrics.ts'
import { createRefundFlows, type RefundFlows } from './refunds.ts'
import { createReconciler, type Reconciler } from './reconciliation/engine.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Reconciliation against provider bills: server.ts runs its daily job, the CLI a day. */
    reconciler: Reconciler
    /** The payment use cases: server.ts's stale-attempt sweep re-queries through them. */
    payments: PaymentFlows
    /** The refunds: server.ts's sweep retries pending duplicate-payment refunds through them. */
    refunds: RefundFlows
  }
}
import type { ProviderRegistry } from './providers/types.ts'
import { notifyRoutes } from './routes/notify.ts'
import { PAY_OPENAPI } from './routes/openapi.ts'
import { returnRoutes } from './routes/return.ts'
import { serviceRoutes } from './routes/service.ts'

export interface AppDeps {
  /** Overrides the providers built from the config. */
  providers?: ProviderRegistry
  /** Called with the event id when an event for main was queued (server.ts wakes the delivery loop). */
  onEventQueued?: (eventId: string) => void
  /** The reconciliation job queue's enqueue, once server.ts has started it. */
  reconcileQueue?: () => ((provider: string, day: string) => Promise<string | null>) | undefined
}

export function buildApp(config: Readonly<PayConfig>, sql: Sql, deps: AppDeps = {}) {
  const app = createApp({
    name: 'pay',
    sql,
    logLevel: config.logLevel,
    metricsToken: config.metricsToken,
    openapi: PAY_OPENAPI,
    http: config.http,
  })
  const metrics = registerPayMetrics(app.metrics, { sql, log: app.log })
  const repo = createPaymentsRepo(sql)
  const providers = deps.providers ?? createProviders(config)
  const refunds = createRefundFlows({ sql, providers, log: app.log, onEventQueued: deps.onEventQueued })
  const flows = createPaymentFlows({
    repo,
    providers,
    log: app.log,
    onEventQueued: deps.onEventQueued,
    onNotification: metrics.notification,
    applyRefundNotice: (provider, notice) => refunds.applyNotice(provider, notice),
    // After the commit, without holding up the notify's answer; a failure is retried by the sweep.
    onDuplicatePayment: (refundNo) =>
      void refunds
        .sendDuplicate(refundNo)
        .catch((err: Error) => app.log.warn({ refundNo, err: { message: err.message } }, 'duplicate payment refund not sent yet')),
  })
  const reconciler = createReconciler({ sql, providers, flows, log: app.log, feeRates: config.reconcile.feeRates })
  app.decorate('reconciler', reconciler)
  app.decorate('payments', flows)
  app.decorate('refunds', refunds)
  app.register(serviceRoutes, {
    flows,
    refunds,
    reconciler,
    enqueueReconciliation: deps.reconcileQueue,
    keys: config.serviceKeys,
    nonces: createNonceStore(sql, app.log),
    outbox: createOutboxAdmin(sql),
    onEventQueued: deps.onEventQueued,
    consoleQueries: createConsoleQueries(sql, () => flows.methods().map((m) => m.method)),
  })
  app.register(notifyRoutes, { flows, modules: PROVIDER_MODULES })
  app.register(returnRoutes, { repo, frontendUrl: config.frontendUrl, extraPaths: PROVIDER_MODULES.flatMap((m) => m.returnPaths ?? []) })
  return app
}

export type PayApp = ReturnType<typeof buildApp>
