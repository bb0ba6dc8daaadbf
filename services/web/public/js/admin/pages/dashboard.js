// 概览: today's and the last 30 days' figures as tiles and charts (uPlot, served from node_modules by
// the web server), and the health of the money pipeline (pay's outbox, reconciliation, notifies).
import uPlot from '/vendor/uplot/uPlot.esm.js'
import { h } from '../../dom.js'
import { adminApi, age, chinaDay, money, PROVIDERS } from '../ui.js'

const DAYS = 30

function tile(label, value, sub, tone, id) {
  return h(
    'div',
    { class: `tile ${tone ?? ''}`, id: id ?? null },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    sub ? h('div', { class: 'sub' }, sub) : null,
  )
}

const rate = (paid, created) => (created > 0 ? `${((paid / created) * 100).toFixed(1)}%` : '—')

function figureTiles(d, prefix) {
  return [
    tile('订单数', String(d.ordersCreated), null, null, `${prefix}-orders`),
    tile('已支付', String(d.ordersPaid), null, null, `${prefix}-paid`),
    tile('支付率', rate(d.ordersPaid, d.ordersCreated), '已支付 / 订单数', null, `${prefix}-rate`),
    tile('收入', money(d.revenue), `净收入 ${money(d.netRevenue)}`, null, `${prefix}-revenue`),
    tile('退款', money(d.refunded), null, d.refunded > 0 ? 'warn' : null, `${prefix}-refunded`),
    tile('售出积分', String(d.creditsSold), null, null, `${prefix}-credits-sold`),
    tile('消耗积分', String(d.creditsConsumed), null, null, `${prefix}-credits-consumed`),
  ]
}

function healthTiles(hl) {
  if (hl.payError) return [tile('支付服务', '不可用', hl.payError, 'error', 'health-pay')]
  const o = hl.outbox
  const tiles = [
    tile(
      '待投递事件',
      String(o.pending),
      o.pending ? `最早 ${age(o.oldestPendingAgeSeconds)} 前` : '无积压',
      o.oldestPendingAgeSeconds > 300 ? 'error' : o.pending ? 'warn' : 'ok',
      'health-outbox',
    ),
    h(
      'a',
      { href: '/admin/events', 'data-link': '', class: 'tile-link' },
      tile('死信事件', String(o.dead), o.dead ? '需要人工重发' : '无', o.dead ? 'error' : 'ok', 'health-dead'),
    ),
    tile(
      '验签失败（近 1 小时）',
      String(hl.verificationFailuresLastHour),
      Object.entries(hl.verificationFailuresByProvider)
        .map(([p, n]) => `${PROVIDERS[p] ?? p} ${n}`)
        .join(' · ') || '无',
      hl.verificationFailuresLastHour ? 'error' : 'ok',
      'health-verify',
    ),
    tile('处理中的退款', String(hl.refundsPending), null, hl.refundsPending ? 'warn' : 'ok', 'health-refunds'),
  ]
  for (const r of hl.reconciliations) {
    const run = r.lastRun
    const tone = !run ? 'warn' : run.status === 'FAILED' || r.openDifferences ? 'error' : run.status === 'SUCCEEDED' ? 'ok' : 'warn'
    tiles.push(
      h(
        'a',
        { href: `/admin/reconciliations?provider=${r.provider}`, 'data-link': '', class: 'tile-link' },
        tile(
          `对账 · ${PROVIDERS[r.provider] ?? r.provider}`,
          run ? run.billDay : '从未对账',
          run
            ? `${run.status === 'SUCCEEDED' ? '成功' : run.status === 'FAILED' ? '失败' : '进行中'} · 差异 ${run.differences} · 待处理 ${r.openDifferences}`
            : `待处理差异 ${r.openDifferences}`,
          tone,
          `health-recon-${r.provider}`,
        ),
      ),
    )
  }
  return tiles
}

const COLORS = ['#1677ff', '#16a34a', '#e8590c', '#c41d7f']

