/**
 * The browser and notify side, refereed by alipay-sdk: page.pay form → cashier (one 支付, one 取消) →
 * signed return to return_url; durable form notifies retried until `success`, resumed after a restart;
 * QR scanning; the control API's duplicates, tampering and wrong keys; the cashier's closed/cancel paths.
 */
import t from 'tap'
import { AlipaySdk } from 'alipay-sdk'
import {
  controlJson,
  countButtons,
  getManual,
  parseForm,
  postForm,
  sleep,
  startReceiver,
  startSandbox,
  type Sandbox,
} from './fixtures/harness.ts'

const sb: Sandbox = await startSandbox()
const rx = await startReceiver()
t.teardown(async () => {
  await sb.close()
  await rx.close()
})

type TestT = Parameters<Parameters<typeof t.test>[0]>[0]
const uniq = (p: string) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
const sdk: AlipaySdk = sb.sdk

function pageForm(outTradeNo: string, amount: string, notifyPath: string, returnUrl = 'http://localhost:3000/api/pay/return?from=alipay') {
  return parseForm(
    sdk.pageExecute('alipay.trade.page.pay', 'POST', {
      bizContent: {
        out_trade_no: outTradeNo,
        total_amount: amount,
        subject: '积分充值 100 个 & more',
        product_code: 'FAST_INSTANT_TRADE_PAY',
      },
      notifyUrl: rx.url(notifyPath),
      returnUrl,
    }),
  )
}

/** Submits the SDK's form like a browser; returns the cashier path it redirects to. */
async function openCashier(t: TestT, form: ReturnType<typeof parseForm>): Promise<string> {
  const res = await postForm(form.action, form.fields)
  t.equal(res.status, 302, 'the gateway redirects the browser to the cashier')
  const location = res.headers.get('location') ?? ''
  t.match(location, /^\/cashier\/ali_[a-z0-9]{24}$/)
  return location
}

