/**
 * Reconciliation against provider bills (对账), end to end: main's admin API → pay → the sandbox's
 * bill (Alipay: signed download URL → zipped GBK CSV; WeChat: signed tradebill → SHA1-checked text)
 * → differences classified, safe ones repaired through the same path as a verified notify.
 */
import t from 'tap'
import { http, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const stack = await startStack({
  extra: {
    // Main's own pull-based reconciliation of stale pending orders stays out of the way: here only
    // the bill may find the unnotified payments.
    main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, RECONCILE_AFTER_SECONDS: '86400' },
    pay: { RECONCILE_FEE_RATES: 'ALIPAY:0.006,WECHAT_PAY:0.006', RECONCILE_RETRY_DELAY_SECONDS: '1' },
  },
})
t.teardown(() => stack.stop())
const { main, sandbox, paySql, mainSql } = stack

const adminToken = (await http(`${main}/api/auth/login`, { body: ADMIN })).json.data.token as string
const admin = (path: string, body?: object) => http(`${main}/api/admin${path}`, { token: adminToken, ...(body ? { body } : {}) })
/** Today in China time: the sandbox's trades of this test all fall on it. */
const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10)

let seq = 0
async function newUser() {
  const email = `recon${++seq}-${Date.now()}@example.com`
  const res = await http(`${main}/api/auth/register`, { body: { email, password: 'password123' } })
  return res.json.data.token as string
}
async function buy(token: string, paymentMethod: string, channel: string) {
  const res = await http(`${main}/api/credits/purchase`, { token, body: { packageCode: 'CREDITS_200', paymentMethod, channel } })
  if (res.status !== 200) throw new Error(res.text)
  return res.json.data as { id: number; orderNo: string }
}
const orderStatus = async (token: string, id: number) => (await http(`${main}/api/orders/${id}`, { token })).json.data
/** Everything that money state is made of, to prove a run changed nothing. */
async function moneyState() {
  const orders = await mainSql`select id, status, credits_granted, late_payment from orders order by id`
  const ledger = await mainSql`select count(*)::int as n, coalesce(sum(delta), 0)::bigint as s from credit_ledger`
  const attempts = await paySql`select id, status, trade_no, paid_at from payment_attempts order by id`
  const events = await paySql`select count(*)::int as n from outbox`
  return JSON.stringify({ orders, ledger, attempts, events })
}

