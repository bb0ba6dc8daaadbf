// 商品: credit packages and goods — list, create, edit, put on / take off sale. The API's validation
// messages are shown as they come (400 INVALID_PARAMS, 409 DUPLICATE…).
import { h } from '../../dom.js'
import { adminApi, carryFlash, flashBox, field, money, mutate, table, td, withMessage } from '../ui.js'

const KINDS = { credits: '积分套餐', goods: '实物商品' }
const activeBadge = (p) => h('span', { class: `badge ${p.isActive ? 'ok' : 'muted'}` }, p.isActive ? '在售' : '已下架')

async function allProducts() {
  const out = []
  for (let page = 0; page < 50; page++) {
    const d = await adminApi(`/admin/products?page=${page}&size=100`)
    out.push(...d.content)
    if (page + 1 >= (d.totalPages ?? 1)) break
  }
  return out
}

export async function productsPage(ctx) {
  const kind = ctx.query.get('kind') ?? ''
  const products = (await allProducts()).filter((p) => !kind || p.kind === kind)
  const flash = flashBox()

  async function toggle(p) {
    const action = p.isActive ? 'deactivate' : 'activate'
    const r = await withMessage(flash, () =>
      mutate(`/admin/products/${p.id}/${action}`, {
        confirm: {
          title: p.isActive ? '下架商品' : '上架商品',
          body: [
            h('p', null, p.isActive ? `「${p.name}」下架后买家将无法购买（已有订单不受影响）。` : `「${p.name}」上架后买家即可购买。`),
          ],
          confirmText: p.isActive ? '确认下架' : '确认上架',
          danger: p.isActive,
        },
      }),
    )
    if (r && ctx.active) {
      carryFlash(flash.firstChild)
      await ctx.rerender()
    }
  }

  const rows = products.map((p) => [
    td(
      { class: 'wrap' },
      h('a', { href: `/admin/products/${p.id}`, 'data-link': '' }, p.name),
      h('br'),
      h('small', { class: 'muted' }, p.packageCode ?? p.sku ?? ''),
    ),
    KINDS[p.kind] ?? p.kind,
    td({ class: 'num nowrap' }, p.packageType === 'CUSTOM' ? `${money(p.unitPrice)}/积分` : money(p.price)),
    td({ class: 'num hide-sm' }, p.kind === 'credits' ? String(p.credits) : '—'),
    td(null, activeBadge(p)),
    td(
      null,
      h(
        'div',
        { class: 'row-actions' },
        h('a', { class: 'btn small', href: `/admin/products/${p.id}`, 'data-link': '' }, '编辑'),
        h('button', { class: 'btn small', dataset: { toggle: String(p.id) }, onClick: () => toggle(p) }, p.isActive ? '下架' : '上架'),
      ),
    ),
  ])
  const filter = h(
    'div',
    { class: 'tabs' },
    [['', '全部'], ...Object.entries(KINDS)].map(([k, text]) =>
      h('a', { class: `tab ${k === kind ? 'active' : ''}`, href: `/admin/products${k ? `?kind=${k}` : ''}`, 'data-link': '' }, text),
    ),
  )
  return h(
    'div',
    { class: 'page admin-products' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, '商品'),
      h('a', { class: 'btn primary', href: '/admin/products/new', 'data-link': '', id: 'new-product' }, '新建商品'),
    ),
    filter,
    flash,
    table(['名称', '类型', h('th', { class: 'num' }, '价格'), h('th', { class: 'num hide-sm' }, '积分'), '状态', ''], rows, {
      id: 'products-table',
      rowProps: (i) => ({ dataset: { productId: String(products[i].id), packageCode: products[i].packageCode ?? '' } }),
    }),
  )
}