t.test('page.pay: form → cashier → pay → signed return, and a notify retried until `success`', async (t) => {
  const no = uniq('P')
  const path = `/notify/${no}`
  rx.replies.set(path, ['failure'])
  const form = pageForm(no, '9.90', path)
  t.ok(form.fields.biz_content, 'biz_content travels in the body, the common params in the query')
  t.match(form.action, /\?.*sign=/)

  const cashier = await openCashier(t, form)
  const page = await (await fetch(`${sb.base}${cashier}`)).text()
  t.equal(countButtons(page, '支付'), 1, 'exactly one 支付 button')
  t.equal(countButtons(page, '取消'), 1, 'exactly one 取消 button')
  t.match(page, '9.90')
  t.match(page, '积分充值 100 个 &amp; more', 'the subject is shown, escaped')
  t.notMatch(page, /<button[^>]*disabled/)

  const trade = (await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)).json
  t.match(trade, {
    outTradeNo: no,
    status: 'WAIT_BUYER_PAY',
    totalAmount: '9.90',
    totalAmountFen: 990,
    notifyUrl: rx.url(path),
    paymentId: cashier.split('/')[2],
  })
  t.equal(trade.returnUrl, 'http://localhost:3000/api/pay/return?from=alipay')

  // The same form again (browser back + resubmit) reuses the trade.
  t.equal(await openCashier(t, pageForm(no, '9.90', path)), cashier, 'same out_trade_no + amount → same cashier')

  const payRes = await postForm(`${sb.base}${cashier}/pay`)
  t.equal(payRes.status, 302)
  const back = new URL(payRes.headers.get('location')!)
  t.equal(`${back.origin}${back.pathname}`, 'http://localhost:3000/api/pay/return', 'the browser goes back to return_url')
  const ret = Object.fromEntries(back.searchParams)
  t.equal(ret.from, 'alipay', 'return_url’s own query is kept')
  delete ret.from
  t.match(ret, {
    method: 'alipay.trade.page.pay.return',
    out_trade_no: no,
    total_amount: '9.90',
    app_id: sb.keys.alipay.appId,
    charset: 'utf-8',
    version: '1.0',
    sign_type: 'RSA2',
  })
  t.match(ret.trade_no, /^\d{8}22001\d{15}$/)
  t.match(ret.seller_id, /^2088\d{12}$/)
  t.ok(sdk.checkNotifySignV2(ret), 'the return parameters pass checkNotifySignV2')
  t.notOk(sdk.checkNotifySignV2({ ...ret, total_amount: '0.01' }), 'and a changed amount does not')

  // First notify answered `failure`, the retry answered `success`, then no more.
  const got = await rx.waitFor(path, 2)
  const [first, second] = got
  t.match(first!.contentType, /^application\/x-www-form-urlencoded/)
  for (const n of got) {
    t.ok(sdk.checkNotifySignV2(n.params), 'the notify passes checkNotifySignV2')
    t.match(n.params, {
      notify_type: 'trade_status_sync',
      trade_status: 'TRADE_SUCCESS',
      out_trade_no: no,
      trade_no: ret.trade_no,
      total_amount: '9.90',
      receipt_amount: '9.90',
      buyer_pay_amount: '9.90',
      app_id: sb.keys.alipay.appId,
      seller_id: ret.seller_id,
      subject: '积分充值 100 个 & more',
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
    })
    t.match(n.params.gmt_payment, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
    t.match(n.params.buyer_id, /^2088\d{12}$/)
  }
  t.equal(first!.params.notify_id, second!.params.notify_id, 'a retry is the same notification')
  t.ok(second!.at - first!.at >= 190, `retried after the scaled delay (${second!.at - first!.at} ms)`)
  await sleep(800)
  t.equal(rx.received(path).length, 2, 'no more notifies after `success`')

  const log = (await controlJson(sb.base, 'GET', `/control/alipay/notifications?outTradeNo=${no}`)).json
  t.equal(log.length, 2)
  t.match(log[0], { outTradeNo: no, attempt: 1, status: 200, responseBody: 'failure', kind: 'auto' })
  t.match(log[1], { outTradeNo: no, attempt: 2, status: 200, responseBody: 'success', deliveryState: 'DELIVERED' })
  t.ok(Date.parse(log[0].sentAt) <= Date.parse(log[1].sentAt))

  // The cashier of a paid trade: buttons disabled; paying again just returns again, no new notify.
  const paidPage = await (await fetch(`${sb.base}${cashier}`)).text()
  t.equal(countButtons(paidPage, '支付'), 1)
  t.match(paidPage, /<button[^>]*disabled[^>]*>支付<\/button>/)
  const again = await postForm(`${sb.base}${cashier}/pay`)
  t.equal(again.status, 302)
  await sleep(300)
  t.equal(rx.received(path).length, 2, 'paying twice schedules no second notify')
  const [count] = await sb.sql<{ n: number }[]>`select count(*)::int as n from notify_deliveries where reference = ${no}`
  t.equal(count!.n, 1)
})

t.test('page.pay with a bad signature shows 验签失败 and creates nothing', async (t) => {
  const no = uniq('X')
  const form = pageForm(no, '5.00', '/notify/x')
  form.fields.biz_content = form.fields.biz_content!.replace('"5.00"', '"0.01"')
  const res = await postForm(form.action, form.fields)
  t.equal(res.status, 400)
  t.match(res.headers.get('content-type'), /text\/html/)
  t.match(await res.text(), '验签失败')
  t.equal((await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)).status, 404)

  const good = pageForm(no, '5.00', '/notify/x')
  await openCashier(t, good)
  const other = await postForm(pageForm(no, '6.00', '/notify/x').action, pageForm(no, '6.00', '/notify/x').fields)
  t.equal(other.status, 400, 'another amount for the same out_trade_no')
  t.match(await other.text(), 'ACQ.CONTEXT_INCONSISTENT')
})

