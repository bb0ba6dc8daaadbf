/** Alipay (支付宝) as pay's registry sees it: see ../module.ts. */
import { defineProvider } from '../module.ts'
import { createAlipayProvider } from './alipay.ts'
import { readAlipayConfig } from './config.ts'
import { alipayAcknowledge, alipayNotifySchema } from './notify.ts'

export const alipayModule = defineProvider({
  name: 'ALIPAY',
  displayName: '支付宝',
  configKey: 'alipay',
  channels: [
    { code: 'page', name: '电脑网站支付', requires: [] },
    { code: 'wap', name: '手机网站支付', requires: [] },
    { code: 'qr', name: '扫码支付', requires: [] },
  ],
  methods: [
    {
      method: 'ALIPAY',
      name: '支付宝',
      icon: '/icons/alipay.svg',
      description: '支付宝扫码或网页支付',
      aliases: ['alipay'],
      channels: ['page', 'wap', 'qr'],
      // Seed 002: a computer gets the page cashier, a phone (or the Alipay app) the wap one; inside
      // another app (WeChat, QQ) the buyer scans a QR code.
      deviceChannels: { pc: 'page', mobile: 'wap', alipay: 'wap', wechat: 'qr', qq: 'qr' },
    },
  ],
  readConfig: readAlipayConfig,
  describe: (config) => ({ gateway: config.gateway }),
  createAdapter: createAlipayProvider,
  notify: {
    routes: [
      { method: 'POST', path: '/api/pay/notify/alipay', schema: alipayNotifySchema },
      // Seed 003's notify URL.
      { method: 'POST', path: '/api/pay/notify', schema: alipayNotifySchema },
    ],
    acknowledge: alipayAcknowledge,
  },
  capabilities: { oneRefundPerAttempt: false, close: true, bill: true },
})
