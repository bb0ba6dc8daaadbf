/** Epay (彩虹易支付) as pay's registry sees it: see ../module.ts. */
import { defineProvider } from '../module.ts'
import { readEpayConfig } from './config.ts'
import { createEpayProvider } from './epay.ts'
import { epayAcknowledge, epayGetNotifySchema, epayPostNotifySchema } from './notify.ts'

export const epayModule = defineProvider({
  name: 'EPAY',
  displayName: '易支付',
  configKey: 'epay',
  channels: [
    // aliases: the wallet words of seed 002's payment_type.
    { code: 'alipay', name: '支付宝', requires: [], aliases: ['alipay'] },
    { code: 'wxpay', name: '微信支付', requires: [], aliases: ['wechat', 'wxpay'] },
    { code: 'qqpay', name: 'QQ钱包', requires: [], aliases: ['qq', 'qqpay'] },
    { code: 'bank', name: '网银支付', requires: [], aliases: ['bank'] },
  ],
  methods: [
    {
      method: 'EPAY',
      name: '易支付',
      icon: '/icons/epay.svg',
      description: '聚合支付（支付宝/微信/QQ钱包）',
      aliases: ['epay'],
      channels: ['alipay', 'wxpay', 'qqpay', 'bank'],
      // The wallet of the app the buyer is in; Alipay everywhere else.
      deviceChannels: { pc: 'alipay', mobile: 'alipay', alipay: 'alipay', wechat: 'wxpay', qq: 'qqpay' },
    },
    {
      // Epay's online-banking type, offered to buyers as a method of its own.
      method: 'BANK_CARD',
      name: '银行卡',
      icon: '/icons/bank.svg',
      description: '通过易支付的网银通道',
      aliases: ['bank_card', 'bank', 'card'],
      channels: ['bank'],
      deviceChannels: { pc: 'bank', mobile: 'bank', alipay: 'bank', wechat: 'bank', qq: 'bank' },
    },
  ],
  readConfig: readEpayConfig,
  createAdapter: createEpayProvider,
  notify: {
    routes: [
      { method: 'GET', path: '/api/pay/notify/epay', schema: epayGetNotifySchema, queryAsBody: true },
      { method: 'POST', path: '/api/pay/notify/epay', schema: epayPostNotifySchema, queryAsBody: true },
    ],
    acknowledge: epayAcknowledge,
  },
  returnPaths: ['/api/pay/return/epay'],
  // No close API (close only checks the order is unpaid), no bill (reconciliation queries each order),
  // and one refund per order with no refund number of its own.
  capabilities: { oneRefundPerAttempt: true, close: false, bill: false },
})
