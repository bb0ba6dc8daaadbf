/**
 * The provider registry: the one list of pay's providers. Configuration, the enabled list, the notify
 * routes, `GET /api/pay/methods`, the TypeBox enums and reconciliation all derive from it.
 * Adding a provider: write its folder (see docs/ARCHITECTURE.md, "Adding a provider") and add one line here.
 */
import type { AdapterContext, AnyProviderModule, EnvReader, ProviderModule } from './module.ts'
import type { ProviderRegistry } from './types.ts'
import { alipayModule } from './alipay/index.ts'
import { wechatModule } from './wechat/index.ts'
import { epayModule } from './epay/index.ts'
import { stripeModule } from './stripe/index.ts'

/** In display order (`GET /api/pay/methods` lists methods in this order). */
export const PROVIDER_MODULES = [alipayModule, wechatModule, epayModule, stripeModule] as const

type Module = (typeof PROVIDER_MODULES)[number]
type ConfigOf<M> = M extends ProviderModule<infer C, string> ? C : never

/** Every provider's settings, under its `configKey`; null = not configured. Part of PayConfig. */
export type ProviderConfigs = { [M in Module as M['configKey']]: ConfigOf<M> | null }

/** Pay's provider codes. */
export const PROVIDERS: readonly string[] = PROVIDER_MODULES.map((m) => m.name)

export function isProviderName(value: string): boolean {
  return PROVIDERS.includes(value)
}

export function providerModule(name: string): AnyProviderModule | undefined {
  return (PROVIDER_MODULES as readonly AnyProviderModule[]).find((m) => m.name === name)
}

/** Reads every provider's settings (each module validates its own; problems go to `r.problems`). */
export function readProviderConfigs(r: EnvReader): ProviderConfigs {
  const configs: Record<string, unknown> = {}
  for (const m of PROVIDER_MODULES as readonly AnyProviderModule[]) configs[m.configKey] = m.readConfig(r)
  return configs as ProviderConfigs
}

/** The names of the configured providers, in registry order. */
export function enabledProviders(config: ProviderConfigs): string[] {
  const configs = config as unknown as Record<string, unknown>
  return (PROVIDER_MODULES as readonly AnyProviderModule[]).filter((m) => configs[m.configKey]).map((m) => m.name)
}

/** Start-up log details of the configured providers (no secrets). */
export function describeProviders(config: ProviderConfigs): Record<string, unknown> {
  const configs = config as unknown as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const m of PROVIDER_MODULES as readonly AnyProviderModule[]) {
    const c = configs[m.configKey]
    if (c && m.describe) out[m.name] = m.describe(c)
  }
  return out
}

/** The adapters of the configured providers; an unconfigured provider is simply absent (disabled). */
export function createProviders(config: ProviderConfigs & { publicUrl: string; providerTimeoutMs: number }): ProviderRegistry {
  const configs = config as unknown as Record<string, unknown>
  const ctx: AdapterContext = { publicUrl: config.publicUrl, timeoutMs: config.providerTimeoutMs }
  const registry: ProviderRegistry = {}
  for (const m of PROVIDER_MODULES as readonly AnyProviderModule[]) {
    const c = configs[m.configKey]
    if (c) registry[m.name] = m.createAdapter(c, ctx)
  }
  return registry
}