t.test('wap.pay by GET link; concurrent 支付 clicks pay once', async (t) => {
  const no = uniq('W')
  const path = `/notify/${no}`
  const url = sdk.pageExecute('alipay.trade.wap.pay', 'GET', {
    bizContent: { out_trade_no: no, total_amount: '0.01', subject: 'wap', product_code: 'QUICK_WAP_WAY' },
    notifyUrl: rx.url(path),
    returnUrl: 'http://localhost:3000/back',
  })
  const res = await getManual(url)
  t.equal(res.status, 302)
  const cashier = res.headers.get('location')!
  const clicks = await Promise.all(Array.from({ length: 5 }, () => postForm(`${sb.base}${cashier}/pay`)))
  t.same(
    clicks.map((c) => c.status),
    [302, 302, 302, 302, 302],
  )
  const ret = Object.fromEntries(new URL(clicks[0]!.headers.get('location')!).searchParams)
  t.equal(ret.method, 'alipay.trade.wap.pay.return')
  t.ok(sdk.checkNotifySignV2(ret))
  await rx.waitFor(path, 1)
  await sleep(300)
  t.equal(rx.received(path).length, 1, 'one payment, one notify')
})

t.test('cancel leaves the trade payable; a closed trade is refused at the cashier', async (t) => {
  const no = uniq('K')
  const cashier = await openCashier(t, pageForm(no, '3.00', '/notify/k'))
  const cancel = await postForm(`${sb.base}${cashier}/cancel`)
  t.equal(cancel.status, 200)
  t.match(await cancel.text(), '已取消')
  t.equal((await controlJson(sb.base, 'GET', `/control/alipay/trades/${no}`)).json.status, 'WAIT_BUYER_PAY')

  const closed = await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/close`)
  t.equal(closed.status, 200)
  t.equal(closed.json.status, 'TRADE_CLOSED')
  const pay = await postForm(`${sb.base}${cashier}/pay`)
  t.equal(pay.status, 409)
  t.match(await pay.text(), '交易已关闭')
  const page = await (await fetch(`${sb.base}${cashier}`)).text()
  t.match(page, /<button[^>]*disabled[^>]*>支付<\/button>/)
  const q = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: no } }, { validateSign: true })
  t.equal(q.tradeStatus, 'TRADE_CLOSED')
})

t.test('QR: /scan?code= and the QR URL open the cashier; paying without return_url shows 支付成功', async (t) => {
  const no = uniq('QR')
  const path = `/notify/${no}`
  const pre = await sdk.exec(
    'alipay.trade.precreate',
    { notifyUrl: rx.url(path), bizContent: { out_trade_no: no, total_amount: '12.34', subject: 'qr' } },
    { validateSign: true },
  )
  const scan = await getManual(`${sb.base}/scan?code=${encodeURIComponent(pre.qrCode)}`)
  t.equal(scan.status, 302)
  const cashier = scan.headers.get('location')!
  t.match(cashier, /^\/cashier\/ali_/)
  const direct = await getManual(`${sb.base}${new URL(pre.qrCode).pathname}`)
  t.equal(direct.headers.get('location'), cashier, 'opening the QR URL itself lands on the same cashier')
  const otherHost = pre.qrCode.replace('localhost', '127.0.0.1')
  t.equal((await getManual(`${sb.base}/scan?code=${encodeURIComponent(otherHost)}`)).headers.get('location'), cashier)
  t.equal((await getManual(`${sb.base}/scan?code=${encodeURIComponent('https://qr.alipay.com/bax00000')}`)).status, 404)
  t.equal((await getManual(`${sb.base}/scan`)).status, 400)

  const page = await (await fetch(`${sb.base}${cashier}`)).text()
  t.equal(countButtons(page, '支付'), 1)
  t.equal(countButtons(page, '取消'), 1)
  const pay = await postForm(`${sb.base}${cashier}/pay`)
  t.equal(pay.status, 200)
  t.match(await pay.text(), '支付成功')
  const [n] = await rx.waitFor(path, 1)
  t.ok(sdk.checkNotifySignV2(n!.params))
  t.equal(n!.params.total_amount, '12.34')
})

t.test('control notify: duplicates, tampering, wrong key, forged raw notifies', async (t) => {
  const no = uniq('N')
  const path = `/notify/${no}`
  await sdk.exec('alipay.trade.precreate', {
    notifyUrl: rx.url(path),
    bizContent: { out_trade_no: no, total_amount: '25.00', subject: 'n' },
  })
  await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/pay`, { notify: false })

  const dup = await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/notify`, { times: 3 })
  t.equal(dup.status, 200)
  t.same(
    dup.json.deliveries.map((d: { status: number; body: string }) => [d.status, d.body]),
    [
      [200, 'success'],
      [200, 'success'],
      [200, 'success'],
    ],
  )
  const three = rx.received(path)
  t.equal(three.length, 3)
  t.equal(new Set(three.map((r) => r.params.notify_id)).size, 1, 'duplicates of one notification')
  t.ok(three.every((r) => sdk.checkNotifySignV2(r.params)))

  rx.replies.set(path, ['fail'])
  const tampered = await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/notify`, { tamper: { total_amount: '0.01' } })
  t.same(tampered.json.deliveries, [{ status: 200, body: 'fail', error: null }], 'answers what the merchant replied')
  const tn = rx.received(path).at(-1)!
  t.equal(tn.params.total_amount, '0.01', 'carries the tampered amount')
  t.ok(sdk.checkNotifySignV2(tn.params), 'validly signed: the merchant must catch it by cross-checking the amount')

  await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/notify`, { tamper: { total_amount: '0.01' }, tamperAfterSign: true })
  const ta = rx.received(path).at(-1)!
  t.equal(ta.params.total_amount, '0.01')
  t.notOk(sdk.checkNotifySignV2(ta.params), 'tamperAfterSign breaks the signature')

  await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/notify`, { wrongKey: true })
  const wk = rx.received(path).at(-1)!
  t.equal(wk.params.total_amount, '25.00')
  t.notOk(sdk.checkNotifySignV2(wk.params), 'wrongKey: signed with another key, rejected')

  const forgedPath = `/notify/forged-${no}`
  const raw = await controlJson(sb.base, 'POST', '/control/alipay/notify-raw', {
    notifyUrl: rx.url(forgedPath),
    params: {
      notify_type: 'trade_status_sync',
      out_trade_no: 'NEVER',
      trade_status: 'TRADE_SUCCESS',
      total_amount: '1.00',
      app_id: sb.keys.alipay.appId,
    },
  })
  t.match(raw.json, { status: 200, body: 'success' })
  const fr = rx.received(forgedPath)[0]!
  t.equal(fr.params.out_trade_no, 'NEVER')
  t.ok(sdk.checkNotifySignV2(fr.params), 'raw params signed with the platform key')
  await controlJson(sb.base, 'POST', '/control/alipay/notify-raw', {
    notifyUrl: rx.url(forgedPath),
    params: { out_trade_no: 'NEVER' },
    wrongKey: true,
  })
  t.notOk(sdk.checkNotifySignV2(rx.received(forgedPath)[1]!.params))

  const log = (await controlJson(sb.base, 'GET', `/control/alipay/notifications?outTradeNo=${no}`)).json
  t.equal(log.length, 6, 'every manual delivery is recorded')
  t.ok(log.every((l: { kind: string }) => l.kind === 'manual'))
  t.equal(log[3].responseBody, 'fail')
  t.equal(log[3].params.total_amount, '0.01')
})

