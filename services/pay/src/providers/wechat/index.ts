/** WeChat Pay (微信支付, API v3) as pay's registry sees it: see ../module.ts. */
import { defineProvider } from '../module.ts'
import { readWechatConfig } from './config.ts'
import { wechatAcknowledge, wechatNotifySchema } from './notify.ts'
import { createWechatProvider } from './wechat.ts'

export const wechatModule = defineProvider({
  name: 'WECHAT_PAY',
  displayName: '微信支付',
  configKey: 'wechat',
  channels: [
    { code: 'native', name: '扫码支付', requires: [] },
    // JSAPI pays as a known WeChat user; H5 needs the buyer's IP (WeChat checks it against the payer).
    { code: 'jsapi', name: '微信内支付', requires: ['openid'] },
    { code: 'h5', name: 'H5支付', requires: ['clientIp'] },
  ],
  methods: [
    {
      method: 'WECHAT_PAY',
      name: '微信支付',
      icon: '/icons/wechat.svg',
      description: '微信扫码、公众号或H5支付',
      aliases: ['wechat', 'wechat_pay', 'wxpay'],
      channels: ['native', 'jsapi', 'h5'],
      // Seed 002: inside WeChat → JSAPI, a phone browser → H5, anything else scans a QR code.
      deviceChannels: { pc: 'native', mobile: 'h5', wechat: 'jsapi', alipay: 'native', qq: 'native' },
    },
  ],
  readConfig: readWechatConfig,
  createAdapter: createWechatProvider,
  notify: {
    routes: [{ method: 'POST', path: '/api/pay/notify/wechat', schema: wechatNotifySchema }],
    acknowledge: wechatAcknowledge,
  },
  capabilities: { oneRefundPerAttempt: false, close: true, bill: true },
})