t.test('a day of 50 Alipay trades: exactly the 5 differences, 3 unnotified payments repaired once, a re-run changes nothing', async (t) => {
  const token = await newUser()
  const orders: { id: number; orderNo: string }[] = []
  for (let i = 0; i < 50; i++) orders.push(await buy(token, 'ALIPAY', 'qr'))
  const unnotified = orders.slice(0, 3)
  const otherAmount = orders[3]!
  for (const [i, o] of orders.entries()) {
    const res = await http(`${sandbox}/control/alipay/trades/${o.orderNo}/pay`, { body: i < 3 ? { notify: false } : {} })
    t.equal(res.status, 200, res.text)
  }
  // The provider's bill shows another amount for one trade (its record differs from ours).
  const bill = await http(`${sandbox}/control/alipay/trades/${otherAmount.orderNo}/bill-amount`, { body: { amount: 1234 } })
  t.equal(bill.status, 200, bill.text)
  // A local attempt the provider never saw, recorded as paid here (a page form nobody submitted,
  // marked paid as a forged notify or a bug would): we have it, the provider does not.
  const ghost = await buy(token, 'ALIPAY', 'page')
  await paySql`update payment_attempts set status = 'PAID', trade_no = 'GHOST-TRADE', paid_at = now(), paid_via = 'NOTIFY'
                where out_trade_no = ${ghost.orderNo}`

  await until(
    '47 notified orders PAID',
    async () => {
      const [r] = await mainSql`select count(*)::int as n from orders where status = 'PAID'`
      return r!.n === 47
    },
    60_000,
  )
  for (const o of unnotified) t.equal((await orderStatus(token, o.id)).status, 'PENDING_PAYMENT', 'not notified: still pending here')
  const balanceBefore = (await http(`${main}/api/credits/balance`, { token })).json.data.balance
  t.equal(balanceBefore, 47 * 200)

  const run = await admin('/reconciliations', { provider: 'ALIPAY', day: today })
  t.equal(run.status, 200, run.text)
  const figures = run.json.data
  t.match(figures, {
    provider: 'ALIPAY',
    billDay: today,
    status: 'SUCCEEDED',
    source: 'BILL',
    billRows: 50,
    matched: 46,
    differences: 5,
    repaired: 3,
    byClass: { STATUS_MISMATCH: 3, AMOUNT_MISMATCH: 1, LOCAL_ONLY: 1, PROVIDER_ONLY: 0, FEE_MISMATCH: 0, REFUND_MISMATCH: 0 },
  })
  t.equal(figures.billPaymentTotal, 49 * 1000 + 1234, 'the bill as the provider sent it, in fen')
  t.equal(figures.billFeeTotal, 49 * 6 + 7, '0.6% per trade, rounded per row')
  t.comment(
    `reconciliation: ${figures.billRows} bill rows, ${figures.matched} matched, ${figures.differences} differences, ${figures.repaired} repaired`,
  )

  const detail = (await admin(`/reconciliations/${figures.id}`)).json.data
  const byTrade = new Map(detail.differenceList.map((d: { outTradeNo: string }) => [d.outTradeNo, d]))
  t.equal(detail.differenceList.length, 5)
  for (const o of unnotified) t.match(byTrade.get(o.orderNo), { class: 'STATUS_MISMATCH', status: 'REPAIRED', localStatus: 'PENDING' })
  t.match(byTrade.get(otherAmount.orderNo), { class: 'AMOUNT_MISMATCH', status: 'OPEN', billAmount: 1234, localAmount: 1000 })
  t.match(byTrade.get(ghost.orderNo), { class: 'LOCAL_ONLY', status: 'OPEN', localAmount: 1000 })

  // The repaired payments reach main like a notify: PAID, credited once.
  for (const o of unnotified) {
    await until(`order ${o.id} PAID`, async () => (await orderStatus(token, o.id)).status === 'PAID', 30_000)
    t.match(await orderStatus(token, o.id), { status: 'PAID', creditsGranted: true })
    const [ledger] = await mainSql`select count(*)::int as n from credit_ledger where order_id = ${o.id}`
    t.equal(ledger!.n, 1, 'one ledger row')
  }
  const [paidVia] = await paySql`select count(*)::int as n from payment_attempts where paid_via = 'RECONCILIATION'`
  t.equal(paidVia!.n, 3)
  await until('events delivered', async () => {
    const [r] = await paySql`select count(*)::int as n from outbox where status <> 'DELIVERED'`
    return r!.n === 0
  })

  // Again: same figures, nothing changes.
  const before = await moneyState()
  const again = await admin('/reconciliations', { provider: 'ALIPAY', day: today })
  t.equal(again.status, 200, again.text)
  for (const k of ['billRows', 'matched', 'differences', 'repaired', 'byClass', 'billPaymentTotal', 'billFeeTotal', 'localPaymentTotal']) {
    t.same(again.json.data[k], figures[k], `same ${k}`)
  }
  t.not(again.json.data.id, figures.id, 'a new run on record')
  await new Promise((r) => setTimeout(r, 500))
  t.equal(await moneyState(), before, 'no order, ledger, attempt or event changed')
  t.equal((await http(`${main}/api/credits/balance`, { token })).json.data.balance, 50 * 200)

  // A person looks at the amount difference.
  const diffId = (byTrade.get(otherAmount.orderNo) as { id: number }).id
  const resolved = await admin(`/reconciliations/differences/${diffId}/resolve`, { note: '渠道确认账单金额有误，已联系支付宝' })
  t.equal(resolved.status, 200, resolved.text)
  t.match(resolved.json.data, { status: 'RESOLVED', resolutionNote: '渠道确认账单金额有误，已联系支付宝', resolvedBy: /^admin:/ })
  t.equal((await admin(`/reconciliations/differences/${diffId}/resolve`, { note: 'again' })).status, 409)
  const list = await admin(`/reconciliations?provider=ALIPAY&day=${today}`)
  t.equal(list.json.data.totalElements, 2)
})

