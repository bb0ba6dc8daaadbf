// The operator console's shell (/admin…): the admin gate, navigation, page lifecycle.
// Same session as the checkout (localStorage, Bearer header); the role is the database's, read
// through /api/users/me, and every admin call is checked by main again.
import { api, ApiError, session } from '../api.js'
import { alertBox, h, mount } from '../dom.js'
import { Forbidden } from './ui.js'
import { dashboardPage } from './pages/dashboard.js'
import { ordersPage } from './pages/orders.js'
import { orderPage } from './pages/order.js'
import { reconciliationsPage, reconciliationPage } from './pages/reconciliations.js'
import { eventsPage } from './pages/events.js'
import { productsPage, productEditPage } from './pages/products.js'
import { usersPage, userPage } from './pages/users.js'

const routes = [
  [/^\/admin$/, dashboardPage, '概览', '/admin'],
  [/^\/admin\/orders$/, ordersPage, '订单', '/admin/orders'],
  [/^\/admin\/orders\/(\d+)$/, orderPage, '订单详情', '/admin/orders'],
  [/^\/admin\/reconciliations$/, reconciliationsPage, '对账', '/admin/reconciliations'],
  [/^\/admin\/reconciliations\/(\d+)$/, reconciliationPage, '对账详情', '/admin/reconciliations'],
  [/^\/admin\/events$/, eventsPage, '事件', '/admin/events'],
  [/^\/admin\/products$/, productsPage, '商品', '/admin/products'],
  [/^\/admin\/products\/(new|\d+)$/, productEditPage, '编辑商品', '/admin/products'],
  [/^\/admin\/users$/, usersPage, '用户', '/admin/users'],
  [/^\/admin\/users\/(\d+)$/, userPage, '用户详情', '/admin/users'],
]
const NAV = [
  ['/admin', '概览'],
  ['/admin/orders', '订单'],
  ['/admin/reconciliations', '对账'],
  ['/admin/events', '事件'],
  ['/admin/products', '商品'],
  ['/admin/users', '用户'],
]

const app = document.getElementById('app')
let cleanups = []
let renderSeq = 0
/** The admin check of this page load: the signed-in user, once /api/users/me said role admin. */
let me = null

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  void render()
}

function header(section) {
  const navEl = document.getElementById('nav')
  const accountEl = document.getElementById('account')
  if (!me) {
    navEl.replaceChildren()
  } else {
    mount(
      navEl,
      NAV.map(([href, text]) => h('a', { href, 'data-link': '', class: section === href ? 'active' : null }, text)),
    )
  }
  if (!session.token) {
    accountEl.replaceChildren()
    return
  }
  mount(
    accountEl,
    h('a', { href: '/', class: 'user-name' }, '返回商城'),
    h('span', { class: 'user-name', title: session.user?.email ?? '' }, session.user?.email ?? ''),
    h(
      'button',
      {
        class: 'btn small ghost',
        id: 'logout',
        onClick: () => {
          session.clear()
          me = null
          navigate('/admin')
        },
      },
      '退出',
    ),
  )
}

function forbiddenPage(message) {
  document.title = '无权访问 · 运营后台'
  me = null
  header(null)
  mount(
    app,
    h(
      'div',
      { class: 'card forbidden', id: 'forbidden' },
      h('div', { class: 'code' }, '403'),
      h('h1', null, '无权访问运营后台'),
      h('p', null, message || '当前账号不是管理员。请使用管理员账号登录，或联系管理员开通权限。'),
      h(
        'div',
        { class: 'actions' },
        h('a', { class: 'btn', href: '/' }, '返回商城'),
        h(
          'button',
          {
            class: 'btn primary',
            onClick: () => {
              session.clear()
              navigate('/admin')
            },
          },
          '切换账号',
        ),
      ),
    ),
  )
}

function loginPage() {
  document.title = '登录 · 运营后台'
  header(null)
  const email = h('input', { id: 'email', type: 'email', autocomplete: 'username', required: true })
  const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: true })
  const msg = h('div')
  const submit = h('button', { class: 'btn primary block', id: 'login-submit', type: 'submit' }, '登录')
  const form = h(
    'form',
    {
      onSubmit: async (e) => {
        e.preventDefault()
        submit.disabled = true
        msg.replaceChildren()
        try {
          const d = await api('/auth/login', { method: 'POST', auth: false, body: { email: email.value.trim(), password: password.value } })
          session.save(d.token, d.user)
          void render()
        } catch (err) {
          msg.replaceChildren(alertBox('error', err.message))
        } finally {
          submit.disabled = false
        }
      },
    },
    h('label', { for: 'email' }, '邮箱'),
    email,
    h('label', { for: 'password' }, '密码'),
    password,
    msg,
    h('div', { class: 'actions' }, submit),
  )
  mount(app, h('div', { class: 'card login-card' }, h('h1', null, '运营后台登录'), h('p', { class: 'muted' }, '仅限管理员。'), form))
}

async function render() {
  const seq = ++renderSeq
  for (const fn of cleanups.splice(0)) {
    try {
      fn()
    } catch {
      /* ignore */
    }
  }
  window.scrollTo(0, 0)
  if (!session.token) {
    me = null
    return loginPage()
  }
  if (!me) {
    try {
      const user = await api('/users/me')
      if (seq !== renderSeq) return
      if (user.role !== 'admin') return forbiddenPage()
      me = user
    } catch (err) {
      if (seq !== renderSeq) return
      if (err instanceof ApiError && err.status === 401) return loginPage()
      mount(app, alertBox('error', err.message), h('button', { class: 'btn', onClick: () => render() }, '重试'))
      return
    }
  }
  const path = location.pathname.replace(/\/+$/, '') || '/admin'
  const match = routes.map(([re, page, title, section]) => [re.exec(path), page, title, section]).find(([m]) => m)
  if (!match) {
    header(null)
    document.title = '页面不存在 · 运营后台'
    mount(app, h('h1', null, '页面不存在'), h('a', { class: 'btn', href: '/admin', 'data-link': '' }, '返回概览'))
    return
  }
  const [m, page, title, section] = match
  header(section)
  document.title = `${title} · 运营后台`
  const ctx = {
    query: new URLSearchParams(location.search),
    navigate,
    me,
    rerender: () => render(),
    onLeave: (fn) => cleanups.push(fn),
    get active() {
      return seq === renderSeq
    },
  }
  const loading = setTimeout(() => {
    if (seq === renderSeq) mount(app, h('p', { class: 'muted loading' }, h('span', { class: 'spinner' }), ' 加载中…'))
  }, 150)
  try {
    const view = await page(ctx, ...m.slice(1).map(decodeURIComponent))
    clearTimeout(loading)
    if (seq === renderSeq && view) mount(app, view)
  } catch (err) {
    clearTimeout(loading)
    if (seq !== renderSeq) return
    if (err instanceof Forbidden) return forbiddenPage(err.message)
    if (err instanceof ApiError && err.status === 401) return loginPage()
    mount(
      app,
      h('h1', null, title),
      alertBox('error', err?.message ?? String(err)),
      h('button', { class: 'btn', onClick: () => render() }, '重试'),
    )
  }
}

/** Pages call this when an action inside them met a 403 (the role was taken away meanwhile). */
window.addEventListener('admin-forbidden', (e) => forbiddenPage(e.detail))

document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('a[data-link]') : null
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  const url = new URL(a.href, location.href)
  if (url.origin !== location.origin || !url.pathname.startsWith('/admin')) return
  e.preventDefault()
  navigate(url.pathname + url.search)
})
window.addEventListener('popstate', () => void render())
void render()