t.test('control API: bad input is a 4xx, never a 500', async (t) => {
  const no = uniq('B')
  await sdk.exec('alipay.trade.precreate', { bizContent: { out_trade_no: no, total_amount: '1.00', subject: 'b' } })
  const cases: [string, string, unknown, number][] = [
    ['GET', '/control/alipay/trades/NOPE', undefined, 404],
    ['GET', '/control/alipay/trades/%00%27', undefined, 404],
    ['POST', '/control/alipay/trades/NOPE/pay', {}, 404],
    ['POST', `/control/alipay/trades/${no}/pay`, { notify: 'yes' }, 400],
    ['POST', `/control/alipay/trades/${no}/pay`, [1, 2], 400],
    ['POST', `/control/alipay/trades/${no}/pay`, { notifyDelayMs: -1 }, 400],
    ['POST', `/control/alipay/trades/${no}/notify`, {}, 409],
    ['POST', `/control/alipay/trades/${no}/notify`, { times: 0 }, 400],
    ['POST', `/control/alipay/trades/${no}/notify`, { times: 'many' }, 400],
    ['POST', `/control/alipay/trades/${no}/notify`, { tamper: { sign: 'x' } }, 400],
    ['POST', `/control/alipay/trades/${no}/notify`, { tamper: 'x' }, 400],
    ['POST', `/control/alipay/trades/${no}/notify`, { notifyUrl: 'file:///etc/passwd' }, 400],
    ['POST', '/control/alipay/notify-raw', {}, 400],
    ['POST', '/control/alipay/notify-raw', { notifyUrl: 'http://127.0.0.1:1/x' }, 400],
    ['POST', '/control/alipay/notify-raw', { notifyUrl: 'http://127.0.0.1:1/x', params: { a: { b: 1 } } }, 400],
    ['GET', '/control/alipay/notifications?outTradeNo=a&outTradeNo=b', undefined, 400],
    ['POST', '/control/alipay/trades/NOPE/close', undefined, 404],
  ]
  for (const [method, path, body, status] of cases) {
    const r = await controlJson(sb.base, method as 'GET' | 'POST', path, body)
    t.equal(r.status, status, `${method} ${path} ${JSON.stringify(body) ?? ''} → ${status}`)
    if (status >= 400) t.match(r.json, { code: status, error: String }, 'error envelope')
  }
  const broken = await fetch(`${sb.base}/control/alipay/trades/${no}/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{',
  })
  t.equal(broken.status, 400)
  // A notify to a dead URL is recorded with the error, not a 500.
  const dead = await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/notify`, { notifyUrl: 'http://127.0.0.1:1/dead' })
  t.equal(dead.status, 200)
  t.equal(dead.json.deliveries[0].status, null)
  t.match(dead.json.deliveries[0].error, /ECONNREFUSED/)
  for (const p of ['/cashier/nothing', '/cashier/ali_doesnotexist000', '/qr/alipay/zzzzzzzzzz', '/qr/alipay/..%2F..', '/scan?code=']) {
    const r = await getManual(`${sb.base}${p}`)
    t.ok(r.status >= 400 && r.status < 500, `GET ${p} → ${r.status}`)
  }
  for (const p of ['/cashier/ali_doesnotexist000/pay', '/cashier/x/cancel']) {
    t.equal((await postForm(`${sb.base}${p}`)).status, 404, `POST ${p}`)
  }
})

