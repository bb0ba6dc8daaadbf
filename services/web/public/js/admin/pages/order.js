// An order's page: what it is, its whole story in time order (main's order, refunds and ledger rows;
// pay's attempts, notifies and events), and the refund form — the claw-back is shown before anyone
// confirms, "credits already spent" is explained, and `force` needs a second confirmation.
import { alertBox, h, METHOD_NAMES, statusBadge } from '../../dom.js'
import { adminApi, confirmDialog, fullTime, money, mutate, table, td, withMessage } from '../ui.js'

const SOURCES = { order: '订单', attempt: '支付', notify: '通知', event: '事件', refund: '退款', ledger: '积分' }
const REFUND_STATUS = { PENDING: ['处理中', 'warn'], SUCCEEDED: ['成功', 'ok'], FAILED: ['失败', 'error'] }
const badge = (map, s) => {
  const [text, tone] = map[s] ?? [s ?? '—', 'muted']
  return h('span', { class: `badge ${tone}`, dataset: { status: s ?? '' } }, text)
}
const kv = (pairs) =>
  h(
    'dl',
    { class: 'kv' },
    pairs.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
  )

function timeline(entries) {
  if (!entries.length) return h('p', { class: 'muted' }, '暂无记录')
  return h(
    'ol',
    { class: 'timeline', id: 'timeline' },
    entries.map((e) =>
      h(
        'li',
        { dataset: { source: e.source } },
        h('span', { class: 'when' }, fullTime(e.at)),
        h('span', { class: `src ${e.source}` }, SOURCES[e.source] ?? e.source),
        h(
          'span',
          { class: 'what' },
          h('strong', null, e.title, e.status ? ' ' : null, e.status ? h('span', { class: 'badge muted' }, e.status) : null),
          h('small', null, e.detail),
        ),
      ),
    ),
  )
}

function refundForm(ctx, order, reload) {
  const left = Math.round((order.payAmount ?? order.amount) * 100 - (order.refundedAmount ?? 0) * 100) / 100
  const amount = h('input', {
    id: 'refund-amount',
    type: 'text',
    inputmode: 'decimal',
    placeholder: `最多 ${left.toFixed(2)}`,
    value: left.toFixed(2),
  })
  const reason = h('input', { id: 'refund-reason', type: 'text', maxlength: '256', placeholder: '例如：买家申请退款' })
  const msg = h('div', { id: 'refund-msg' })
  const button = h('button', { class: 'btn danger', id: 'refund-button', type: 'submit' }, '退款…')

  async function submit(e) {
    e.preventDefault()
    if (!reason.value.trim()) {
      msg.replaceChildren(h('div', { class: 'alert error' }, '请填写退款原因'))
      return
    }
    button.disabled = true
    try {
      await withMessage(msg, async () => {
        const a = amount.value.trim()
        const p = await adminApi(`/admin/orders/${order.id}/refund-preview${a ? `?amount=${encodeURIComponent(a)}` : ''}`)
        if (!p.refundable) throw new Error(p.reason)
        const lines = [
          kv([
            ['订单', order.orderNo],
            ['退款金额', h('strong', { id: 'preview-amount' }, money(p.amount))],
            ['已付 / 已退', `${money(p.paid)} / ${money(p.reserved)}`],
            ['退款后可退', money(Math.round((p.left - p.amount) * 100) / 100)],
            ...(p.clawBack
              ? [
                  [
                    '扣回积分',
                    h(
                      'strong',
                      { id: 'preview-clawback' },
                      `${p.clawBack} 积分（买家余额 ${p.balance} → ${Math.max(0, p.balance - p.clawBack)}）`,
                    ),
                  ],
                ]
              : []),
            ...(p.creditsReturned ? [['返还积分', `${p.creditsReturned} 积分（积分支付的订单）`]] : []),
          ]),
        ]
        let force = false
        if (p.creditsAlreadySpent) {
          lines.push(
            h(
              'div',
              { class: 'alert warn', id: 'spent-warning' },
              `买家已花掉部分积分：当前余额 ${p.balance}，不足以扣回 ${p.clawBack} 积分。正常退款会被拒绝；强制退款只扣回 ${p.forcedClawBack} 积分（余额归零），其余 ${p.clawBack - p.forcedClawBack} 积分的损失由平台承担。`,
            ),
          )
          if (!(await confirmDialog({ title: '积分已被使用', body: lines, confirmText: '继续强制退款…', danger: true }))) return null
          const second = await confirmDialog({
            title: '再次确认：强制退款',
            body: [h('p', null, `将退款 ${money(p.amount)} 到买家原支付账户，并只扣回 ${p.forcedClawBack} 积分。此操作不可撤销。`)],
            confirmText: '确认强制退款',
            danger: true,
          })
          if (!second) return null
          force = true
        } else if (!(await confirmDialog({ title: '确认退款', body: lines, confirmText: `确认退款 ${money(p.amount)}`, danger: true }))) {
          return null
        }
        const r = await mutate(`/admin/orders/${order.id}/refund`, {
          body: { amount: a || undefined, reason: reason.value.trim(), ...(force ? { force: true } : {}) },
        })
        return r
      }).then((r) => r && reload(r))
    } finally {
      button.disabled = false
    }
  }
  return h(
    'form',
    { class: 'card', id: 'refund-form', onSubmit: submit },
    h('h2', null, '退款'),
    h('p', { class: 'muted small' }, `可退 ${money(left)}；积分订单按比例扣回积分。确认前会显示扣回的积分。`),
    h(
      'div',
      { class: 'inline-form' },
      h('div', null, h('label', { for: 'refund-amount' }, '金额（元）'), amount),
      h('div', null, h('label', { for: 'refund-reason' }, '原因'), reason),
      button,
    ),
    msg,
  )
}