/** One chart card: a title, a uPlot chart of `series` over the days, a one-line sum below it. */
function chartCard(id, title, days, series, sum, opts = {}) {
  const box = h('div', { class: 'chart-box', id: `chart-${id}` })
  const card = h(
    'div',
    { class: 'chart-card', dataset: { chart: id } },
    h('h3', null, title),
    box,
    h('div', { class: 'chart-sum', id: `chart-${id}-sum` }, sum),
  )
  const draw = () => {
    box.replaceChildren()
    const width = Math.max(240, box.clientWidth)
    const labels = days.map((d) => d.date.slice(5))
    new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(opts.minMax ?? 1, max * 1.1)] } },
        axes: [
          { values: (u, splits) => splits.map((v) => labels[v] ?? ''), space: 50, grid: { show: false } },
          { size: 56, values: (u, splits) => splits.map((v) => (opts.format ? opts.format(v) : String(v))) },
        ],
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        series: [
          { label: '日期', value: (u, v) => (v === null ? '—' : (days[v]?.date ?? '')) },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: COLORS[i],
            width: 2,
            fill: i === 0 ? `${COLORS[i]}22` : undefined,
            points: { show: true, size: opts.pointSize ?? 4 },
          })),
        ],
      },
      [days.map((_, i) => i), ...series.map((s) => days.map(s.value))],
      box,
    )
  }
  return { card, draw }
}

export async function dashboardPage(ctx) {
  const [stats, health] = await Promise.all([
    adminApi(`/admin/stats/daily?from=${chinaDay(-(DAYS - 1))}&to=${chinaDay(0)}`),
    adminApi('/admin/console/health'),
  ])
  const days = stats.days
  const today = days[days.length - 1]
  const t = stats.totals
  const charts = [
    chartCard(
      'orders',
      '订单（近 30 天）',
      days,
      [
        { label: '订单数', value: (d) => d.ordersCreated },
        { label: '已支付', value: (d) => d.ordersPaid },
      ],
      `合计：订单 ${t.ordersCreated} · 已支付 ${t.ordersPaid}`,
    ),
    chartCard(
      'revenue',
      '收入与退款（元）',
      days,
      [
        { label: '收入', value: (d) => d.revenue },
        { label: '退款', value: (d) => d.refunded },
      ],
      `合计：收入 ${money(t.revenue)} · 退款 ${money(t.refunded)} · 净收入 ${money(t.netRevenue)}`,
      { format: (v) => `¥${v}` },
    ),
    chartCard(
      'credits',
      '积分：售出与消耗',
      days,
      [
        { label: '售出', value: (d) => d.creditsSold },
        { label: '消耗', value: (d) => d.creditsConsumed },
      ],
      `合计：售出 ${t.creditsSold} · 消耗 ${t.creditsConsumed}`,
    ),
    chartCard(
      'rate',
      '支付率（%）',
      days,
      [{ label: '支付率', value: (d) => (d.ordersCreated ? Math.round((d.ordersPaid / d.ordersCreated) * 1000) / 10 : null) }],
      `30 天支付率 ${rate(t.ordersPaid, t.ordersCreated)}`,
      { minMax: 100, pointSize: 7, format: (v) => `${v}%` },
    ),
  ]
  const drawAll = () => charts.forEach((c) => c.draw())
  // Drawn once the page is on screen (their width is the container's).
  requestAnimationFrame(() => {
    if (ctx.active) drawAll()
  })
  let timer
  const onResize = () => {
    clearTimeout(timer)
    timer = setTimeout(() => ctx.active && drawAll(), 150)
  }
  window.addEventListener('resize', onResize)
  ctx.onLeave(() => window.removeEventListener('resize', onResize))

  return h(
    'div',
    { class: 'page dashboard' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, '概览'),
      h('span', { class: 'muted small' }, `统计口径：中国时间 · ${stats.from} 至 ${stats.to}`),
    ),
    h('div', { class: 'section-title' }, h('h2', null, '系统健康')),
    h('div', { class: 'tiles', id: 'health' }, healthTiles(health)),
    h('div', { class: 'section-title' }, h('h2', null, '今日'), h('span', { class: 'muted small' }, today.date)),
    h('div', { class: 'tiles', id: 'today' }, figureTiles(today, 'today')),
    h('div', { class: 'section-title' }, h('h2', null, '近 30 天')),
    h('div', { class: 'tiles', id: 'last30' }, figureTiles(t, 'last30')),
    h(
      'div',
      { class: 'charts' },
      charts.map((c) => c.card),
    ),
  )
}
