/** Stripe (Checkout Sessions, cards) as pay's registry sees it: see ../module.ts. */
import { defineProvider } from '../module.ts'
import { readStripeConfig } from './config.ts'
import { stripeAcknowledge, stripeNotifySchema } from './notify.ts'
import { createStripeProvider } from './stripe.ts'

export const stripeModule = defineProvider({
  name: 'STRIPE',
  displayName: 'Stripe',
  configKey: 'stripe',
  channels: [{ code: 'card', name: '银行卡（Stripe）', requires: [] }],
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
  ],
  readConfig: readStripeConfig,
  describe: (c) => ({ apiBase: c.apiBase, currency: c.currency, mode: c.secretKey.includes('_live_') ? 'live' : 'test' }),
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
