/**
 * The one list of simulated providers. Config, the notify worker, fault injection, the cashier, the
 * control API and bills all derive from it; adding a provider is a folder and one line here.
 */
import { alipay } from './alipay/index.ts'
import { epay } from './epay/index.ts'
import { stripe } from './stripe/index.ts'
import { wechat } from './wechat/index.ts'
import type { SandboxProvider } from './provider.ts'

export const SANDBOX_PROVIDERS = [alipay, wechat, epay, stripe] as const

type Listed = (typeof SANDBOX_PROVIDERS)[number]
type SettingsOf<P> = P extends SandboxProvider<string, infer C> ? C : never

/** Each provider's settings under its name (null: not configured). */
export type ProviderConfigs = { readonly [P in Listed as P['name']]: SettingsOf<P> | null }
export type ProviderName = Listed['name']
