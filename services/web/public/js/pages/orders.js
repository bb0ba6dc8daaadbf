// Order history (GET /api/orders?page&size&status; falls back to seed 000's /api/payment-orders/user/{email}).
import { api, asPage, isMissingRoute, session } from '../api.js'
import { alertBox, dateTime, h, METHOD_NAMES, ORDER_STATUS, statusBadge, yuan } from '../dom.js'

const SIZE = 10

export function pager(ctx, base, p, extra = {}) {
  const page = Number(p.page) || 0
  const total = Math.max(1, Number(p.totalPages) || 1)
  const go = (n) => {
    const q = new URLSearchParams({ ...extra, page: String(n) })
    for (const [k, v] of [...q]) if (v === '') q.delete(k)
    ctx.navigate(`${base}?${q}`)
  }
  return h(
    'nav',
    { class: 'pager', 'aria-label': '分页' },
    h('button', { class: 'btn small', id: 'prev-page', disabled: page <= 0, onClick: () => go(page - 1) }, '上一页'),
    h('span', { class: 'muted', id: 'page-info' }, `第 ${page + 1} / ${total} 页（共 ${p.totalElements ?? 0} 条）`),
    h('button', { class: 'btn small', id: 'next-page', disabled: page + 1 >= total, onClick: () => go(page + 1) }, '下一页'),
  )
}

async function fetchOrders(page, status) {
  const q = new URLSearchParams({ page: String(page), size: String(SIZE) })
  if (status) q.set('status', status)
  try {
    return asPage(await api(`/orders?${q}`), page, SIZE)
  } catch (err) {
    if (!isMissingRoute(err)) throw err
  }
  const email = session.user?.email
  if (!email) return null
  try {
    return asPage(await api(`/payment-orders/user/${encodeURIComponent(email)}?${q}`), page, SIZE)
  } catch (err) {
    if (isMissingRoute(err)) return null
    throw err
  }
}

export async function ordersPage(ctx) {
  if (!ctx.requireLogin()) return null
  const page = Math.max(0, Number.parseInt(ctx.query.get('page') ?? '0', 10) || 0)
  const status = ORDER_STATUS[ctx.query.get('status') ?? ''] ? ctx.query.get('status') : ''
  const p = await fetchOrders(page, status)
  const filter = h(
    'select',
    {
      id: 'status-filter',
      'aria-label': '按状态筛选',
      onChange: (e) => ctx.navigate(`/orders${e.target.value ? `?status=${e.target.value}` : ''}`),
    },
    h('option', { value: '', selected: !status }, '全部状态'),
    Object.entries(ORDER_STATUS).map(([k, [text]]) => h('option', { value: k, selected: status === k }, text)),
  )
  const head = h('div', { class: 'page-head' }, h('h1', null, '我的订单'), filter)
  if (!p) return h('div', { class: 'page orders' }, head, alertBox('warn', '订单历史暂不可用，请稍后再试。'))
  const rows = p.content.map((o) => {
    const ref = o.id ?? o.orderNo ?? o.orderId
    const name = o.productName ?? o.packageName ?? '—'
    return h(
      'li',
      { class: 'order-row', dataset: { orderId: String(ref) } },
      h(
        'div',
        { class: 'order-main' },
        h('a', { href: `/order/${encodeURIComponent(ref)}`, 'data-link': '' }, h('b', null, name)),
        h('small', { class: 'muted' }, o.orderNo ?? o.orderId),
      ),
      h('div', { class: 'order-credits' }, o.credits ? `${o.credits} 积分` : o.quantity ? `× ${o.quantity}` : ''),
      h('div', { class: 'order-amount' }, yuan(o.amount ?? o.totalAmount)),
      h('div', { class: 'order-method muted' }, METHOD_NAMES[o.paymentMethod] ?? o.paymentMethod ?? ''),
      h('div', { class: 'order-status' }, statusBadge(o.status)),
      h('div', { class: 'order-time muted' }, dateTime(o.createdAt)),
      h(
        'div',
        { class: 'order-action' },
        h(
          'a',
          {
            class: `btn small${o.status === 'PENDING_PAYMENT' ? ' primary' : ''}`,
            href: `/order/${encodeURIComponent(ref)}`,
            'data-link': '',
          },
          o.status === 'PENDING_PAYMENT' ? '去支付' : '查看',
        ),
      ),
    )
  })
  return h(
    'div',
    { class: 'page orders' },
    head,
    rows.length
      ? h('ul', { class: 'order-list', id: 'order-list' }, rows)
      : alertBox('info', status ? '没有该状态的订单。' : '还没有订单。', ' ', h('a', { href: '/', 'data-link': '' }, '去购买积分')),
    p.totalPages > 1 || page > 0 ? pager(ctx, '/orders', { ...p, page }, { status }) : null,
  )
}
