// 事件: pay's events for main that were given up (DEAD) with their last error; resend one, or all shown.
import { h } from '../../dom.js'
import { adminApi, carryFlash, flashBox, age, confirmDialog, fullTime, mutate, table, td, withMessage } from '../ui.js'

const STATUS = { PENDING: ['投递中', 'warn'], DELIVERED: ['已送达', 'ok'], DEAD: ['死信', 'error'] }
const TYPES = { PAYMENT_SUCCEEDED: '支付成功', REFUND_SUCCEEDED: '退款成功' }

export async function eventsPage(ctx) {
  const status = ctx.query.get('status') ?? 'DEAD'
  const data = await adminApi(`/admin/events?status=${encodeURIComponent(status)}&limit=100`)
  const flash = flashBox()
  const dead = data.content.filter((e) => e.status === 'DEAD')

  async function resend(events) {
    const one = events.length === 1
    const r = await withMessage(
      flash,
      async () => {
        const confirmed = await confirmDialog({
          title: one ? '重发事件' : `重发 ${events.length} 个事件`,
          body: [
            h(
              'p',
              null,
              one
                ? `事件 ${events[0].eventId}（订单 ${events[0].orderNo ?? '—'}）将重新投递给主服务，并在 24 小时内继续重试。`
                : `本页的 ${events.length} 个死信事件将重新投递，并在 24 小时内继续重试。`,
            ),
            h('p', { class: 'muted small' }, '主服务按事件编号只处理一次：重发不会重复入账。'),
          ],
          confirmText: one ? '确认重发' : '全部重发',
        })
        if (!confirmed) return null
        let done = 0
        const failed = []
        for (const e of events) {
          try {
            await mutate(`/admin/events/${e.eventId}/resend`, {})
            done++
          } catch (err) {
            failed.push(`${e.eventId}: ${err.message}`)
          }
        }
        if (failed.length) throw new Error(`已重发 ${done} 个，失败 ${failed.length} 个：${failed.join('；')}`)
        return done
      },
      (n) => `已重发 ${n} 个事件`,
    )
    if (r && ctx.active) {
      carryFlash(flash.firstChild)
      await ctx.rerender()
    }
  }

  const tabs = h(
    'div',
    { class: 'tabs' },
    Object.entries(STATUS).map(([k, [text]]) =>
      h('a', { class: `tab ${k === status ? 'active' : ''}`, href: `/admin/events?status=${k}`, 'data-link': '' }, text),
    ),
  )
  const rows = data.content.map((e) => [
    td({ class: 'wrap' }, h('code', null, e.eventId), h('br'), h('small', { class: 'muted' }, TYPES[e.type] ?? e.type)),
    td({ class: 'nowrap' }, e.orderNo ?? '—'),
    td({ class: 'num' }, String(e.attempts)),
    td({ class: 'wrap' }, e.lastError ?? '—'),
    td(
      { class: 'nowrap hide-sm' },
      fullTime(e.createdAt),
      h('br'),
      h('small', { class: 'muted' }, `${age(Math.round((Date.now() - new Date(e.createdAt).getTime()) / 1000))}前`),
    ),
    td(
      null,
      e.status === 'DEAD'
        ? h('button', { class: 'btn small', dataset: { resend: e.eventId }, onClick: () => resend([e]) }, '重发')
        : h('span', { class: `badge ${STATUS[e.status]?.[1] ?? 'muted'}` }, STATUS[e.status]?.[0] ?? e.status),
    ),
  ])
  return h(
    'div',
    { class: 'page admin-events' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, '事件'),
      dead.length
        ? h('button', { class: 'btn primary', id: 'resend-all', onClick: () => resend(dead) }, `全部重发（${dead.length}）`)
        : null,
    ),
    h('p', { class: 'muted small' }, '支付服务推送给主服务的事件。24 小时内未被确认的事件成为死信，需要在主服务恢复后人工重发。'),
    tabs,
    flash,
    table(['事件', '订单号', h('th', { class: 'num' }, '投递次数'), '最后错误', h('th', { class: 'hide-sm' }, '创建时间'), ''], rows, {
      id: 'events-table',
      empty: status === 'DEAD' ? '没有死信事件' : '没有事件',
      rowProps: (i) => ({ dataset: { eventId: data.content[i].eventId } }),
    }),
    h('p', { class: 'muted small' }, `共 ${data.totalElements} 个`),
  )
}
