// /order/:id — where the provider's browser return lands (pay 302s here) and where QR payments wait.
// Follows the order's live stream (live.js: Server-Sent Events pushed the moment the payment lands,
// on whichever main instance applied it); when the stream is unavailable it polls
// GET /api/orders/{id}/payment-status every 2 s instead (main asks pay, which asks the provider).
// Either stops after 5 minutes with a clear message, and both stop at a final state; shows 支付成功
// with the new balance, or failure / expiry with a way to pay again.
import { api, ApiError, appConfig, isMissingRoute } from '../api.js'
import { watchOrder } from '../live.js'
import { alertBox, clock, dateTime, h, METHOD_NAMES, mount, spinner, statusBadge, yuan } from '../dom.js'
import { loadMethods, loadPayment, methodPicker, payOrder } from '../pay.js'
import { purchaseErrorMessage } from './checkout.js'

const POLL_MS = 2000
const GIVE_UP_MS = 5 * 60 * 1000
/** Tests (and the curious) may shorten the give-up time: localStorage paysys.debug.pollTimeoutMs. */
function giveUpMs() {
  const v = Number(localStorage.getItem('paysys.debug.pollTimeoutMs'))
  return Number.isFinite(v) && v > 0 ? v : GIVE_UP_MS
}

const DELIVERY_NAMES = { express: '快递配送', pickup: '到店自提', same_day: '当日达' }
const DELIVERY_STATUS = { PENDING: '待发货', SHIPPED: '已发货', DELIVERED: '已送达' }
const SCAN_APP = { ALIPAY: '支付宝', WECHAT_PAY: '微信', BANK_CARD: '银行 App' }
const EPAY_SCAN_APP = { alipay: '支付宝', wxpay: '微信', qqpay: 'QQ', bank: '银行 App' }
function scanApp(info) {
  if (info.paymentMethod === 'EPAY') return EPAY_SCAN_APP[info.channel] ?? '手机'
  return SCAN_APP[info.paymentMethod] ?? '手机'
}

function notFoundView(text) {
  return h(
    'div',
    { class: 'page order' },
    h('h1', null, '订单'),
    alertBox('error', text),
    h(
      'div',
      { class: 'actions' },
      h('a', { class: 'btn', href: '/orders', 'data-link': '' }, '查看我的订单'),
      h('a', { class: 'btn primary', href: '/', 'data-link': '' }, '返回首页'),
    ),
  )
}

/** Where "buy again" goes for this order. */
function rebuyHref(order) {
  if (order.kind === 'goods' && order.productId) return `/product/${order.productId}`
  if (order.packageCode) {
    const q = new URLSearchParams({ package: order.packageCode })
    if (order.packageCode === 'CREDITS_CUSTOM' && order.credits) q.set('credits', String(order.credits))
    return `/checkout?${q}`
  }
  return '/'
}