t.test('a bill that does not verify or cannot be downloaded fails the run visibly, repairs nothing, and is retried', async (t) => {
  const token = await newUser()
  const order = await buy(token, 'WECHAT_PAY', 'native')
  t.equal((await http(`${sandbox}/control/wechat/trades/${order.orderNo}/pay`, { body: { notify: false } })).status, 200)
  const fault = (provider: string, mode: string) => http(`${sandbox}/control/bills/faults`, { body: { provider, mode } })

  // WeChat: the file does not match its SHA1 → nothing is trusted.
  t.equal((await fault('wechat', 'hash-mismatch')).status, 200)
  const failed = await admin('/reconciliations', { provider: 'WECHAT_PAY', day: today })
  t.equal(failed.status, 502, failed.text)
  t.equal(failed.json.error, 'BILL_UNAVAILABLE')
  t.match(failed.json.message, /VERIFICATION_FAILED/)
  const runs = (await admin(`/reconciliations?provider=WECHAT_PAY`)).json.data.content
  t.match(runs[0], { status: 'FAILED', error: /VERIFICATION_FAILED/ })
  t.equal((await orderStatus(token, order.id)).status, 'PENDING_PAYMENT', 'nothing repaired from an unverified bill')

  // Alipay: the download fails.
  t.equal((await fault('alipay', 'download-error')).status, 200)
  const down = await admin('/reconciliations', { provider: 'ALIPAY', day: today })
  t.equal(down.status, 502, down.text)
  t.match(down.json.message, /UNAVAILABLE/)
  await fault('alipay', 'none')

  // On the job queue the failed run is retried (backoff) until the bill verifies.
  const queued = await admin('/reconciliations', { provider: 'WECHAT_PAY', day: today, async: true })
  t.equal(queued.status, 202, queued.text)
  await until(
    'a queued run failed',
    async () => {
      const c = (await admin(`/reconciliations?provider=WECHAT_PAY`)).json.data.content as { status: string; trigger: string }[]
      return c.some((r) => r.trigger === 'SCHEDULED' && r.status === 'FAILED')
    },
    30_000,
  )
  t.equal((await orderStatus(token, order.id)).status, 'PENDING_PAYMENT')
  await fault('wechat', 'none')
  const ok = await until(
    'a retry succeeded',
    async () => {
      const c = (await admin(`/reconciliations?provider=WECHAT_PAY`)).json.data.content as { status: string; trigger: string }[]
      return c.find((r) => r.trigger === 'SCHEDULED' && r.status === 'SUCCEEDED')
    },
    60_000,
  )
  t.match(ok, { differences: 1, repaired: 1, byClass: { STATUS_MISMATCH: 1 } })
  await until('WeChat order PAID', async () => (await orderStatus(token, order.id)).status === 'PAID', 30_000)
  t.equal((await http(`${main}/api/credits/balance`, { token })).json.data.balance, 200)
})

t.test('bad input: 400/422 and no run', async (t) => {
  const [before] = await paySql`select count(*)::int as n from reconciliation_runs`
  for (const body of [
    { provider: 'ALIPAY', day: '2026-02-30' },
    { provider: 'ALIPAY', day: '2026-13-01' },
    { provider: 'ALIPAY', day: '2999-01-01' },
    { provider: 'ALIPAY', day: 'yesterday' },
    { provider: 'PAYPAL', day: today },
    { provider: 'ALIPAY' },
    { provider: 'ALIPAY', day: today, extra: 1 },
  ]) {
    const res = await admin('/reconciliations', body)
    t.ok(res.status === 400 || res.status === 422, `${JSON.stringify(body)} → ${res.status} ${res.json?.error}`)
  }
  t.equal((await admin('/reconciliations/999999')).status, 404)
  t.equal((await admin('/reconciliations/abc')).status, 400)
  t.equal((await admin('/reconciliations/differences/999999/resolve', { note: 'x' })).status, 404)
  t.equal((await admin('/reconciliations/differences/1/resolve', { note: '' })).status, 400)
  const user = await newUser()
  t.equal((await http(`${main}/api/admin/reconciliations`, { token: user })).status, 403)
  t.equal((await http(`${main}/api/admin/reconciliations`)).status, 401)
  const [after] = await paySql`select count(*)::int as n from reconciliation_runs`
  t.equal(after!.n, before!.n)
})

