// Credit balance and ledger (GET /api/credits/balance, GET /api/credits/ledger?page&size).
import { api, asPage } from '../api.js'
import { dateTime, h, alertBox } from '../dom.js'
import { pager } from './orders.js'

const TYPES = { PURCHASE: '购买', CONSUME: '消费', REFUND: '退款', ADJUST: '调整' }
const SIZE = 10

export async function creditsPage(ctx) {
  if (!ctx.requireLogin()) return null
  const page = Math.max(0, Number.parseInt(ctx.query.get('page') ?? '0', 10) || 0)
  const [bal, ledger] = await Promise.all([api('/credits/balance'), api(`/credits/ledger?page=${page}&size=${SIZE}`)])
  const p = asPage(ledger, page, SIZE)
  const rows = p.content.map((r) =>
    h(
      'tr',
      { dataset: { type: r.type } },
      h('td', null, dateTime(r.createdAt)),
      h('td', null, TYPES[r.type] ?? r.type),
      h('td', { class: `num ${r.delta >= 0 ? 'plus' : 'minus'}` }, `${r.delta > 0 ? '+' : ''}${r.delta}`),
      h('td', { class: 'num' }, String(r.balanceAfter)),
      h(
        'td',
        null,
        r.description || '—',
        r.orderId ? [' ', h('a', { href: `/order/${r.orderId}`, 'data-link': '', class: 'small' }, '订单')] : null,
      ),
    ),
  )
  return h(
    'div',
    { class: 'page credits' },
    h('h1', null, '积分明细'),
    h(
      'section',
      { class: 'card balance-card' },
      h('div', { class: 'muted' }, '当前积分余额'),
      h('div', { class: 'balance-big', id: 'balance' }, String(bal.balance)),
      h('a', { class: 'btn primary', href: '/', 'data-link': '' }, '购买积分'),
    ),
    rows.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'ledger', id: 'ledger' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', null, '时间'),
                h('th', null, '类型'),
                h('th', { class: 'num' }, '变动'),
                h('th', { class: 'num' }, '余额'),
                h('th', null, '说明'),
              ),
            ),
            h('tbody', null, rows),
          ),
        )
      : alertBox('info', '暂无积分变动记录。'),
    p.totalPages > 1 || page > 0 ? pager(ctx, '/credits', { ...p, page }) : null,
  )
}
