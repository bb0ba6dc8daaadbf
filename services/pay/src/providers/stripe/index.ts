/**
 * Stripe (Checkout Sessions) as pay's registry sees it: see ../module.ts. Its channels are Stripe's payment
 * method types; STRIPE_METHODS says which the adapter offers (only those methods are listed).
 */
import { defineProvider } from '../module.ts'
import { readStripeConfig } from './config.ts'
import { stripeAcknowledge, stripeNotifySchema } from './notify.ts'
import { createStripeProvider } from './stripe.ts'

export const stripeModule = defineProvider({
  name: 'STRIPE',
  displayName: 'Stripe',
  configKey: 'stripe',
  channels: [
    { code: 'card', name: '银行卡（Stripe）', requires: [] },
    { code: 'alipay', name: '支付宝（Stripe）', requires: [] },
    { code: 'wechat_pay', name: '微信支付（Stripe）', requires: [] },
  ],
  methods: [
    {
      // Cards: when Stripe is configured it serves BANK_CARD (see `priority` in ../module.ts).
      method: 'BANK_CARD',
      name: '银行卡',
      icon: '/icons/card.svg',
      description: '信用卡/借记卡（Stripe 收银台）',
      aliases: ['bank_card', 'bank', 'card'],
      channels: ['card'],
      deviceChannels: { pc: 'card', mobile: 'card', alipay: 'card', wechat: 'card', qq: 'card' },
      priority: 1,
    },
    {
      // Stripe's own Alipay / WeChat Pay (STRIPE_METHODS): below any other provider serving the method, so
      // the native provider stays first whenever it is configured.
      method: 'ALIPAY',
      name: '支付宝',
      icon: '/icons/alipay.svg',
      description: '支付宝（Stripe 收银台）',
      aliases: ['alipay'],
      channels: ['alipay'],
      deviceChannels: { pc: 'alipay', mobile: 'alipay', alipay: 'alipay', wechat: 'alipay', qq: 'alipay' },
      priority: -1,
    },
    {
      method: 'WECHAT_PAY',
      name: '微信支付',
      icon: '/icons/wechat.svg',
      description: '微信支付（Stripe 收银台）',
      aliases: ['wechat', 'wechat_pay', 'wxpay'],
      channels: ['wechat_pay'],
      deviceChannels: { pc: 'wechat_pay', mobile: 'wechat_pay', alipay: 'wechat_pay', wechat: 'wechat_pay', qq: 'wechat_pay' },
      priority: -1,
    },
  ],
  readConfig: readStripeConfig,
  describe: (c) => ({
    apiBase: c.apiBase,
    currency: c.currency,
    methods: c.methods,
    mode: c.secretKey.includes('_live_') ? 'live' : 'test',
  }),
  createAdapter: createStripeProvider,
  notify: {
    routes: [{ method: 'POST', path: '/api/pay/notify/stripe', schema: stripeNotifySchema }],
    acknowledge: stripeAcknowledge,
  },
  returnPaths: ['/api/pay/return/stripe'],
  // Sessions can be expired; refunds are many per payment, each with its own idempotency key; the day's
  // balance transactions are the bill.
  capabilities: { oneRefundPerAttempt: false, close: true, bill: true },
})