export async function orderPage(ctx, id) {
  const root = h('div', { class: 'page admin-order' })
  // The last action's outcome, kept across the reloads that follow it.
  const flash = h('div', { id: 'flash' })
  let polls = 0
  let timer
  ctx.onLeave(() => clearTimeout(timer))

  async function load(watchPending = false) {
    const d = await adminApi(`/admin/orders/${id}/trail`)
    if (!ctx.active) return
    const o = d.order
    const pending = d.refunds.some((r) => r.status === 'PENDING')
    root.replaceChildren(...view(d))
    clearTimeout(timer)
    // A refund the provider has not confirmed yet: follow it until it settles.
    if ((pending || watchPending) && polls < 60) {
      polls++
      timer = setTimeout(() => ctx.active && load().catch(() => {}), 2000)
    }
    return o
  }

  function view(d) {
    const o = d.order
    const u = d.user
    const refundable = o.status === 'PAID' || o.status === 'PARTIALLY_REFUNDED'
    const pendingRefund = d.refunds.find((r) => r.status === 'PENDING')
    return [
      h('p', null, h('a', { href: '/admin/orders', 'data-link': '' }, '← 订单列表')),
      h('div', { class: 'page-head' }, h('h1', null, `订单 ${o.orderNo}`), h('span', { id: 'order-status' }, statusBadge(o.status))),
      flash,
      d.payError ? h('div', { class: 'alert warn' }, `支付服务暂不可用，支付尝试与通知未显示：${d.payError}`) : null,
      pendingRefund
        ? h(
            'div',
            { class: 'alert info', id: 'refund-progress' },
            h('span', { class: 'spinner' }),
            ` 退款 ${pendingRefund.refundNo} 处理中，等待渠道确认…`,
          )
        : null,
      h(
        'div',
        { class: 'layout-2' },
        h(
          'div',
          null,
          h(
            'div',
            { class: 'card' },
            kv([
              ['商品', `${o.productName}${o.credits ? `（${o.credits} 积分）` : ''}`],
              ['金额', money(o.amount)],
              ['已退款', h('span', { id: 'order-refunded' }, money(o.refundedAmount ?? 0))],
              ['支付方式', `${METHOD_NAMES[o.paymentMethod] ?? o.paymentMethod ?? '—'}${o.paymentChannel ? ` / ${o.paymentChannel}` : ''}`],
              ['创建时间', fullTime(o.createdAt)],
              ['支付时间', fullTime(o.paidAt)],
              [
                '买家',
                u
                  ? h(
                      'span',
                      null,
                      h('a', { href: `/admin/users/${u.id}`, 'data-link': '', id: 'buyer-link' }, u.email),
                      ' · 余额 ',
                      h('strong', { id: 'buyer-balance' }, String(u.creditBalance)),
                      ' 积分',
                    )
                  : o.customerEmail,
              ],
            ]),
          ),
          refundable
            ? refundForm(ctx, o, (r) => {
                const rf = r.refund
                const state = REFUND_STATUS[rf.status]?.[0] ?? rf.status
                const credits = rf.creditsClawedBack
                  ? `，扣回 ${rf.creditsClawedBack} 积分`
                  : rf.creditsReturned
                    ? `，返还 ${rf.creditsReturned} 积分`
                    : ''
                flash.replaceChildren(
                  alertBox(rf.status === 'FAILED' ? 'error' : 'ok', `退款 ${rf.refundNo}（${money(rf.amount)}）：${state}${credits}`),
                )
                polls = 0
                return load(rf.status === 'PENDING')
              })
            : null,
          h('h2', null, '时间线'),
          h('div', { class: 'card' }, timeline(d.timeline)),
        ),
        h(
          'div',
          null,
          h('h2', null, '退款记录'),
          table(
            ['退款单号', h('th', { class: 'num' }, '金额'), '状态', '积分'],
            d.refunds.map((r) => [
              td({ class: 'wrap' }, r.refundNo, h('br'), h('small', { class: 'muted' }, r.reason)),
              td({ class: 'num' }, money(r.amount)),
              td(null, badge(REFUND_STATUS, r.status)),
              td(null, r.creditsClawedBack ? `-${r.creditsClawedBack}` : r.creditsReturned ? `+${r.creditsReturned}` : '—'),
            ]),
            { id: 'refunds-table', empty: '没有退款' },
          ),
          h('h2', { class: 'section-title' }, '积分流水'),
          table(
            ['时间', '类型', h('th', { class: 'num' }, '变动'), h('th', { class: 'num' }, '余额')],
            d.ledger.map((l) => [
              td({ class: 'nowrap' }, fullTime(l.createdAt)),
              l.type,
              td({ class: `num ${l.delta > 0 ? 'plus' : 'minus'}` }, `${l.delta > 0 ? '+' : ''}${l.delta}`),
              td({ class: 'num' }, String(l.balanceAfter)),
            ]),
            { id: 'ledger-table', empty: '没有积分变动' },
          ),
          d.pay
            ? [
                h('h2', { class: 'section-title' }, '支付尝试'),
                table(
                  ['交易号', '渠道', '状态'],
                  d.pay.attempts.map((a) => [
                    td({ class: 'wrap' }, a.outTradeNo, h('br'), h('small', { class: 'muted' }, a.tradeNo ?? '')),
                    `${a.provider}/${a.channel}`,
                    a.status,
                  ]),
                  { id: 'attempts-table', empty: '没有支付尝试' },
                ),
              ]
            : null,
        ),
      ),
    ]
  }

  await load()
  return root
}