t.test('durable delivery: pending notifies survive a restart; the schedule ends after 8 attempts', async (t) => {
  const no = uniq('D')
  const path = `/notify/${no}`
  await sdk.exec('alipay.trade.precreate', {
    notifyUrl: rx.url(path),
    bizContent: { out_trade_no: no, total_amount: '2.00', subject: 'd' },
  })
  const paid = await controlJson(sb.base, 'POST', `/control/alipay/trades/${no}/pay`, { notifyDelayMs: 400 })
  t.equal(paid.json.notifyScheduled, true)
  await sb.stopApp() // the sandbox goes away before the notify was due
  await sleep(600)
  t.equal(rx.received(path).length, 0, 'nothing sent while the sandbox is down')
  rx.replies.set(path, Array(20).fill('failure'))
  await sb.restart({ SANDBOX_TIME_FACTOR: '0' }) // every retry at the 200 ms minimum
  await rx.waitFor(path, 1, 5000)
  t.pass('the restarted sandbox delivered the pending notify')
  await rx.waitFor(path, 8, 10_000)
  await sleep(700)
  t.equal(rx.received(path).length, 8, 'Alipay gives up after 8 attempts')
  const [d] = await sb.sql<{ state: string; attempts: number }[]>`select state, attempts from notify_deliveries where reference = ${no}`
  t.match(d, { state: 'GAVE_UP', attempts: 8 })
  const log = (await controlJson(sb.base, 'GET', `/control/alipay/notifications?outTradeNo=${no}`)).json
  t.same(
    log.map((l: { attempt: number }) => l.attempt),
    [1, 2, 3, 4, 5, 6, 7, 8],
  )
})
