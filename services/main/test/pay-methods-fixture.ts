/**
 * pay's `GET /api/pay/methods` answer (PayMethodInfo) with every provider configured, as a test fixture
 * for main's pure method choice and for stand-ins of pay. The real answer is checked end to end
 * (test/e2e/channels.test.ts).
 */
import type { PayMethodInfo } from '@paysys/contracts'

const ch = (code: string, name: string, requires: ('openid' | 'clientIp')[] = []) => ({ code, name, requires })

export const PAY_METHODS: PayMethodInfo[] = [
  {
    method: 'ALIPAY',
    provider: 'ALIPAY',
    name: '支付宝',
    icon: '/icons/alipay.svg',
    description: '支付宝扫码或网页支付',
    aliases: ['alipay'],
    channels: [ch('page', '电脑网站支付'), ch('wap', '手机网站支付'), ch('qr', '扫码支付')],
    deviceChannels: { pc: 'page', mobile: 'wap', wechat: 'qr', alipay: 'wap', qq: 'qr' },
  },
  {
    method: 'WECHAT_PAY',
    provider: 'WECHAT_PAY',
    name: '微信支付',
    icon: '/icons/wechat.svg',
    description: '微信扫码、公众号或H5支付',
    aliases: ['wechat', 'wechat_pay', 'wxpay'],
    channels: [ch('native', '扫码支付'), ch('jsapi', '微信内支付', ['openid']), ch('h5', 'H5支付', ['clientIp'])],
    deviceChannels: { pc: 'native', mobile: 'h5', wechat: 'jsapi', alipay: 'native', qq: 'native' },
  },
  {
    method: 'EPAY',
    provider: 'EPAY',
    name: '易支付',
    icon: '/icons/epay.svg',
    description: '聚合支付（支付宝/微信/QQ钱包）',
    aliases: ['epay'],
    channels: [ch('alipay', '支付宝'), ch('wxpay', '微信支付'), ch('qqpay', 'QQ钱包'), ch('bank', '网银支付')],
    deviceChannels: { pc: 'alipay', mobile: 'alipay', wechat: 'wxpay', alipay: 'alipay', qq: 'qqpay' },
  },
  {
    method: 'BANK_CARD',
    provider: 'EPAY',
    name: '银行卡',
    icon: '/icons/bank.svg',
    description: '通过易支付的网银通道',
    aliases: ['bank_card', 'bank', 'card'],
    channels: [ch('bank', '网银支付')],
    deviceChannels: { pc: 'bank', mobile: 'bank', wechat: 'bank', alipay: 'bank', qq: 'bank' },
  },
]
