// Pieces shared by the console's pages: confirmation dialogs, mutating calls with an Idempotency-Key,
// tables, pagers, money and time formats. Everything is built as DOM (dom.js), never as HTML text.
import { api, ApiError } from '../api.js'
import { alertBox, dateTime, h, randomId } from '../dom.js'

/** Thrown (and shown as the 403 page) when the API says this user is not an admin. */
export class Forbidden extends Error {}

/** api() for the console: a 403 from the admin API means "not an admin" everywhere. */
export async function adminApi(path, opts) {
  try {
    return await api(path, opts)
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) throw new Forbidden(err.message)
    throw err
  }
}

/**
 * A modal asking to confirm. `body` is nodes; resolves true (confirmed) or false.
 * `danger` paints the confirm button red.
 */
export function confirmDialog({ title, body, confirmText = '确认', cancelText = '取消', danger = false }) {
  return new Promise((resolve) => {
    const host = document.getElementById('dialogs')
    const ok = h('button', { class: `btn ${danger ? 'danger' : 'primary'}`, type: 'button', id: 'confirm-ok' }, confirmText)
    const cancel = h('button', { class: 'btn', type: 'button', id: 'confirm-cancel' }, cancelText)
    const dlg = h(
      'dialog',
      { class: 'modal', 'aria-labelledby': 'confirm-title' },
      h('div', { class: 'modal-body' }, h('h2', { id: 'confirm-title' }, title), body),
      h('div', { class: 'modal-actions' }, cancel, ok),
    )
    const done = (v) => {
      dlg.close()
      dlg.remove()
      resolve(v)
    }
    ok.addEventListener('click', () => done(true))
    cancel.addEventListener('click', () => done(false))
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault()
      done(false)
    })
    host.append(dlg)
    dlg.showModal()
    cancel.focus()
  })
}

/**
 * A mutating call: asks for confirmation first, then sends it with a fresh Idempotency-Key (a retry
 * of the same confirmed action reuses the key). Resolves the API's data, or null when not confirmed.
 */
export async function mutate(path, { method = 'POST', body, confirm }) {
  if (confirm && !(await confirmDialog(confirm))) return null
  const idempotencyKey = randomId()
  return adminApi(path, { method, body: body ?? {}, idempotencyKey })
}

/** Runs fn(), showing its error in `slot` (an element) and re-throwing Forbidden. */
export async function withMessage(slot, fn, okText) {
  slot.replaceChildren()
  try {
    const r = await fn()
    if (r !== null && okText) slot.replaceChildren(alertBox('ok', typeof okText === 'function' ? okText(r) : okText))
    return r
  } catch (err) {
    if (err instanceof Forbidden) {
      window.dispatchEvent(new CustomEvent('admin-forbidden', { detail: err.message }))
      return null
    }
    slot.replaceChildren(alertBox('error', err?.message ?? String(err)))
    return null
  }
}

/** table(['时间', …], rows.map(r => [cells…]), {rowProps}) — cells are nodes or text. */
export function table(headers, rows, { rowProps, empty = '暂无数据', id, cls = '' } = {}) {
  const head = h(
    'tr',
    null,
    headers.map((x) => (typeof x === 'string' ? h('th', null, x) : x)),
  )
  const body = rows.length
    ? rows.map((cells, i) =>
        h(
          'tr',
          rowProps?.(i) ?? null,
          cells.map((c) => (c instanceof HTMLTableCellElement ? c : h('td', null, c))),
        ),
      )
    : [h('tr', null, h('td', { colspan: String(headers.length), class: 'muted' }, empty))]
  return h('div', { class: 'table-wrap' }, h('table', { class: `data ${cls}`, id }, h('thead', null, head), h('tbody', null, body)))
}

export const td = (props, ...children) => h('td', props, ...children)

/** Prev / next for a {page, totalPages} answer; go(page) loads another page. */
export function pager(data, go) {
  const page = data.page ?? 0
  const pages = data.totalPages ?? 1
  if (pages <= 1) return h('div', { class: 'pager muted small' }, `共 ${data.totalElements ?? 0} 条`)
  return h(
    'div',
    { class: 'pager' },
    h('button', { class: 'btn small', disabled: page <= 0, onClick: () => go(page - 1) }, '上一页'),
    h('span', { class: 'muted' }, `第 ${page + 1} / ${pages} 页 · 共 ${data.totalElements} 条`),
    h('button', { class: 'btn small', disabled: page + 1 >= pages, onClick: () => go(page + 1) }, '下一页'),
  )
}

/** ¥1,234.50 from yuan. */
export function money(yuan) {
  if (yuan === null || yuan === undefined) return '—'
  const fen = Math.round(Number(yuan) * 100)
  const abs = Math.abs(fen)
  const int = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return `${fen < 0 ? '-' : ''}¥${int}.${String(abs % 100).padStart(2, '0')}`
}

/** "12 秒" / "5 分钟" / "3 小时" / "2 天". */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return '—'
  if (seconds < 60) return `${seconds} 秒`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} 分钟`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} 小时`
  return `${Math.floor(seconds / 86400)} 天`
}

/** 2026-12-02 15:04:05 (local time): the console shows seconds. */
export function fullTime(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  return `${dateTime(iso)}:${String(d.getSeconds()).padStart(2, '0')}`
}

/** A China-time calendar day (YYYY-MM-DD) `offset` days from today. */
export function chinaDay(offset = 0) {
  return new Date(Date.now() + 8 * 3600_000 + offset * 86_400_000).toISOString().slice(0, 10)
}

/** A labelled input for forms: field('邮箱', h('input', {…})). */
export function field(label, input, extra) {
  const id = input.id || `f-${randomId().slice(0, 8)}`
  input.id = id
  return h('div', { class: extra ?? null }, h('label', { for: id }, label), input)
}

export const PROVIDERS = { ALIPAY: '支付宝', WECHAT_PAY: '微信支付', EPAY: '易支付' }

// The outcome of the last action, carried across the re-render that follows it (so it never blinks out).
let carried = null
export function carryFlash(node) {
  carried = node ?? null
}
/** A page's #flash box, holding the carried message if there is one. */
export function flashBox() {
  const node = carried
  carried = null
  return h('div', { id: 'flash' }, node)
}