export async function orderPage(ctx, ref) {
  const error = ctx.query.get('error')
  if (ref === 'unknown' || error) {
    return notFoundView(error === 'ORDER_NOT_FOUND' ? '支付平台返回的订单无法识别，请在「我的订单」中查看支付结果。' : '找不到这个订单。')
  }
  if (!ctx.requireLogin()) return null
  let order
  try {
    order = await api(`/orders/${encodeURIComponent(ref)}`)
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) return notFoundView('订单不存在，请确认链接是否正确。')
    if (err instanceof ApiError && err.status === 403) return notFoundView('无权查看该订单，请确认登录的账号是否为下单账号。')
    if (err instanceof ApiError && err.status === 401) {
      ctx.requireLogin()
      return null
    }
    throw err
  }
  const config = await appConfig()

  const statusPanel = h('section', { class: 'card status-panel', id: 'status-panel' })
  const qrPanel = h('section', { class: 'card qr-panel', id: 'qr-panel', hidden: true })
  const repayPanel = h('section', { class: 'card', id: 'repay-panel', hidden: true })
  const details = h('section', { class: 'card details', id: 'order-details' })
  const pendingActions = h('div', { class: 'actions', id: 'pending-actions' })
  const flash = sessionStorage.getItem('paysys.flash')
  sessionStorage.removeItem('paysys.flash')
  const root = h(
    'div',
    { class: 'page order', dataset: { orderId: String(order.id) } },
    h('h1', null, '订单支付'),
    flash ? alertBox('error', flash) : null,
    statusPanel,
    qrPanel,
    pendingActions,
    repayPanel,
    details,
  )

  const timers = new Set()
  const later = (fn, ms) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }
  let countdown = null
  /** The live stream while it works; null when polling (or stopped). */
  let live = null
  const stopAll = () => {
    live?.stop()
    live = null
    for (const t of timers) clearTimeout(t)
    timers.clear()
    if (countdown) clearInterval(countdown)
    countdown = null
  }
  ctx.onLeave(stopAll)

  const drawDetails = () => {
    const rows = [
      ['订单号', h('code', { id: 'order-no' }, order.orderNo)],
      ['商品', order.productName ?? '—'],
      order.credits ? ['积分', `${order.credits} 积分`] : null,
      order.quantity && order.kind === 'goods' ? ['数量', String(order.quantity)] : null,
      order.deliveryMethod ? ['配送方式', DELIVERY_NAMES[order.deliveryMethod] ?? order.deliveryMethod] : null,
      order.kind === 'goods' && order.deliveryFee !== undefined && order.deliveryFee !== null ? ['运费', yuan(order.deliveryFee)] : null,
      order.deliveryAddress ? ['收货地址', order.deliveryAddress] : null,
      order.kind === 'goods' && order.deliveryStatus ? ['发货状态', DELIVERY_STATUS[order.deliveryStatus] ?? order.deliveryStatus] : null,
      ['金额', h('strong', null, yuan(order.amount ?? order.totalAmount))],
      ['支付方式', order.paymentMethod ? `${METHOD_NAMES[order.paymentMethod] ?? order.paymentMethod}` : '—'],
      ['状态', statusBadge(order.status)],
      ['下单时间', dateTime(order.createdAt)],
      order.paidAt ? ['支付时间', dateTime(order.paidAt)] : null,
    ].filter(Boolean)
    mount(
      details,
      h('h2', null, '订单详情'),
      h(
        'dl',
        { class: 'kv' },
        rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
      ),
    )
  }

  // ---- states -------------------------------------------------------------------------------
  let startedAt = Date.now()
  let netTrouble = false
  let shownNetTrouble = false
  let qrExpired = false
  /** A final state was drawn: neither the stream nor polling starts again. */
  let settled = false

  const drawPending = () => {
    shownNetTrouble = netTrouble
    mount(
      statusPanel,
      h('div', { class: 'status-line', id: 'status-line', dataset: { state: 'pending' } }, spinner(), h('strong', null, '等待支付结果…')),
      h(
        'p',
        { class: 'muted', id: 'update-mode' },
        live ? '支付完成后本页会立即自动更新。' : '支付完成后本页会自动更新（每 2 秒查询一次）。',
      ),
      netTrouble ? alertBox('warn', '网络异常，正在重试…') : null,
    )
  }

  const showRepay = async (open = true) => {
    if (!open) {
      repayPanel.hidden = true
      return
    }
    repayPanel.hidden = false
    mount(repayPanel, h('p', { class: 'muted' }, spinner(), ' 加载支付方式…'))
    let methods
    try {
      methods = await loadMethods({ forGoods: order.kind === 'goods' })
    } catch (err) {
      mount(repayPanel, alertBox('error', err.message))
      return
    }
    const picker = methodPicker(methods)
    const msg = h('div')
    const btn = h('button', { class: 'btn primary block', id: 'repay-button', disabled: !methods.length }, `重新支付 ${yuan(order.amount)}`)
    btn.addEventListener('click', async () => {
      const choice = picker.value()
      if (!choice) return
      btn.disabled = true
      mount(msg, alertBox('info', spinner(), ' 正在发起支付…'))
      try {
        stopAll()
        await payOrder(ctx, order, choice, (text) => mount(msg, alertBox('info', spinner(), ' ', text)))
      } catch (err) {
        if (!ctx.active) return
        mount(msg, alertBox('error', purchaseErrorMessage(err)))
        btn.disabled = false
        if (err instanceof ApiError && err.code === 'ORDER_NOT_PAYABLE') void tick()
        else watch()
      }
    })
    mount(repayPanel, picker.el, msg, btn)
  }

  const drawPendingActions = () => {
    const actionMsg = h('div', { class: 'action-msg' })
    mount(
      pendingActions,
      h('button', { class: 'btn', id: 'show-repay', onClick: () => showRepay(repayPanel.hidden) }, '更换支付方式 / 重新支付'),
      h(
        'button',
        {
          class: 'btn ghost',
          id: 'cancel-order',
          onClick: async (e) => {
            const btn = e.currentTarget
            if (!confirm('确定取消该订单吗？')) return
            btn.disabled = true
            try {
              await api(`/orders/${order.id}/cancel`, { method: 'POST', body: {} })
              void tick()
            } catch (err) {
              btn.disabled = false
              mount(
                actionMsg,
                alertBox(
                  isMissingRoute(err) ? 'warn' : 'error',
                  isMissingRoute(err) ? '暂不支持在线取消订单。未支付的订单将在 30 分钟后自动关闭。' : err.message,
                ),
              )
            }
          },
        },
        '取消订单',
      ),
      actionMsg,
    )
  }

  const drawQr = () => {
    const info = loadPayment(order.id) ?? loadPayment(order.orderNo)
    if (!info || info.payType !== 'qrcode' || !(info.qrCodeUrl || info.qrCode)) {
      qrPanel.hidden = true
      return
    }
    const expireAt = new Date(info.expireTime ?? order.expireAt).getTime()
    const left = h('strong', { id: 'qr-countdown' })
    const img = info.qrCodeUrl
      ? h('img', { src: info.qrCodeUrl, alt: '支付二维码', class: 'qr', id: 'qr-image', width: 220, height: 220 })
      : null
    const box = h('div', { class: 'qr-box' }, img)
    qrPanel.hidden = false
    mount(
      qrPanel,
      h('h2', null, `请使用${scanApp(info)}扫码支付`),
      h('div', { class: 'qr-amount' }, yuan(info.amount ?? order.amount)),
      box,
      h('p', { class: 'countdown' }, '二维码剩余有效时间 ', left),
      config.sandboxUrl && info.qrCode
        ? h(
            'p',
            null,
            h(
              'a',
              {
                class: 'btn small',
                id: 'sandbox-scan',
                href: `${config.sandboxUrl}/scan?code=${encodeURIComponent(info.qrCode)}`,
                target: '_blank',
                rel: 'noopener',
              },
              '在沙箱中模拟扫码',
            ),
          )
        : null,
      info.qrCode
        ? h(
            'details',
            { class: 'small' },
            h('summary', null, '二维码内容'),
            h('code', { class: 'qr-content', id: 'qr-content' }, info.qrCode),
          )
        : null,
    )
    const update = () => {
      const ms = expireAt - Date.now()
      left.textContent = clock(ms)
      if (ms <= 0) {
        clearInterval(countdown)
        countdown = null
        box.classList.add('expired')
        box.append(h('div', { class: 'qr-expired' }, '二维码已过期'))
        left.textContent = '00:00'
        // One last look (the buyer may have paid at the last second), then the expired state.
        qrExpired = true
        void tick()
      }
    }
    update()
    if (expireAt > Date.now()) countdown = setInterval(update, 1000)
  }

  const finish = () => {
    settled = true
    stopAll()
    mount(pendingActions)
    qrPanel.hidden = true
    repayPanel.hidden = true
  }

  /** `pushed`: the state the live stream carried (no need to read the order again); else the order is read. */
  const drawPaid = async (pushed) => {
    finish()
    let balance = null
    try {
      if (pushed) {
        const { status, paidAt, creditsGranted, latePayment, refundedAmount, deliveryStatus } = pushed
        order = { ...order, status, paidAt, payTime: paidAt, creditsGranted, latePayment, refundedAmount, deliveryStatus }
        balance = (await api('/credits/balance')).balance
      } else {
        ;[order, balance] = await Promise.all([api(`/orders/${order.id}`), api('/credits/balance').then((d) => d.balance)])
      }
    } catch {
      /* keep what we have */
    }
    if (!ctx.active) return
    window.dispatchEvent(new Event('session')) // header balance
    drawDetails()
    const refunded = order.status === 'REFUNDED' || order.status === 'PARTIALLY_REFUNDED'
    mount(
      statusPanel,
      h(
        'div',
        { class: `result ${refunded ? 'info' : 'ok'}`, id: 'result', dataset: { state: refunded ? 'refunded' : 'paid' } },
        h('div', { class: 'result-icon', 'aria-hidden': 'true' }, refunded ? '↺' : '✓'),
        h('h2', { id: 'status-line' }, refunded ? (order.status === 'REFUNDED' ? '订单已退款' : '订单已部分退款') : '支付成功'),
        !refunded && order.credits && order.kind !== 'goods' ? h('p', { class: 'granted' }, `${order.credits} 积分已到账`) : null,
        !refunded && order.kind === 'goods' ? h('p', null, '商家将尽快为您发货。') : null,
        order.latePayment ? alertBox('info', '该订单在关闭后才收到付款，已为您正常入账。') : null,
        balance !== null ? h('p', { class: 'balance-line' }, '当前积分余额：', h('strong', { id: 'balance' }, String(balance))) : null,
        h(
          'div',
          { class: 'actions' },
          h('a', { class: 'btn', href: '/credits', 'data-link': '' }, '查看积分明细'),
          h('a', { class: 'btn', href: '/orders', 'data-link': '' }, '我的订单'),
          h('a', { class: 'btn primary', href: '/', 'data-link': '' }, '继续购买'),
        ),
      ),
    )
  }

  const FAILED_TEXT = {
    EXPIRED: ['订单已过期', '订单超过有效期仍未支付，已自动关闭。如需购买请重新下单。'],
    CANCELLED: ['订单已取消', '该订单已取消。如需购买请重新下单。'],
    FAILED: ['支付失败', '支付未成功，您的账户未被扣款。可以重新下单支付。'],
  }
  const drawFailed = (orderStatus) => {
    finish()
    const [title, text] = FAILED_TEXT[orderStatus] ?? FAILED_TEXT.FAILED
    order = { ...order, status: orderStatus ?? order.status }
    drawDetails()
    mount(
      statusPanel,
      h(
        'div',
        { class: 'result error', id: 'result', dataset: { state: 'failed' } },
        h('div', { class: 'result-icon', 'aria-hidden': 'true' }, '!'),
        h('h2', { id: 'status-line' }, title),
        h('p', null, text),
        h(
          'div',
          { class: 'actions' },
          h('a', { class: 'btn primary', id: 'rebuy', href: rebuyHref(order), 'data-link': '' }, '重新下单'),
          h('a', { class: 'btn', href: '/', 'data-link': '' }, '返回首页'),
        ),
      ),
    )
  }

  const drawExpiredQr = () => {
    finish()
    drawDetails()
    mount(
      statusPanel,
      h(
        'div',
        { class: 'result error', id: 'result', dataset: { state: 'expired' } },
        h('div', { class: 'result-icon', 'aria-hidden': 'true' }, '!'),
        h('h2', { id: 'status-line' }, '支付已超时'),
        h('p', null, '二维码已过期，订单未支付。请重新下单。'),
        h('div', { class: 'actions' }, h('a', { class: 'btn primary', id: 'rebuy', href: rebuyHref(order), 'data-link': '' }, '重新下单')),
      ),
    )
  }

  const drawGaveUp = () => {
    stopAll()
    mount(
      statusPanel,
      h(
        'div',
        { class: 'result warn', id: 'result', dataset: { state: 'timeout' } },
        h('div', { class: 'result-icon', 'aria-hidden': 'true' }, '?'),
        h('h2', { id: 'status-line' }, '暂未查询到支付结果'),
        h(
          'p',
          null,
          `已自动查询 ${giveUpMs() >= 60_000 ? `${Math.round(giveUpMs() / 60_000)} 分钟` : `${Math.round(giveUpMs() / 1000)} 秒`}仍未确认支付，已停止自动刷新。如果您已完成付款，请点击「刷新状态」；如果还没有付款，可以重新支付。`,
        ),
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              class: 'btn primary',
              id: 'refresh-status',
              onClick: () => {
                startedAt = Date.now()
                qrExpired = false
                drawPending()
                drawQr()
                void tick().then(() => watch())
              },
            },
            '刷新状态',
          ),
          h('button', { class: 'btn', id: 'gave-up-repay', onClick: () => showRepay(true) }, '重新支付'),
        ),
      ),
    )
  }

  // ---- polling ------------------------------------------------------------------------------
  let inFlight = false
  const schedule = () => later(() => void tick(), POLL_MS)
  async function tick() {
    if (!ctx.active || inFlight) return
    inFlight = true
    let st
    try {
      st = await api(`/orders/${order.id}/payment-status`)
      netTrouble = false
    } catch (err) {
      inFlight = false
      if (!ctx.active) return
      if (err instanceof ApiError && err.status === 401) return void ctx.requireLogin()
      if (err instanceof ApiError && (err.status === 403 || err.status === 404)) {
        stopAll()
        return void mount(statusPanel, alertBox('error', err.message))
      }
      netTrouble = true
    } finally {
      inFlight = false
    }
    if (!ctx.active) return
    if (st?.status === 'PAID') return void drawPaid()
    if (st?.status === 'FAILED') return void drawFailed(st.orderStatus)
    if (qrExpired) return void drawExpiredQr()
    if (Date.now() - startedAt >= giveUpMs()) return void drawGaveUp()
    if (live || !ctx.active) return // a one-off look while the stream is open: the stream goes on
    if (netTrouble !== shownNetTrouble) drawPending()
    schedule()
  }

  // ---- live stream, polling as the fallback -------------------------------------------------
  function watch() {
    if (!ctx.active || settled) return
    live?.stop()
    const stream = watchOrder(order.id, {
      onState: (st) => {
        if (!ctx.active || live !== stream) return
        if (st.paymentStatus === 'PAID') return void drawPaid(st)
        if (st.paymentStatus === 'FAILED') return void drawFailed(st.status)
      },
      onFail: () => {
        if (live !== stream) return
        live = null
        if (!ctx.active || settled) return
        drawPending()
        void tick()
      },
    })
    live = stream
    drawPending()
    // The same give-up time as polling.
    later(
      () => {
        if (live !== stream || settled) return
        live.stop()
        live = null
        drawGaveUp()
      },
      Math.max(0, giveUpMs() - (Date.now() - startedAt)),
    )
  }

  drawDetails()
  drawPending()
  if (order.status === 'PENDING_PAYMENT') {
    drawQr()
    drawPendingActions()
  }
  watch()
  return root
}
