// Tiny DOM helpers: elements are built with h(), text is always inserted as text (never as HTML).

/**
 * h('button', {class: 'btn', onClick: fn, disabled: true}, '支付')
 * Props: class, style (object), dataset (object), on<Event> listeners, DOM properties (value, checked…),
 * other attributes as strings. Children: strings, numbers, nodes, arrays, null/false (skipped).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === null || v === undefined || v === false) continue
    if (k === 'class') el.className = v
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v)
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v)
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === true) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren()
  return append(el, children)
}

/** ¥25.00 from a yuan number (the API's money shape). */
export function yuan(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—'
  return `¥${fenToYuan(Math.round(Number(n) * 100))}`
}

/** "25.00" from integer fen. */
export function fenToYuan(fen) {
  const neg = fen < 0
  const abs = Math.abs(Math.trunc(fen))
  return `${neg ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

const pad = (n) => String(n).padStart(2, '0')
/** 2026-01-02 15:04 (local time). */
export function dateTime(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** mm:ss (or h:mm:ss) for a number of milliseconds. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000))
  const hh = Math.floor(s / 3600)
  const mm = Math.floor((s % 3600) / 60)
  const ss = s % 60
  return hh > 0 ? `${hh}:${pad(mm)}:${pad(ss)}` : `${pad(mm)}:${pad(ss)}`
}

export const ORDER_STATUS = {
  PENDING_PAYMENT: ['待支付', 'warn'],
  PAID: ['已支付', 'ok'],
  CANCELLED: ['已取消', 'muted'],
  EXPIRED: ['已过期', 'muted'],
  FAILED: ['支付失败', 'error'],
  PARTIALLY_REFUNDED: ['部分退款', 'info'],
  REFUNDED: ['已退款', 'info'],
}

export function statusBadge(status) {
  const [text, tone] = ORDER_STATUS[status] ?? [status ?? '未知', 'muted']
  return h('span', { class: `badge ${tone}`, dataset: { status: status ?? '' } }, text)
}

/** The providers' names for the footer (display data: a provider pay lists that is not here shows its code). */
export const PROVIDER_NAMES = { ALIPAY: '支付宝', WECHAT_PAY: '微信支付', EPAY: '易支付', STRIPE: 'Stripe' }

/** "支付由支付宝 · 微信支付 · Stripe提供": the providers of the listed methods, each once, in list order. */
export function providersLine(methods) {
  const names = [...new Set(methods.map((m) => m.provider).filter(Boolean))].map((p) => PROVIDER_NAMES[p] ?? p)
  return names.length ? `支付由${names.join(' · ')}提供` : null
}

export const METHOD_NAMES = { ALIPAY: '支付宝', WECHAT_PAY: '微信支付', EPAY: '易支付', BANK_CARD: '银行卡', CREDITS: '积分余额' }

export function spinner() {
  return h('span', { class: 'spinner', 'aria-hidden': 'true' })
}

/** A message box; tone: info | ok | warn | error. */
export function alertBox(tone, ...children) {
  return h('div', { class: `alert ${tone}`, role: tone === 'error' ? 'alert' : 'status' }, ...children)
}

/** Random id for Idempotency-Key headers (works outside secure contexts too). */
export function randomId() {
  const b = new Uint8Array(16)
  crypto.getRandomValues(b)
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}
