import type { PayConfig } from '../config.ts'
import { createAlipayProvider } from './alipay/alipay.ts'
import type { ProviderRegistry } from './types.ts'

/** The configured providers; an unconfigured provider is simply absent (disabled). */
export function createProviders(config: Pick<PayConfig, 'alipay' | 'publicUrl' | 'providerTimeoutMs'>): ProviderRegistry {
  const registry: ProviderRegistry = {}
  if (config.alipay)
    registry.ALIPAY = createAlipayProvider(config.alipay, { publicUrl: config.publicUrl, timeoutMs: config.providerTimeoutMs })
  return registry
}
