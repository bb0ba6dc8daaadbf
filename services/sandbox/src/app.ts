/**
 * The provider sandbox app: every configured provider of the registry (providers.ts) with its API,
 * browser pages and control routes, the shared cashier, QR scanning, fault injection, bill faults
 * and the notify worker. `buildApp` does not listen; the notify worker starts when the app is ready
 * (listen/inject) and stops when it closes (pass `worker: false` to run without it).
 */
import formbody from '@fastify/formbody'
import { createApp } from '@paysys/server-kit'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from './config.ts'
import { createDeliveryService, type DeliveryService } from './deliveries.ts'
import { registerCashier } from './cashier.ts'
import { registerBillControl } from './bills/control.ts'
import { registerProviderFaults } from './faults.ts'
import type { DeliveryRules, MountedProvider, SandboxProvider } from './provider.ts'
import { SANDBOX_PROVIDERS } from './providers.ts'

declare module 'fastify' {
  interface FastifyInstance {
    deliveries: DeliveryService
  }
}

/** The registry's providers that are configured, each with its settings. */
export function enabledProviders(config: SandboxConfig): { provider: SandboxProvider; settings: unknown }[] {
  const providers: readonly SandboxProvider<string, unknown>[] = SANDBOX_PROVIDERS
  return providers.flatMap((provider) => {
    const settings: unknown = (config as unknown as Record<string, unknown>)[provider.name] ?? null
    return settings === null ? [] : [{ provider, settings }]
  })
}

export async function buildApp(config: SandboxConfig, sql: Sql, opts: { worker?: boolean } = {}) {
  const app = createApp({ name: 'sandbox', sql, logLevel: config.logLevel, http: config.http })
  await app.register(formbody, { bodyLimit: 64 * 1024 })
  const enabled = enabledProviders(config)

  const rules = new Map<string, DeliveryRules>(
    enabled.map(({ provider, settings }) => [provider.name, provider.delivery(config, settings)]),
  )
  const mounted: { name: string; parts: MountedProvider }[] = []
  const deliveries = createDeliveryService({
    sql,
    log: app.log,
    timeoutMs: config.notifyTimeoutMs,
    pollMs: config.notifyPollMs,
    rules,
    onTick: async () => {
      for (const { parts } of mounted) await parts.onTick?.()
    },
  })
  app.decorate('deliveries', deliveries)

  // Before the provider routes: its hook must see every API call.
  const refusals = new Map<string, NonNullable<MountedProvider['refusal']>>()
  registerProviderFaults(
    app,
    enabled.map(({ provider, settings }) => ({ name: provider.name, title: provider.title, faults: provider.faults, settings })),
    refusals,
  )
  for (const { provider, settings } of enabled) {
    const parts = provider.mount(app, { config, settings, sql, deliveries })
    parts.control.register(app, { name: provider.name, sql, deliveries })
    mounted.push({ name: provider.name, parts })
    if (parts.refusal) refusals.set(provider.name, parts.refusal)
  }
  registerCashier(
    app,
    mounted.map(({ parts }) => parts.cashier),
  )
  registerBillControl(
    app,
    sql,
    mounted.flatMap(({ name, parts }) => (parts.bills ? [{ name, bills: parts.bills }] : [])),
  )

  if (opts.worker !== false) {
    app.addHook('onReady', async () => deliveries.start())
    app.addHook('onClose', async () => deliveries.stop())
  }
  return app
}

export type SandboxApp = Awaited<ReturnType<typeof buildApp>>