export async function productEditPage(ctx, id) {
  const isNew = id === 'new'
  const p = isNew ? null : (await allProducts()).find((x) => String(x.id) === id)
  if (!isNew && !p) throw new Error(`商品不存在: ${id}`)
  const custom = p?.packageType === 'CUSTOM'
  const kind = h(
    'select',
    { id: 'p-kind', disabled: !isNew },
    Object.entries(KINDS).map(([k, v]) => h('option', { value: k, selected: (p?.kind ?? 'credits') === k }, v)),
  )
  const name = h('input', { id: 'p-name', maxlength: '64', value: p?.name ?? '' })
  const description = h('textarea', { id: 'p-description', rows: '3', maxlength: '1000' })
  description.value = p?.description ?? ''
  const price = h('input', { id: 'p-price', inputmode: 'decimal', value: p ? String(p.price) : '', disabled: custom })
  const originalPrice = h('input', { id: 'p-original-price', inputmode: 'decimal', value: p ? String(p.originalPrice) : '' })
  const credits = h('input', { id: 'p-credits', type: 'number', min: '0', value: p ? String(p.credits) : '' })
  const packageCode = h('input', { id: 'p-package-code', placeholder: 'CREDITS_1000', value: p?.packageCode ?? '' })
  const sku = h('input', { id: 'p-sku', value: p?.sku ?? '' })
  const order = h('input', { id: 'p-order', type: 'number', min: '0', value: p ? String(p.sortOrder) : '100' })
  const active = h('input', { id: 'p-active', type: 'checkbox', checked: p ? p.isActive : true })
  const msg = h('div', { id: 'product-msg' })
  const save = h('button', { class: 'btn primary', type: 'submit', id: 'product-save' }, isNew ? '创建' : '保存')

  const syncKind = () => {
    const goods = kind.value === 'goods'
    credits.closest('div').hidden = goods
    packageCode.closest('div').hidden = goods
    sku.closest('div').hidden = !goods
  }
  kind.addEventListener('change', syncKind)

  function body() {
    const b = {
      name: name.value.trim(),
      description: description.value,
      price: price.value.trim(),
      originalPrice: originalPrice.value.trim() || undefined,
      displayOrder: order.value === '' ? undefined : Number(order.value),
      isActive: active.checked,
    }
    if (kind.value === 'credits') {
      b.credits = credits.value === '' ? undefined : Number(credits.value)
      b.packageCode = packageCode.value.trim() || null
    } else {
      b.sku = sku.value.trim() || null
    }
    if (isNew) return { kind: kind.value, ...b }
    // Only what changed (a custom package has no price to set).
    const before = {
      name: p.name,
      description: p.description,
      price: String(p.price),
      originalPrice: String(p.originalPrice),
      displayOrder: p.sortOrder,
      isActive: p.isActive,
      credits: p.credits,
      packageCode: p.packageCode,
      sku: p.sku,
    }
    const patch = {}
    for (const [k, v] of Object.entries(b))
      if (v !== undefined && String(v) !== String(before[k] ?? (k === 'packageCode' || k === 'sku' ? null : ''))) patch[k] = v
    if (custom) delete patch.price
    return patch
  }

  const form = h(
    'form',
    {
      class: 'card',
      id: 'product-form',
      onSubmit: async (e) => {
        e.preventDefault()
        const b = body()
        if (!isNew && Object.keys(b).length === 0) {
          msg.replaceChildren(h('div', { class: 'alert info' }, '没有修改'))
          return
        }
        save.disabled = true
        const changes = Object.entries(b).map(([k, v]) => h('li', null, `${k}: ${v === null ? '（清空）' : String(v)}`))
        const r = await withMessage(
          msg,
          () =>
            mutate(isNew ? '/admin/products' : `/admin/products/${p.id}`, {
              method: isNew ? 'POST' : 'PATCH',
              body: b,
              confirm: {
                title: isNew ? '创建商品' : `保存「${p.name}」`,
                body: [h('p', null, isNew ? '将创建：' : '将修改：'), h('ul', null, changes)],
                confirmText: isNew ? '确认创建' : '确认保存',
              },
            }),
          isNew ? '商品已创建' : '商品已更新',
        )
        save.disabled = false
        if (r && isNew && ctx.active) ctx.navigate(`/admin/products/${r.id}`, { replace: true })
        else if (r && ctx.active) Object.assign(p, r)
      },
    },
    h(
      'div',
      { class: 'form-grid' },
      field('类型', kind),
      field('名称', name),
      field('描述', description, 'full'),
      field(custom ? '价格（自定义套餐按单价计费）' : '价格（元）', price),
      field('原价（元）', originalPrice),
      field('积分数', credits),
      field('套餐代码', packageCode),
      field('SKU', sku),
      field('排序', order),
      h('div', null, h('label', { class: 'check' }, active, '在售')),
    ),
    msg,
    h('div', { class: 'actions' }, h('a', { class: 'btn', href: '/admin/products', 'data-link': '' }, '返回'), save),
  )
  syncKind()
  return h('div', { class: 'page admin-product' }, h('h1', null, isNew ? '新建商品' : `编辑商品 · ${p.name}`), form)
}