t.test('the CLI runs one provider day with the pay service configuration and prints the figures', async (t) => {
  const { execFile } = await import('node:child_process')
  const { promisify } = await import('node:util')
  const { REPO_ROOT } = await import('@paysys/devkit')
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'services/pay/src/cli/reconcile.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...stack.env.pay, LOG_LEVEL: 'silent' },
    }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
    )
  const ok = await run(['--provider', 'ALIPAY', '--day', today])
  t.equal(ok.code, 0, ok.err)
  t.match(ok.out, /reconciliation #\d+ ALIPAY \d{4}-\d{2}-\d{2}: SUCCEEDED \(source BILL\)/)
  t.match(ok.out, /bill rows 50, matched 46, differences 5, repaired 3/)
  t.match(ok.out, /AMOUNT_MISMATCH/)
  const bad = await run(['--provider', 'ALIPAY', '--day', 'someday'])
  t.equal(bad.code, 2, 'bad arguments')
  t.match(bad.err, /对账日期无效/)
  const usage = await run([])
  t.equal(usage.code, 2)
  t.match(usage.err, /usage: reconcile/)
})

t.test(
  'WeChat over two days: a refund accepted on day 1 and done on day 2 is no difference on either day; one that failed since is; a coupon order with WeChat’s fee is no FEE_MISMATCH',
  async (t) => {
    const yesterday = new Date(Date.now() - 16 * 3600_000).toISOString().slice(0, 10)
    const cst = (day: string, time: string) => new Date(`${day}T${time}+08:00`)
    const token = await newUser()
    const order = async (packageCode: string) => {
      const res = await http(`${main}/api/credits/purchase`, {
        token,
        body: { packageCode, paymentMethod: 'WECHAT_PAY', channel: 'native' },
      })
      if (res.status !== 200) throw new Error(res.text)
      const o = res.json.data as { id: number; orderNo: string }
      t.equal((await http(`${sandbox}/control/wechat/trades/${o.orderNo}/pay`, { body: {} })).status, 200)
      await until(`order ${o.id} PAID`, async () => (await orderStatus(token, o.id)).status === 'PAID', 30_000)
      return o
    }
    const refund = async (o: { id: number; orderNo: string }) => {
      const r = await admin(`/orders/${o.id}/refund`, { amount: 3, reason: '部分退款' })
      t.equal(r.status, 200, r.text)
      const [row] = await paySql<{ refundNo: string }[]>`select refund_no as "refundNo" from refunds where order_no = ${o.orderNo}`
      return row!.refundNo
    }
    const control = async (path: string, body: object) => {
      const r = await http(`${sandbox}${path}`, { body })
      t.equal(r.status, 200, `${path}: ${r.text}`)
    }

    // Day 1 (yesterday): two WeChat payments, then a 3.00 refund of each.
    const done = await order('CREDITS_200')
    const failed = await order('CREDITS_200')
    for (const o of [done, failed]) {
      await control(`/control/wechat/trades/${o.orderNo}/timeline`, { paidAt: cst(yesterday, '10:00:00').toISOString() })
      await paySql`update payment_attempts set paid_at = ${cst(yesterday, '10:00:00')} where out_trade_no = ${o.orderNo}`
    }
    const doneNo = await refund(done)
    const failedNo = await refund(failed)
    // One accepted at 23:50 and done after midnight (a bank-card refund), as WeChat and pay recorded it.
    await control(`/control/wechat/refunds/${doneNo}/timeline`, {
      acceptedAt: cst(yesterday, '23:50:00').toISOString(),
      status: 'SUCCESS',
      successAt: new Date().toISOString(),
    })
    await paySql`update refunds set created_at = ${cst(yesterday, '23:50:00')} where refund_no = ${doneNo}`
    // One accepted at 15:00 that failed later (ABNORMAL): pay learned it failed.
    await control(`/control/wechat/refunds/${failedNo}/timeline`, {
      acceptedAt: cst(yesterday, '15:00:00').toISOString(),
      status: 'ABNORMAL',
    })
    await paySql`update refunds set created_at = ${cst(yesterday, '15:00:00')}, status = 'FAILED', refunded_at = null,
                   failure_reason = 'refund status ABNORMAL' where refund_no = ${failedNo}`

    // Day 2 (today): a 25.00 order with a 10.00 non-top-up coupon: WeChat settles 15.00 and charges 0.6 % of it.
    const coupon = await order('CREDITS_500')
    await control(`/control/wechat/trades/${coupon.orderNo}/bill-coupon`, { amount: 1000 })

    const day1 = await admin('/reconciliations', { provider: 'WECHAT_PAY', day: yesterday })
    t.equal(day1.status, 200, day1.text)
    t.match(day1.json.data, {
      status: 'SUCCEEDED',
      billRows: 4,
      matched: 3,
      differences: 1,
      byClass: { REFUND_MISMATCH: 1, FEE_MISMATCH: 0, LOCAL_ONLY: 0, PROVIDER_ONLY: 0, STATUS_MISMATCH: 0, AMOUNT_MISMATCH: 0 },
      billRefundTotal: 600,
    })
    const day1Detail = (await admin(`/reconciliations/${day1.json.data.id}`)).json.data
    t.same(
      day1Detail.differenceList.map((d: { refundNo: string }) => d.refundNo),
      [failedNo],
      'only the refund that failed: the one done after midnight is no difference',
    )
    t.match(day1Detail.differenceList[0], {
      class: 'REFUND_MISMATCH',
      status: 'OPEN',
      outTradeNo: failed.orderNo,
      billStatus: 'REFUND/PROCESSING',
      localStatus: 'FAILED',
      billAmount: 300,
      detail: /失败/,
    })
    t.comment(`day 1: ${day1Detail.differenceList[0].detail}`)

    const day2 = await admin('/reconciliations', { provider: 'WECHAT_PAY', day: today })
    t.equal(day2.status, 200, day2.text)
    const day2Detail = (await admin(`/reconciliations/${day2.json.data.id}`)).json.data
    // A day's differences are shared by all its runs: an earlier test of this file may have left a repaired
    // STATUS_MISMATCH on today's WeChat bill (its unnotified order, when the bill repaired it before a status query
    // did). Only this test's trades are judged here.
    const mine = new Set([done.orderNo, failed.orderNo, coupon.orderNo])
    const ours = day2Detail.differenceList.filter((d: { outTradeNo: string }) => mine.has(d.outTradeNo))
    t.same(ours, [], 'day 2: no difference — the refund done today is not expected on today’s bill, the coupon order’s fee is right')
    const others = day2Detail.differenceList.filter((d: { outTradeNo: string }) => !mine.has(d.outTradeNo))
    t.same(
      others
        .map((d: { class: string; status: string }) => `${d.class}/${d.status}`)
        .filter((c: string) => c !== 'STATUS_MISMATCH/REPAIRED'),
      [],
      'other trades of the day: at most the earlier test’s repaired payment',
    )
    t.match(day2.json.data, { status: 'SUCCEEDED', differences: others.length, byClass: { FEE_MISMATCH: 0, REFUND_MISMATCH: 0 } })
    t.ok(day2.json.data.billRows >= 1)
    const [fee] = await paySql<{ n: number }[]>`select count(*)::int as n from reconciliation_differences where class = 'FEE_MISMATCH'`
    t.equal(fee!.n, 0, 'no FEE_MISMATCH on record')

    // The person resolves the failed refund's difference.
    const resolved = await admin(`/reconciliations/differences/${day1Detail.differenceList[0].id}/resolve`, {
      note: '退款异常，已线下退回买家',
    })
    t.equal(resolved.status, 200, resolved.text)
  },
)
