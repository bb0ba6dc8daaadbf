// The app shell: header, client-side routes, page lifecycle.
import { api, session } from './api.js'
import { alertBox, h, mount, providersLine } from './dom.js'
import { loadMethods } from './pay.js'
import { homePage } from './pages/home.js'
import { loginPage } from './pages/login.js'
import { checkoutPage } from './pages/checkout.js'
import { productPage } from './pages/product.js'
import { orderPage } from './pages/order.js'
import { ordersPage } from './pages/orders.js'
import { creditsPage } from './pages/credits.js'

const routes = [
  [/^\/$/, homePage, '购买积分'],
  [/^\/login$/, loginPage, '登录 / 注册'],
  [/^\/checkout$/, checkoutPage, '确认订单'],
  [/^\/product\/(\d+)$/, productPage, '商品'],
  [/^\/order\/([^/]+)$/, orderPage, '订单'],
  [/^\/orders$/, ordersPage, '我的订单'],
  [/^\/credits$/, creditsPage, '积分明细'],
]

const app = document.getElementById('app')
let cleanups = []
let renderSeq = 0

/** Client-side navigation (keeps the page; the server answers index.html for any of these paths too). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  void render()
}

/** For pages that need a login: send the visitor to /login and back here afterwards. */
export function requireLogin() {
  if (session.token) return true
  const next = location.pathname + location.search
  navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true })
  return false
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
  renderHeader()
  const path = location.pathname.replace(/\/+$/, '') || '/'
  const query = new URLSearchParams(location.search)
  const match = routes.map(([re, page, title]) => [re.exec(path), page, title]).find(([m]) => m)
  const ctx = {
    query,
    navigate,
    requireLogin,
    /** Registers something to undo when the visitor leaves the page (timers, listeners). */
    onLeave: (fn) => cleanups.push(fn),
    /** False once the visitor has moved on: async work must stop touching the page. */
    get active() {
      return seq === renderSeq
    },
  }
  window.scrollTo(0, 0)
  if (!match) {
    document.title = '页面不存在 · 积分商城'
    mount(
      app,
      h('h1', null, '页面不存在'),
      alertBox('warn', '找不到这个页面。'),
      h('a', { href: '/', class: 'btn', 'data-link': '' }, '返回首页'),
    )
    return
  }
  const [m, page, title] = match
  document.title = `${title} · 积分商城`
  // A slow page shows that it is loading instead of leaving the previous one on screen.
  const loading = setTimeout(() => {
    if (seq === renderSeq) mount(app, h('p', { class: 'muted loading' }, h('span', { class: 'spinner' }), ' 加载中…'))
  }, 150)
  cleanups.push(() => clearTimeout(loading))
  try {
    const view = await page(ctx, ...m.slice(1).map(decodeURIComponent))
    clearTimeout(loading)
    if (seq === renderSeq && view) mount(app, view)
  } catch (err) {
    clearTimeout(loading)
    if (seq !== renderSeq) return
    mount(
      app,
      h('h1', null, title),
      alertBox('error', err?.message ?? String(err)),
      h('button', { class: 'btn', onClick: () => render() }, '重试'),
    )
  }
}

let balanceSeq = 0
function renderHeader() {
  const navEl = document.getElementById('nav')
  const accountEl = document.getElementById('account')
  const here = location.pathname
  const link = (href, text) => h('a', { href, 'data-link': '', class: here === href ? 'active' : null }, text)
  mount(navEl, link('/', '购买积分'), link('/orders', '我的订单'), link('/credits', '积分明细'))
  const user = session.user
  if (!session.token || !user) {
    mount(accountEl, h('a', { href: '/login', class: 'btn small', 'data-link': '' }, '登录 / 注册'))
    return
  }
  const balance = h(
    'a',
    { href: '/credits', 'data-link': '', class: 'balance-chip', id: 'header-balance', title: '积分余额' },
    `积分 ${user.creditBalance ?? '…'}`,
  )
  mount(
    accountEl,
    balance,
    h('span', { class: 'user-name', title: user.email }, user.name || user.email),
    h(
      'button',
      {
        class: 'btn small ghost',
        onClick: () => {
          session.clear()
          navigate('/')
        },
      },
      '退出',
    ),
  )
  // Fresh balance for the header (cheap; also keeps the stored user current).
  const seq = ++balanceSeq
  api('/credits/balance')
    .then((d) => {
      if (seq !== balanceSeq) return
      balance.textContent = `积分 ${d.balance}`
      session.setUserQuiet({ ...user, creditBalance: d.balance })
    })
    .catch(() => {})
}

// Same-origin links marked data-link navigate without a page load.
document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('a[data-link]') : null
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  const url = new URL(a.href, location.href)
  if (url.origin !== location.origin) return
  e.preventDefault()
  navigate(url.pathname + url.search)
})
window.addEventListener('popstate', () => void render())
// Coming back from a provider's page through the back/forward cache: show the current URL's page.
window.addEventListener('pageshow', (e) => {
  if (e.persisted) void render()
})
window.addEventListener('session', () => renderHeader())
void render()
// The footer names the providers of the methods main lists (the page's static text until they are known).
loadMethods()
  .then((methods) => {
    const line = providersLine(methods)
    const el = document.getElementById('footer-providers')
    if (line && el) el.textContent = line
  })
  .catch(() => {})
