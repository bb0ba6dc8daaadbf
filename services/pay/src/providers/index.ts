import type { PayConfig } from '../config.ts'
import { createAlipayProvider } from './alipay/alipay.ts'
import { createWechatProvider } from './wechat/wechat.ts'
import { createEpayProvider } from './epay/epay.ts'
import type { ProviderRegistry } from './types.ts'

/** The configured providers; an unconfigured provider is simply absent (disabled). */
export function createProviders(
  config: Pick<PayConfig, 'alipay' | 'wechat' | 'epay' | 'publicUrl' | 'providerTimeoutMs'>,
): ProviderRegistry {
  const registry: ProviderRegistry = {}
  if (config.alipay)
    registry.ALIPAY = createAlipayProvider(config.alipay, { publicUrl: config.publicUrl, timeoutMs: config.providerTimeoutMs })
  if (config.wechat)
    registry.WECHAT_PAY = createWechatProvider(config.wechat, { publicUrl: config.publicUrl, timeoutMs: config.providerTimeoutMs })
  if (config.epay) registry.EPAY = createEpayProvider(config.epay, { publicUrl: config.publicUrl, timeoutMs: config.providerTimeoutMs })
  return registry
}
