/** The footer's providers line, derived from the methods main lists (public/js/dom.js, display data). */
import t from 'tap'

const dom = (await import(new URL('../public/js/dom.js', import.meta.url).href)) as {
  providersLine(methods: { provider?: string }[]): string | null
}

t.test('the providers of the listed methods, each once, in list order; Stripe when it serves one', async (t) => {
  t.equal(
    dom.providersLine([{ provider: 'ALIPAY' }, { provider: 'WECHAT_PAY' }, { provider: 'EPAY' }, { provider: 'EPAY' }]),
    '支付由支付宝 · 微信支付 · 易支付提供',
  )
  t.equal(
    dom.providersLine([{ provider: 'ALIPAY' }, { provider: 'WECHAT_PAY' }, { provider: 'EPAY' }, { provider: 'STRIPE' }]),
    '支付由支付宝 · 微信支付 · 易支付 · Stripe提供',
  )
  t.equal(dom.providersLine([{ provider: 'STRIPE' }]), '支付由Stripe提供')
  t.equal(dom.providersLine([{ provider: 'NEWPAY' }]), '支付由NEWPAY提供', 'an unknown provider shows its code')
  t.equal(dom.providersLine([]), null, 'no methods: the static text stays')
})
