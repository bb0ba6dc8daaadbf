// 对账: runs per provider and day, "run now", a run's differences by class, resolve with a note.
import { alertBox, fenToYuan, h } from '../../dom.js'
import {
  adminApi,
  carryFlash,
  flashBox,
  chinaDay,
  confirmDialog,
  field,
  fullTime,
  mutate,
  pager,
  PROVIDERS,
  table,
  td,
  withMessage,
} from '../ui.js'

const CLASSES = {
  PROVIDER_ONLY: '渠道有、本地无',
  LOCAL_ONLY: '本地有、渠道无',
  STATUS_MISMATCH: '状态不一致',
  AMOUNT_MISMATCH: '金额不一致',
  FEE_MISMATCH: '手续费不一致',
  REFUND_MISMATCH: '退款不一致',
}
const RUN_STATUS = { RUNNING: ['进行中', 'warn'], SUCCEEDED: ['成功', 'ok'], FAILED: ['失败', 'error'] }
const DIFF_STATUS = { OPEN: ['待处理', 'error'], RESOLVED: ['已处理', 'ok'], REPAIRED: ['已自动修复', 'info'], GONE: ['已消失', 'muted'] }
const badge = (map, s) => {
  const [text, tone] = map[s] ?? [s ?? '—', 'muted']
  return h('span', { class: `badge ${tone}`, dataset: { status: s ?? '' } }, text)
}
const fen = (v) => (v === null || v === undefined ? '—' : `¥${fenToYuan(v)}`)

export async function reconciliationsPage(ctx) {
  const q = ctx.query
  const page = Number(q.get('page') ?? 0) || 0
  const params = new URLSearchParams({ page: String(page), size: '20' })
  if (q.get('provider')) params.set('provider', q.get('provider'))
  if (q.get('day')) params.set('day', q.get('day'))
  const data = await adminApi(`/admin/reconciliations?${params}`)

  const provider = h(
    'select',
    { id: 'run-provider' },
    Object.entries(PROVIDERS).map(([k, v]) => h('option', { value: k, selected: q.get('provider') === k }, v)),
  )
  const day = h('input', { id: 'run-day', type: 'date', value: chinaDay(-1), max: chinaDay(0) })
  const msg = h('div', { id: 'run-msg' })
  const runBtn = h('button', { class: 'btn primary', type: 'submit', id: 'run-now' }, '立即对账')
  const runForm = h(
    'form',
    {
      class: 'card',
      onSubmit: async (e) => {
        e.preventDefault()
        runBtn.disabled = true
        const body = { provider: provider.value, day: day.value }
        const run = await withMessage(msg, () =>
          mutate('/admin/reconciliations', {
            body,
            confirm: {
              title: '确认对账',
              body: [
                h(
                  'p',
                  null,
                  `下载并核对 ${PROVIDERS[body.provider]} ${body.day} 的账单。渠道已扣款而本地未到账的订单会自动补单（只补一次）。`,
                ),
              ],
              confirmText: '开始对账',
            },
          }),
        )
        runBtn.disabled = false
        if (run && ctx.active) ctx.navigate(`/admin/reconciliations/${run.id}`)
      },
    },
    h('h2', null, '立即对账'),
    h('div', { class: 'inline-form' }, field('渠道', provider), field('账单日（中国时间）', day), runBtn),
    msg,
  )

  const fProvider = h(
    'select',
    { id: 'f-provider' },
    h('option', { value: '' }, '全部渠道'),
    Object.entries(PROVIDERS).map(([k, v]) => h('option', { value: k, selected: q.get('provider') === k }, v)),
  )
  const fDay = h('input', { id: 'f-day', type: 'date', value: q.get('day') ?? '' })
  const go = (p = 0) => {
    const n = new URLSearchParams()
    if (fProvider.value) n.set('provider', fProvider.value)
    if (fDay.value) n.set('day', fDay.value)
    if (p) n.set('page', String(p))
    ctx.navigate(`/admin/reconciliations${n.toString() ? `?${n}` : ''}`)
  }
  const rows = data.content.map((r) => [
    td(null, h('a', { href: `/admin/reconciliations/${r.id}`, 'data-link': '' }, `#${r.id}`)),
    PROVIDERS[r.provider] ?? r.provider,
    r.billDay,
    td(null, badge(RUN_STATUS, r.status)),
    td({ class: 'num' }, String(r.billRows)),
    td({ class: 'num' }, String(r.differences)),
    td({ class: 'num' }, String(r.repaired)),
    td(
      { class: 'wrap hide-sm' },
      r.error ??
        (Object.entries(r.byClass ?? {})
          .filter(([, n]) => n)
          .map(([c, n]) => `${CLASSES[c] ?? c} ${n}`)
          .join('，') ||
          '—'),
    ),
  ])
  return h(
    'div',
    { class: 'page admin-recon' },
    h('h1', null, '对账'),
    runForm,
    h(
      'form',
      { class: 'filters', onSubmit: (e) => (e.preventDefault(), go(0)) },
      field('渠道', fProvider),
      field('账单日', fDay),
      h('div', { class: 'btns' }, h('button', { class: 'btn', type: 'submit' }, '筛选')),
    ),
    table(
      [
        '编号',
        '渠道',
        '账单日',
        '状态',
        h('th', { class: 'num' }, '账单行'),
        h('th', { class: 'num' }, '差异'),
        h('th', { class: 'num' }, '已修复'),
        h('th', { class: 'hide-sm' }, '分类 / 错误'),
      ],
      rows,
      {
        id: 'runs-table',
        empty: '还没有对账记录',
      },
    ),
    pager(data, go),
  )
}

