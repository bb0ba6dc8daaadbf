// 用户: find a user by email (or id), see the balance and the ledger, adjust credits with a reason.
import { h } from '../../dom.js'
import { adminApi, carryFlash, flashBox, field, fullTime, mutate, pager, table, td, withMessage } from '../ui.js'

const TYPES = { PURCHASE: '购买', CONSUME: '消费', REFUND: '退款', ADJUST: '调整' }

export async function usersPage(ctx) {
  const q = ctx.query.get('q') ?? ''
  const page = Number(ctx.query.get('page') ?? 0) || 0
  const data = await adminApi(`/admin/users?${new URLSearchParams({ q, page: String(page), size: '20' })}`)
  const input = h('input', { id: 'user-q', type: 'search', placeholder: '邮箱或用户编号', value: q })
  const go = (p = 0) => {
    const n = new URLSearchParams()
    if (input.value.trim()) n.set('q', input.value.trim())
    if (p) n.set('page', String(p))
    ctx.navigate(`/admin/users${n.toString() ? `?${n}` : ''}`)
  }
  const rows = data.content.map((u) => [
    td(null, String(u.id)),
    td(
      { class: 'wrap' },
      h('a', { href: `/admin/users/${u.id}`, 'data-link': '' }, u.email),
      u.name ? h('small', { class: 'muted' }, ` ${u.name}`) : null,
    ),
    td({ class: 'num' }, String(u.creditBalance)),
    u.role === 'admin' ? h('span', { class: 'badge info' }, '管理员') : '用户',
    td({ class: 'nowrap hide-sm' }, fullTime(u.createdAt)),
  ])
  return h(
    'div',
    { class: 'page admin-users' },
    h('h1', null, '用户'),
    h(
      'form',
      { class: 'filters', onSubmit: (e) => (e.preventDefault(), go(0)) },
      field('查找用户', input),
      h('div', { class: 'btns' }, h('button', { class: 'btn primary', type: 'submit', id: 'user-search' }, '搜索')),
    ),
    table(['编号', '邮箱', h('th', { class: 'num' }, '积分余额'), '角色', h('th', { class: 'hide-sm' }, '注册时间')], rows, {
      id: 'users-table',
      empty: '没有找到用户',
    }),
    pager(data, go),
  )
}

export async function userPage(ctx, id) {
  const page = Number(ctx.query.get('page') ?? 0) || 0
  const [user, ledger] = await Promise.all([adminApi(`/admin/users/${id}`), adminApi(`/admin/users/${id}/ledger?page=${page}&size=20`)])
  const flash = flashBox()
  const delta = h('input', { id: 'adjust-delta', type: 'number', step: '1', placeholder: '例如 100 或 -50' })
  const reason = h('input', { id: 'adjust-reason', maxlength: '256', placeholder: '调整原因（必填）' })
  const btn = h('button', { class: 'btn primary', type: 'submit', id: 'adjust-submit' }, '调整积分…')
  const form = h(
    'form',
    {
      class: 'card',
      id: 'adjust-form',
      onSubmit: async (e) => {
        e.preventDefault()
        const n = Number(delta.value)
        btn.disabled = true
        const r = await withMessage(
          flash,
          async () => {
            if (!Number.isInteger(n) || n === 0) throw new Error('调整数量须为非零整数')
            if (!reason.value.trim()) throw new Error('请填写调整原因')
            return mutate('/admin/credits/adjust', {
              body: { userId: user.id, delta: n, reason: reason.value.trim() },
              confirm: {
                title: '调整积分',
                body: [
                  h(
                    'p',
                    null,
                    `${user.email}：${n > 0 ? '增加' : '扣减'} ${Math.abs(n)} 积分（余额 ${user.creditBalance} → ${user.creditBalance + n}）。`,
                  ),
                  h('p', { class: 'muted small' }, `原因：${reason.value.trim()}`),
                ],
                confirmText: '确认调整',
                danger: n < 0,
              },
            })
          },
          (d) => `已调整，余额 ${d.balance}`,
        )
        btn.disabled = false
        if (r && ctx.active) {
          carryFlash(flash.firstChild)
          await ctx.rerender()
        }
      },
    },
    h('h2', null, '调整积分'),
    h('div', { class: 'inline-form' }, field('数量（正数增加，负数扣减）', delta), field('原因', reason), btn),
  )
  return h(
    'div',
    { class: 'page admin-user' },
    h('p', null, h('a', { href: '/admin/users', 'data-link': '' }, '← 用户列表')),
    h('h1', null, user.email),
    flash,
    h(
      'div',
      { class: 'tiles' },
      h(
        'div',
        { class: 'tile' },
        h('div', { class: 'label' }, '积分余额'),
        h('div', { class: 'value', id: 'user-balance' }, String(user.creditBalance)),
      ),
      h(
        'div',
        { class: 'tile' },
        h('div', { class: 'label' }, '角色'),
        h('div', { class: 'value' }, user.role === 'admin' ? '管理员' : '用户'),
      ),
      h('div', { class: 'tile' }, h('div', { class: 'label' }, '注册时间'), h('div', { class: 'sub' }, fullTime(user.createdAt))),
      h(
        'a',
        { class: 'tile-link', href: `/admin/orders?email=${encodeURIComponent(user.email)}`, 'data-link': '' },
        h('div', { class: 'tile' }, h('div', { class: 'label' }, '订单'), h('div', { class: 'value' }, '查看 →')),
      ),
    ),
    form,
    h('h2', null, '积分流水'),
    table(
      ['时间', '类型', h('th', { class: 'num' }, '变动'), h('th', { class: 'num' }, '余额'), '说明'],
      ledger.content.map((l) => [
        td({ class: 'nowrap' }, fullTime(l.createdAt)),
        TYPES[l.type] ?? l.type,
        td({ class: `num ${l.delta > 0 ? 'plus' : 'minus'}` }, `${l.delta > 0 ? '+' : ''}${l.delta}`),
        td({ class: 'num' }, String(l.balanceAfter)),
        td(
          { class: 'wrap' },
          l.description,
          l.orderId ? [' · ', h('a', { href: `/admin/orders/${l.orderId}`, 'data-link': '' }, `订单 #${l.orderId}`)] : null,
        ),
      ]),
      { id: 'user-ledger', empty: '没有积分变动' },
    ),
    pager(ledger, (p) => ctx.navigate(`/admin/users/${id}?page=${p}`)),
  )
}
