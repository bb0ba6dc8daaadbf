// A goods product (seed 001/004): quantity, delivery method, address and fee, payment method →
// POST /api/orders then POST /api/orders/{id}/pay.
import { api, ApiError, detectDevice, isMissingRoute } from '../api.js'
import { alertBox, fenToYuan, h, mount, randomId, spinner, yuan } from '../dom.js'
import { continuePayment, loadMethods, methodPicker } from '../pay.js'
import { purchaseErrorMessage } from './checkout.js'

const toFen = (yuanNumber) => Math.round(Number(yuanNumber ?? 0) * 100)
const code = (m) => m.code ?? m.id ?? m.method
const baseFee = (m) => m.baseFee ?? m.base_fee ?? m.fee ?? 0
const needsAddress = (m) => (m.requiresAddress ?? m.requires_address ?? !/pickup|self/i.test(String(code(m)))) !== false

export async function productPage(ctx, id) {
  if (!ctx.requireLogin()) return null
  let product
  try {
    product = await api(`/products/${id}`, { auth: false })
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return h(
        'div',
        { class: 'page' },
        h('h1', null, '商品'),
        alertBox('error', '商品不存在或已下架。'),
        h('a', { class: 'btn', href: '/', 'data-link': '' }, '返回首页'),
      )
    }
    throw err
  }
  const [deliveryList, methods] = await Promise.all([
    api(`/delivery-methods?productId=${encodeURIComponent(id)}`, { auth: false }).catch(() => []),
    loadMethods({ forGoods: true }),
  ])
  const deliveries = Array.isArray(deliveryList) ? deliveryList : (deliveryList?.content ?? [])
  const priceFen = toFen(product.price)
  const maxQty = Math.max(1, Math.min(99, Number(product.stock ?? 99) || 99))

  let delivery = deliveries[0] ?? null
  let feeFen = delivery ? toFen(baseFee(delivery)) : 0
  let feeSeq = 0

  const qty = h('input', { type: 'number', id: 'quantity', min: 1, max: maxQty, step: 1, value: '1', inputmode: 'numeric' })
  const address = h('textarea', { id: 'address', rows: 2, maxlength: 200, placeholder: '省 / 市 / 区 / 街道门牌号，收件人及电话' })
  const contactName = h('input', { type: 'text', id: 'contact-name', maxlength: 64, autocomplete: 'name', placeholder: '选填' })
  const contactPhone = h('input', { type: 'tel', id: 'contact-phone', maxlength: 20, autocomplete: 'tel', placeholder: '选填' })
  const addressRow = h(
    'div',
    { class: 'address-row' },
    h('label', { for: 'address' }, '收货地址'),
    address,
    h(
      'div',
      { class: 'two-cols' },
      h('div', null, h('label', { for: 'contact-name' }, '收件人'), contactName),
      h('div', null, h('label', { for: 'contact-phone' }, '联系电话'), contactPhone),
    ),
  )
  const feeEl = h('span', { id: 'delivery-fee' })
  const totalEl = h('strong', { class: 'total', id: 'total' })
  const goodsAmount = h('span', { id: 'goods-amount' })
  const msg = h('div', { id: 'checkout-msg' })
  const picker = methodPicker(methods)
  const payBtn = h('button', { class: 'btn primary big block', id: 'pay-button', type: 'submit' }, '提交订单并支付')

  const quantity = () => {
    const n = Number(qty.value)
    return Number.isInteger(n) && n >= 1 && n <= maxQty ? n : null
  }
  const refresh = () => {
    const n = quantity()
    qty.classList.toggle('invalid', n === null)
    addressRow.hidden = !delivery || !needsAddress(delivery)
    feeEl.textContent = `¥${fenToYuan(feeFen)}`
    goodsAmount.textContent = n === null ? '¥—' : `¥${fenToYuan(priceFen * n)}`
    totalEl.textContent = n === null ? '¥—' : `¥${fenToYuan(priceFen * n + feeFen)}`
    payBtn.disabled = n === null || !methods.length || (deliveries.length > 0 && !delivery)
  }
  // The fee comes from main (POST /api/delivery-fee); until it answers, the method's base fee.
  let feeTimer
  const requestFee = () => {
    clearTimeout(feeTimer)
    if (!delivery) return refresh()
    feeTimer = setTimeout(async () => {
      const seq = ++feeSeq
      try {
        const d = await api('/delivery-fee', {
          method: 'POST',
          auth: false,
          body: { productId: product.id, deliveryMethod: code(delivery), address: address.value.trim(), quantity: quantity() ?? 1 },
        })
        if (seq === feeSeq) feeFen = toFen(d?.deliveryFee ?? d?.delivery_fee ?? d?.fee ?? baseFee(delivery))
      } catch (err) {
        if (seq === feeSeq && isMissingRoute(err)) feeFen = toFen(baseFee(delivery))
      }
      if (seq === feeSeq && ctx.active) refresh()
    }, 300)
  }
  ctx.onLeave(() => clearTimeout(feeTimer))
  qty.addEventListener('input', () => {
    refresh()
    requestFee()
  })
  address.addEventListener('input', () => {
    if (msg.querySelector('.alert.error')) mount(msg)
    requestFee()
  })

  const deliveryEl = h('fieldset', { class: 'methods', id: 'delivery-methods' }, h('legend', null, '配送方式'))
  const drawDeliveries = () => {
    deliveryEl.replaceChildren(h('legend', null, '配送方式'))
    for (const m of deliveries) {
      const selected = delivery && code(m) === code(delivery)
      deliveryEl.append(
        h(
          'label',
          { class: `method${selected ? ' selected' : ''}`, dataset: { delivery: String(code(m)) } },
          h('input', {
            type: 'radio',
            name: 'delivery',
            value: String(code(m)),
            checked: Boolean(selected),
            onChange: () => {
              delivery = m
              feeFen = toFen(baseFee(m))
              drawDeliveries()
              refresh()
              requestFee()
            },
          }),
          h('span', { class: 'method-text' }, h('b', null, m.name ?? code(m)), m.description ? h('small', null, m.description) : null),
          h('span', { class: 'muted' }, Number(baseFee(m)) > 0 ? `运费 ${yuan(baseFee(m))} 起` : '免运费'),
        ),
      )
    }
  }
  drawDeliveries()

  let idemKey = randomId()
  let lastBody = ''
  const submit = async (e) => {
    e.preventDefault()
    const n = quantity()
    const choice = picker.value()
    if (n === null || !choice) return
    if (delivery && needsAddress(delivery) && address.value.trim().length < 5) {
      mount(msg, alertBox('error', '请填写完整的收货地址'))
      address.focus()
      return
    }
    const body = {
      productId: product.id,
      quantity: n,
      ...(delivery ? { deliveryMethod: code(delivery) } : {}),
      ...(delivery && needsAddress(delivery) ? { deliveryAddress: address.value.trim() } : {}),
      ...(contactName.value.trim() ? { contactName: contactName.value.trim() } : {}),
      ...(contactPhone.value.trim() ? { contactPhone: contactPhone.value.trim() } : {}),
    }
    if (body.contactPhone && !/^[0-9+() -]{5,20}$/.test(body.contactPhone)) {
      mount(msg, alertBox('error', '联系电话格式不正确'))
      contactPhone.focus()
      return
    }
    if (JSON.stringify(body) !== lastBody) {
      lastBody = JSON.stringify(body)
      idemKey = randomId()
    }
    payBtn.disabled = true
    mount(msg, alertBox('info', spinner(), ' 正在创建订单…'))
    let order
    try {
      const d = await api('/orders', { method: 'POST', body, idempotencyKey: idemKey })
      order = { id: d.id ?? d.orderId ?? d.order_id, orderNo: d.orderNo ?? d.order_no }
    } catch (err) {
      if (!ctx.active) return
      mount(msg, alertBox('error', purchaseErrorMessage(err)))
      payBtn.disabled = false
      return
    }
    try {
      mount(msg, alertBox('info', spinner(), ' 正在发起支付…'))
      const p = await api(`/orders/${order.id}/pay`, {
        method: 'POST',
        body: { ...choice, device: detectDevice() },
        idempotencyKey: `${idemKey}-pay`,
      })
      await continuePayment(ctx, order, p.paymentInfo, (text) => mount(msg, alertBox('info', spinner(), ' ', text)))
    } catch (err) {
      // The order exists: its page offers paying again.
      if (!ctx.active) return
      sessionStorage.setItem('paysys.flash', purchaseErrorMessage(err))
      ctx.navigate(`/order/${order.id}`)
    }
  }

  const view = h(
    'form',
    { class: 'page checkout product-page', onSubmit: submit, novalidate: true },
    h('h1', null, product.name),
    h(
      'section',
      { class: 'card summary' },
      product.description ? h('p', { class: 'muted' }, product.description) : null,
      h('div', { class: 'pkg-price' }, yuan(product.price)),
      h('label', { for: 'quantity' }, '数量'),
      qty,
    ),
    deliveries.length ? h('section', { class: 'card' }, deliveryEl, addressRow) : null,
    h('section', { class: 'card' }, picker.el),
    h(
      'section',
      { class: 'card' },
      h(
        'dl',
        { class: 'kv' },
        h('dt', null, '商品金额'),
        h('dd', null, goodsAmount),
        h('dt', null, '运费'),
        h('dd', null, feeEl),
        h('dt', null, '应付金额'),
        h('dd', null, totalEl),
      ),
    ),
    msg,
    payBtn,
  )
  refresh()
  requestFee()
  return view
}
