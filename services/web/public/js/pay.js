// Payment methods (GET /api/payment-methods) and what to do with a `paymentInfo` (SPEC §4):
// form → insert and submit `punchout_form`; jump → go to paymentUrl; qrcode → the order page shows the QR;
// jsapi → WeixinJSBridge inside WeChat.
import { api, detectDevice } from './api.js'
import { alertBox, h, METHOD_NAMES } from './dom.js'

const LOCAL_ICONS = {
  ALIPAY: '/icons/alipay.svg',
  WECHAT_PAY: '/icons/wechat.svg',
  EPAY: '/icons/epay.svg',
  BANK_CARD: '/icons/bank.svg',
  CREDITS: '/icons/credits.svg',
}
const DEVICE_NAMES = { pc: '电脑', mobile: '手机', wechat: '微信内', alipay: '支付宝内', qq: 'QQ内' }

/** Enabled methods only, as main lists them. `forGoods`: CREDITS (pay from the balance) is only for goods. */
export async function loadMethods({ forGoods = false } = {}) {
  const list = await api('/payment-methods', { auth: false })
  const methods = (Array.isArray(list) ? list : [])
    .map((m) => ({ ...m, code: m.code ?? m.method ?? m.id }))
    .filter((m) => m.code && m.enabled !== false && (forGoods || m.code !== 'CREDITS'))
  // Goods may always be paid from the credit balance (SPEC §4 CREDITS); it is not a provider, so pay does not list it.
  if (forGoods && !methods.some((m) => m.code === 'CREDITS')) {
    methods.push({ code: 'CREDITS', name: '积分余额', description: '使用账户积分支付，余额不足时不可用', channels: [] })
  }
  return methods
}

/**
 * Radio list of methods with, under the chosen one, its channels ("自动" = chosen by device).
 * Returns {el, value()} where value() is {method, channel?} or null.
 */
export function methodPicker(methods, { onChange } = {}) {
  const device = detectDevice()
  let method = methods[0]?.code ?? null
  let channel = ''
  const el = h('fieldset', { class: 'methods', id: 'methods' })
  const draw = () => {
    el.replaceChildren(h('legend', null, '支付方式'))
    if (!methods.length) {
      el.append(alertBox('warn', '暂无可用的支付方式，请稍后再试。'))
      return
    }
    for (const m of methods) {
      const icon = typeof m.icon === 'string' && /^(\/|data:)/.test(m.icon) ? m.icon : LOCAL_ICONS[m.code]
      const selected = m.code === method
      el.append(
        h(
          'label',
          { class: `method${selected ? ' selected' : ''}`, dataset: { method: m.code } },
          h('input', {
            type: 'radio',
            name: 'pay-method',
            value: m.code,
            checked: selected,
            onChange: () => {
              method = m.code
              channel = ''
              draw()
              onChange?.()
            },
          }),
          icon ? h('img', { src: icon, alt: '', width: 32, height: 32 }) : null,
          h(
            'span',
            { class: 'method-text' },
            h('b', null, m.name ?? METHOD_NAMES[m.code] ?? m.code),
            m.description ? h('small', null, m.description) : null,
          ),
        ),
      )
      const channels = Array.isArray(m.channels) ? m.channels.map((c) => (typeof c === 'string' ? { code: c, name: c } : c)) : []
      if (selected && channels.length > 1) {
        const chip = (code, text) =>
          h(
            'label',
            { class: `chip${channel === code ? ' selected' : ''}`, dataset: { channel: code || 'auto' } },
            h('input', {
              type: 'radio',
              name: 'pay-channel',
              value: code,
              checked: channel === code,
              onChange: () => {
                channel = code
                draw()
              },
            }),
            text,
          )
        el.append(
          h(
            'div',
            { class: 'channels' },
            h('span', { class: 'muted' }, '渠道：'),
            chip('', `自动（${DEVICE_NAMES[device] ?? device}）`),
            channels.map((c) => chip(c.code, c.name ?? c.code)),
          ),
        )
      }
    }
  }
  draw()
  return {
    el,
    value: () => (method ? { method, ...(channel ? { channel } : {}) } : null),
    device,
  }
}

const KEY = (ref) => `paysys.payment.${ref}`

/** Remembers the last paymentInfo of an order (for the QR on its page). */
export function savePayment(refs, info) {
  for (const ref of refs)
    if (ref !== undefined && ref !== null) sessionStorage.setItem(KEY(ref), JSON.stringify({ ...info, savedAt: Date.now() }))
}
export function loadPayment(ref) {
  try {
    return JSON.parse(sessionStorage.getItem(KEY(ref)) ?? 'null')
  } catch {
    return null
  }
}

/**
 * Continues a payment in the browser. `order` = {id, orderNo}. Resolves once the page moved on
 * (to the provider, or to /order/:id).
 */
export async function continuePayment(ctx, order, info, status) {
  savePayment([order.id, order.orderNo], info)
  const orderPath = `/order/${encodeURIComponent(order.id ?? order.orderNo)}`
  const leaveTo = (what) => {
    // Going "back" from the provider's page lands on the order page, which polls.
    history.replaceState(null, '', orderPath)
    status?.(what)
  }
  switch (info.payType) {
    case 'form': {
      if (info.formHtml) {
        leaveTo(`正在跳转到${METHOD_NAMES[info.paymentMethod] ?? '支付'}收银台…`)
        const holder = document.getElementById('pay-form')
        // Seed 003: insert the form and submit it (scripts inserted this way do not run).
        holder.innerHTML = info.formHtml
        const form = document.forms.namedItem('punchout_form') ?? holder.querySelector('form')
        if (form) {
          form.submit()
          return
        }
      }
      if (info.paymentUrl) {
        leaveTo('正在跳转到收银台…')
        location.assign(info.paymentUrl)
        return
      }
      throw new Error('支付表单缺失，请重试')
    }
    case 'jump':
    case 'url':
    case 'redirect':
    case 'urlscheme':
      if (!info.paymentUrl) throw new Error('支付链接缺失，请重试')
      leaveTo('正在跳转到收银台…')
      location.assign(info.paymentUrl)
      return
    case 'jsapi':
      if (window.WeixinJSBridge && info.jsapiParams) {
        window.WeixinJSBridge.invoke('getBrandWCPayRequest', info.jsapiParams, () => ctx.navigate(orderPath))
        return
      }
      ctx.navigate(orderPath)
      return
    default:
      // qrcode, balance (already paid), anything else: the order page shows it and polls.
      ctx.navigate(orderPath)
  }
}

/** POST /api/orders/{id}/pay for an existing order (pay again, another method). */
export async function payOrder(ctx, order, choice, status) {
  const device = detectDevice()
  const data = await api(`/orders/${encodeURIComponent(order.id ?? order.orderNo)}/pay`, {
    method: 'POST',
    body: { ...choice, device },
  })
  await continuePayment(ctx, { id: data.orderId ?? order.id, orderNo: data.orderNo ?? order.orderNo }, data.paymentInfo, status)
}
