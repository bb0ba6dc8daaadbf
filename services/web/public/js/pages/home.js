// Home: the credit packages (seed 000), the custom-credits card with a live price, and goods when
// the catalogue has any (seed 001/004; the section is hidden when the API offers none).
import { api, asPage, session } from '../api.js'
import { alertBox, fenToYuan, h, yuan } from '../dom.js'

/** Validation of a custom credits amount against the package's range; returns an error message or null. */
export function customCreditsError(raw, min, max) {
  const text = String(raw ?? '').trim()
  if (text === '') return `请输入积分数量（${min}–${max}）`
  if (!/^\d+$/.test(text)) return `积分数量必须是整数（${min}–${max}）`
  const n = Number(text)
  if (n < min) return `最少购买 ${min} 积分（可购买 ${min}–${max} 积分）`
  if (n > max) return `最多购买 ${max} 积分（可购买 ${min}–${max} 积分）`
  return null
}

/** Unit price in fen (0.05 元 → 5), so prices are computed in integers. */
export function unitFen(pkg) {
  return Math.round(Number(pkg.costPerCredit ?? 0.05) * 100 * 1000) / 1000
}

/** A custom-credits input with a live price and a clear range message. Used on home and checkout. */
export function customCreditsInput(pkg, initial, onValid) {
  const min = pkg.minCredits ?? 100
  const max = pkg.maxCredits ?? 10000
  const price = h('strong', { class: 'live-price', id: 'custom-price' }, '')
  const msg = h('div', { class: 'field-msg', id: 'custom-msg', role: 'status', 'aria-live': 'polite' })
  const input = h('input', {
    type: 'number',
    inputmode: 'numeric',
    id: 'custom-credits',
    name: 'customCredits',
    min,
    max,
    step: 1,
    value: String(initial ?? min),
    'aria-describedby': 'custom-msg',
  })
  const update = () => {
    const err = customCreditsError(input.value, min, max)
    input.classList.toggle('invalid', Boolean(err))
    msg.textContent = err ?? `${min}–${max} 积分，${fenToYuan(unitFen(pkg))} 元/积分`
    msg.classList.toggle('error', Boolean(err))
    price.textContent = err ? '¥—' : `¥${fenToYuan(Math.round(Number(input.value) * unitFen(pkg)))}`
    onValid(err ? null : Number(input.value))
  }
  input.addEventListener('input', update)
  queueMicrotask(update)
  return h(
    'div',
    { class: 'custom-credits' },
    h('label', { for: 'custom-credits' }, '积分数量'),
    h('div', { class: 'custom-row' }, input, h('span', { class: 'muted' }, '积分'), h('span', { class: 'spacer' }), price),
    msg,
  )
}

function packageCard(ctx, pkg) {
  const custom = pkg.packageType === 'CUSTOM'
  let credits = custom ? (pkg.minCredits ?? 100) : pkg.credits
  const buy = h(
    'button',
    {
      class: 'btn primary block',
      onClick: () => {
        const q = new URLSearchParams({ package: pkg.packageCode })
        if (custom) q.set('credits', String(credits))
        ctx.navigate(`/checkout?${q}`)
      },
    },
    '立即购买',
  )
  const body = custom
    ? customCreditsInput(pkg, credits, (n) => {
        credits = n
        buy.disabled = n === null
      })
    : h(
        'div',
        { class: 'pkg-amount' },
        h('span', { class: 'pkg-credits' }, String(pkg.credits)),
        h('span', { class: 'muted' }, ' 积分'),
        h(
          'div',
          { class: 'pkg-price' },
          yuan(pkg.currentPrice),
          pkg.originalPrice > pkg.currentPrice ? h('s', { class: 'muted' }, yuan(pkg.originalPrice)) : null,
        ),
      )
  return h(
    'article',
    { class: `card pkg${pkg.isPopular ? ' popular' : ''}${custom ? ' custom' : ''}`, dataset: { package: pkg.packageCode } },
    pkg.isPopular ? h('span', { class: 'ribbon' }, '最受欢迎') : null,
    h('h3', null, pkg.packageName),
    h('p', { class: 'muted' }, pkg.packageDescription),
    body,
    Array.isArray(pkg.features) && pkg.features.length
      ? h(
          'ul',
          { class: 'features' },
          pkg.features.map((f) => h('li', null, f)),
        )
      : null,
    buy,
  )
}

function productCard(ctx, p) {
  return h(
    'article',
    { class: 'card product', dataset: { product: String(p.id) } },
    h('div', { class: 'product-thumb', 'aria-hidden': 'true' }, (p.name ?? '商')[0]),
    h('h3', null, p.name),
    p.description ? h('p', { class: 'muted' }, p.description) : null,
    h('div', { class: 'pkg-price' }, yuan(p.price)),
    h('a', { class: 'btn primary block', href: `/product/${p.id}`, 'data-link': '' }, '查看并购买'),
  )
}

async function loadGoods() {
  try {
    const page = asPage(await api('/products?kind=goods&limit=50', { auth: false }))
    return page.content.filter((p) => (p.kind ?? p.type ?? 'goods') === 'goods' && p.isActive !== false && p.is_active !== false)
  } catch {
    return [] // no goods API yet (or it failed): no goods section
  }
}

export async function homePage(ctx) {
  const [packages, goods] = await Promise.all([api('/credits/packages', { auth: false }), loadGoods()])
  const list = [...packages].filter((p) => p.isActive !== false).sort((a, b) => (a.displayOrder ?? 0) - (b.displayOrder ?? 0))
  return h(
    'div',
    { class: 'page home' },
    h(
      'section',
      { class: 'hero' },
      h('h1', null, '购买积分'),
      h('p', { class: 'muted' }, '积分适用于所有 AI 服务，永不过期。支持支付宝、微信支付与易支付。'),
      session.token ? null : alertBox('info', '购买前请先', h('a', { href: '/login?next=%2F', 'data-link': '' }, '登录或注册'), '。'),
    ),
    h(
      'section',
      { class: 'grid packages', id: 'packages' },
      list.map((p) => packageCard(ctx, p)),
    ),
    goods.length
      ? h(
          'section',
          { class: 'goods', id: 'goods' },
          h('h2', null, '商品'),
          h(
            'div',
            { class: 'grid' },
            goods.map((p) => productCard(ctx, p)),
          ),
        )
      : null,
  )
}
