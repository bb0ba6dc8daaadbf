// Checkout for a credit package: summary, custom credits (validated live), payment method → POST /api/credits/purchase.
import { api, ApiError } from '../api.js'
import { alertBox, h, mount, randomId, spinner, yuan } from '../dom.js'
import { continuePayment, loadMethods, methodPicker } from '../pay.js'
import { customCreditsInput, unitFen } from './home.js'

export function purchaseErrorMessage(err) {
  if (!(err instanceof ApiError)) return err?.message ?? String(err)
  switch (err.code) {
    case 'CUSTOM_CREDITS_OUT_OF_RANGE':
      return err.message || '积分数量无效，请选择 100–10000 之间的数量'
    case 'PAYMENT_METHOD_DISABLED':
      return `该支付方式暂不可用，请换一种支付方式。（${err.message}）`
    case 'PACKAGE_NOT_FOUND':
      return '所选套餐不存在，请返回首页重新选择'
    case 'RATE_LIMITED':
      return '操作过于频繁，请稍后再试'
    default:
      if (err.status === 409) return err.message || '订单已存在，请勿重复提交'
      if (err.status >= 500 || err.status === 0) return `${err.message}（可稍后重试）`
      return err.message
  }
}

export async function checkoutPage(ctx) {
  if (!ctx.requireLogin()) return null
  const code = ctx.query.get('package') ?? ''
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(code)) {
    return h(
      'div',
      { class: 'page' },
      h('h1', null, '确认订单'),
      alertBox('warn', '请先选择一个积分套餐。'),
      h('a', { class: 'btn', href: '/', 'data-link': '' }, '返回选择套餐'),
    )
  }
  let pkg
  try {
    pkg = await api(`/credits/packages/${encodeURIComponent(code)}`, { auth: false })
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return h(
        'div',
        { class: 'page' },
        h('h1', null, '确认订单'),
        alertBox('error', '所选套餐不存在或已下架。'),
        h('a', { class: 'btn', href: '/', 'data-link': '' }, '返回选择套餐'),
      )
    }
    throw err
  }
  const methods = await loadMethods()
  const custom = pkg.packageType === 'CUSTOM'
  let credits = custom ? Number(ctx.query.get('credits')) || (pkg.minCredits ?? 100) : pkg.credits

  const amountEl = h('strong', { class: 'total', id: 'total' })
  const creditsEl = h('span', { id: 'summary-credits' })
  const message = h('div', { id: 'checkout-msg' })
  const picker = methodPicker(methods)
  const payBtn = h('button', { class: 'btn primary big block', id: 'pay-button', type: 'submit' }, '确认支付')
  const refresh = () => {
    const valid = credits !== null
    const fen = custom ? (valid ? Math.round(credits * unitFen(pkg)) : null) : Math.round(pkg.currentPrice * 100)
    amountEl.textContent = fen === null ? '¥—' : yuan(fen / 100)
    creditsEl.textContent = valid ? `${credits} 积分` : '—'
    payBtn.disabled = !valid || !methods.length
    payBtn.textContent = fen === null ? '确认支付' : `确认支付 ${yuan(fen / 100)}`
  }
  // One key per checkout: a retried click after a network error does not create a second order.
  let idemKey = randomId()
  let lastBody = ''

  const submit = async (e) => {
    e.preventDefault()
    const choice = picker.value()
    if (!choice || credits === null) return
    const body = {
      packageCode: pkg.packageCode,
      paymentMethod: choice.method,
      ...(choice.channel ? { channel: choice.channel } : {}),
      ...(custom ? { customCredits: credits } : {}),
      device: picker.device,
      clientInfo: { userAgent: navigator.userAgent.slice(0, 500), deviceType: picker.device === 'pc' ? 'WEB' : 'MOBILE' },
    }
    const bodyKey = JSON.stringify(body)
    if (bodyKey !== lastBody) {
      idemKey = randomId()
      lastBody = bodyKey
    }
    payBtn.disabled = true
    mount(message, alertBox('info', spinner(), ' 正在创建订单…'))
    try {
      const data = await api('/credits/purchase', { method: 'POST', body, idempotencyKey: idemKey })
      await continuePayment(ctx, { id: data.id, orderNo: data.orderNo ?? data.orderId }, data.paymentInfo, (text) =>
        mount(message, alertBox('info', spinner(), ' ', text)),
      )
    } catch (err) {
      if (!ctx.active) return
      mount(message, alertBox('error', purchaseErrorMessage(err)))
      payBtn.disabled = false
    }
  }

  const view = h(
    'form',
    { class: 'page checkout', onSubmit: submit, novalidate: true },
    h('h1', null, '确认订单'),
    h(
      'section',
      { class: 'card summary' },
      h('h2', null, pkg.packageName),
      h('p', { class: 'muted' }, pkg.packageDescription),
      custom
        ? customCreditsInput(pkg, credits, (n) => {
            credits = n
            refresh()
          })
        : null,
      h('dl', { class: 'kv' }, h('dt', null, '积分'), h('dd', null, creditsEl), h('dt', null, '应付金额'), h('dd', null, amountEl)),
    ),
    h('section', { class: 'card' }, picker.el),
    message,
    payBtn,
    h('p', { class: 'muted small' }, '订单创建后 30 分钟内有效。支付完成后将自动返回本站并显示结果。'),
  )
  refresh()
  return view
}