export async function reconciliationPage(ctx, id) {
  const r = await adminApi(`/admin/reconciliations/${id}`)
  const flash = flashBox()
  const byClass = new Map()
  for (const d of r.differenceList) byClass.set(d.class, [...(byClass.get(d.class) ?? []), d])

  async function resolve(d) {
    const note = h('textarea', { id: 'resolve-note', rows: '3', maxlength: '1000', placeholder: '处理说明（必填），例如：已与渠道核实' })
    const noteMsg = h('div')
    const body = [
      h('p', null, `${CLASSES[d.class] ?? d.class} · ${d.outTradeNo}`),
      h('p', { class: 'muted small' }, d.detail),
      h('label', { for: 'resolve-note' }, '处理说明'),
      note,
      noteMsg,
    ]
    const done = await withMessage(
      flash,
      async () => {
        if (!(await confirmDialog({ title: '标记差异为已处理', body, confirmText: '确认已处理' }))) return null
        if (!note.value.trim()) throw new Error('请填写处理说明')
        return mutate(`/admin/reconciliations/differences/${d.id}/resolve`, { body: { note: note.value.trim() } })
      },
      `差异 #${d.id} 已标记为已处理`,
    )
    if (done && ctx.active) {
      carryFlash(flash.firstChild)
      await ctx.rerender()
    }
  }

  const sections = [...byClass.entries()].map(([cls, list]) =>
    h(
      'section',
      { dataset: { class: cls } },
      h('div', { class: 'section-title' }, h('h2', null, CLASSES[cls] ?? cls), h('span', { class: 'badge muted' }, String(list.length))),
      table(
        [
          '交易号',
          h('th', { class: 'num' }, '账单金额'),
          h('th', { class: 'num' }, '本地金额'),
          '账单 / 本地状态',
          h('th', { class: 'hide-sm' }, '说明'),
          '状态',
          '',
        ],
        list.map((d) => [
          td({ class: 'wrap' }, d.outTradeNo, d.orderNo ? h('br') : null, d.orderNo ? h('small', { class: 'muted' }, d.orderNo) : null),
          td({ class: 'num' }, fen(d.billAmount)),
          td({ class: 'num' }, fen(d.localAmount)),
          `${d.billStatus ?? '—'} / ${d.localStatus ?? '—'}`,
          td(
            { class: 'wrap hide-sm' },
            d.detail,
            d.resolutionNote ? h('div', { class: 'small muted' }, `处理：${d.resolutionNote}（${d.resolvedBy ?? ''}）`) : null,
          ),
          td(null, badge(DIFF_STATUS, d.status)),
          td(
            null,
            d.status === 'OPEN'
              ? h('button', { class: 'btn small', dataset: { resolve: String(d.id) }, onClick: () => resolve(d) }, '处理')
              : null,
          ),
        ]),
        { cls: 'diffs', rowProps: (i) => ({ dataset: { diffId: String(list[i].id), outTradeNo: list[i].outTradeNo } }) },
      ),
    ),
  )
  return h(
    'div',
    { class: 'page admin-recon-run' },
    h('p', null, h('a', { href: '/admin/reconciliations', 'data-link': '' }, '← 对账记录')),
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, `对账 #${r.id} · ${PROVIDERS[r.provider] ?? r.provider} · ${r.billDay}`),
      badge(RUN_STATUS, r.status),
    ),
    flash,
    r.error ? alertBox('error', r.error) : null,
    h(
      'div',
      { class: 'tiles', id: 'run-figures' },
      [
        ['账单行数', r.billRows],
        ['已匹配', r.matched],
        ['差异', r.differences],
        ['自动修复', r.repaired],
        ['账单收款', r.billPaymentTotal === undefined ? '—' : fen(r.billPaymentTotal)],
        ['本地收款', r.localPaymentTotal === undefined ? '—' : fen(r.localPaymentTotal)],
      ].map(([k, v]) => h('div', { class: 'tile' }, h('div', { class: 'label' }, k), h('div', { class: 'value' }, String(v)))),
    ),
    h('p', { class: 'muted small' }, `开始 ${fullTime(r.startedAt)} · 结束 ${fullTime(r.finishedAt)} · 来源 ${r.source ?? '—'}`),
    sections.length ? sections : h('div', { class: 'alert ok' }, '这一天没有差异。'),
  )
}
