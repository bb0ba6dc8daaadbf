/**
 * Reconciliation alone gets paid orders credited: pay's push to main is switched off, nobody polls
 * payment-status, and for half of the orders the provider never even notifies. main's sweep asks pay
 * about stale pending orders, pay asks the provider, and every paid order ends PAID and credited once.
 */
import t from 'tap'
import { http, startStack, until } from './fixtures/stack.ts'

const stack = await startStack({
  extra: {
    pay: { OUTBOX_PUSH_ENABLED: 'false' },
    main: { RECONCILE_AFTER_SECONDS: '0', EXPIRY_SWEEP_MS: '300' },
  },
})
t.teardown(() => stack.stop())
const { main, sandbox } = stack

t.test('with the push off and no polling, the reconciliation sweep credits every paid order once', async (t) => {
  const token = (await http(`${main}/api/auth/register`, { body: { email: 'recon@example.com', password: 'password123' } })).json.data.token
  const plans: [string, string, string][] = [
    ['ALIPAY', 'qr', 'alipay'],
    ['WECHAT_PAY', 'native', 'wechat'],
    ['EPAY', 'wxpay', 'epay'],
  ]
  const orders: { id: number; orderNo: string }[] = []
  for (let i = 0; i < 9; i++) {
    const [method, channel, provider] = plans[i % 3]!
    const res = await http(`${main}/api/credits/purchase`, {
      token,
      body: { packageCode: 'CREDITS_200', paymentMethod: method, channel, device: 'pc' },
    })
    t.equal(res.status, 200, res.text)
    orders.push(res.json.data)
    // Odd orders: the provider never notifies; even orders: pay learns from the notify but does not push.
    const paid = await http(`${sandbox}/control/${provider}/trades/${res.json.data.orderNo}/pay`, { body: { notify: i % 2 === 0 } })
    t.equal(paid.status, 200, paid.text)
  }
  // One order nobody pays stays pending.
  const unpaid = (
    await http(`${main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', channel: 'qr' } })
  ).json.data
  await until(
    'every paid order PAID in main (local reads only)',
    async () => {
      const states = await Promise.all(orders.map(async (o) => (await http(`${main}/api/orders/${o.id}`, { token })).json.data.status))
      return states.every((s) => s === 'PAID')
    },
    60_000,
  )
  t.equal((await http(`${main}/api/credits/balance`, { token })).json.data.balance, 9 * 200)
  t.equal((await http(`${main}/api/credits/ledger`, { token })).json.data.totalElements, 9, 'one PURCHASE row per order')
  t.equal((await http(`${main}/api/orders/${unpaid.id}`, { token })).json.data.status, 'PENDING_PAYMENT')
  const [pushed] = await stack.paySql`select count(*)::int as n from outbox where status = 'DELIVERED'`
  t.equal(pushed!.n, 0, 'nothing was pushed: the pull alone did it')
})
