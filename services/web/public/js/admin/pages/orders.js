// 订单: search by status, email, order number, provider and China-time date range; paginated.
// The filters live in the URL (never the token), so a search can be shared and the back button works.
import { h, ORDER_STATUS, statusBadge, METHOD_NAMES } from '../../dom.js'
import { adminApi, field, fullTime, money, pager, table, td } from '../ui.js'

const FILTERS = ['status', 'email', 'orderNo', 'provider', 'from', 'to']

export async function ordersPage(ctx) {
  const q = ctx.query
  const page = Number(q.get('page') ?? 0) || 0
  const params = new URLSearchParams({ page: String(page), size: '20' })
  for (const k of FILTERS) if (q.get(k)) params.set(k, q.get(k))

  const status = h(
    'select',
    { id: 'f-status' },
    h('option', { value: '' }, '全部状态'),
    Object.entries(ORDER_STATUS).map(([k, [text]]) => h('option', { value: k, selected: q.get('status') === k }, text)),
  )
  const provider = h(
    'select',
    { id: 'f-provider' },
    h('option', { value: '' }, '全部方式'),
    Object.entries(METHOD_NAMES)
      .filter(([k]) => k !== 'BANK_CARD')
      .map(([k, text]) => h('option', { value: k, selected: q.get('provider') === k }, text)),
  )
  const email = h('input', { id: 'f-email', type: 'search', placeholder: 'buyer@example.com', value: q.get('email') ?? '' })
  const orderNo = h('input', { id: 'f-orderNo', type: 'search', placeholder: '订单号', value: q.get('orderNo') ?? '' })
  const from = h('input', { id: 'f-from', type: 'date', value: q.get('from') ?? '' })
  const to = h('input', { id: 'f-to', type: 'date', value: q.get('to') ?? '' })
  const go = (p = 0) => {
    const next = new URLSearchParams()
    const values = {
      status: status.value,
      email: email.value.trim(),
      orderNo: orderNo.value.trim(),
      provider: provider.value,
      from: from.value,
      to: to.value,
    }
    for (const [k, v] of Object.entries(values)) if (v) next.set(k, v)
    if (p) next.set('page', String(p))
    ctx.navigate(`/admin/orders${next.toString() ? `?${next}` : ''}`)
  }
  const form = h(
    'form',
    { class: 'filters', id: 'order-search', onSubmit: (e) => (e.preventDefault(), go(0)) },
    field('买家邮箱', email),
    field('订单号', orderNo),
    field('状态', status),
    field('支付方式', provider),
    field('创建日期从', from),
    field('到', to),
    h(
      'div',
      { class: 'btns' },
      h('button', { class: 'btn primary', type: 'submit', id: 'search' }, '搜索'),
      h('a', { class: 'btn', href: '/admin/orders', 'data-link': '' }, '重置'),
    ),
  )

  const data = await adminApi(`/admin/orders?${params}`)
  const rows = data.content.map((o) => [
    td({ class: 'nowrap' }, h('a', { href: `/admin/orders/${o.id}`, 'data-link': '' }, o.orderNo)),
    td({ class: 'wrap' }, o.productName ?? o.packageName ?? '', h('br'), h('small', { class: 'muted' }, o.customerEmail ?? '')),
    td({ class: 'num nowrap' }, money(o.amount)),
    td(null, statusBadge(o.status)),
    td({ class: 'hide-sm' }, METHOD_NAMES[o.paymentMethod] ?? o.paymentMethod ?? '—'),
    td({ class: 'nowrap hide-sm' }, fullTime(o.createdAt)),
  ])
  return h(
    'div',
    { class: 'page admin-orders' },
    h('h1', null, '订单'),
    form,
    table(
      [
        '订单号',
        '商品 / 买家',
        h('th', { class: 'num' }, '金额'),
        '状态',
        h('th', { class: 'hide-sm' }, '支付方式'),
        h('th', { class: 'hide-sm' }, '创建时间'),
      ],
      rows,
      {
        id: 'orders-table',
        empty: '没有符合条件的订单',
        rowProps: (i) => ({
          class: 'clickable',
          dataset: { orderId: String(data.content[i].id) },
          onClick: (e) => {
            if (e.target.closest('a')) return
            ctx.navigate(`/admin/orders/${data.content[i].id}`)
          },
        }),
      },
    ),
    pager(data, go),
  )
}
