/**
 * WeChat refund notifies end to end (issue 14 item 3): a refund WeChat leaves PROCESSING is finished by
 * its REFUND.SUCCESS notify alone. main never asks again here (REFUND_RETRY_AFTER_SECONDS 3600), so the
 * order can only turn REFUNDED through pay's notify route → its event → main. A replayed notify changes
 * nothing; an ABNORMAL one keeps the credits clawed back and the refund pending.
 */
import t, { type Test } from 'tap'
import { http, startStack, until } from './fixtures/stack.ts'

const ADMIN = { email: 'admin@example.com', password: 'admin12345' }
const stack = await startStack({
  extra: { main: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, REFUND_RETRY_AFTER_SECONDS: '3600' } },
})
t.teardown(() => stack.stop())
const { main, sandbox, paySql, mainSql } = stack

const adminToken = (await http(`${main}/api/auth/login`, { body: ADMIN })).json.data.token as string
const control = (path: string, body: unknown) => http(`${sandbox}/control/wechat${path}`, { body })
t.teardown(() => control('/refund-mode', { status: 'SUCCESS' }))

const reg = await http(`${main}/api/auth/register`, { body: { email: `wxrn-${Date.now()}@example.com`, password: 'password123' } })
const token = reg.json.data.token as string
const balance = async () => (await http(`${main}/api/credits/balance`, { token })).json.data.balance as number
const order = async (id: number) => (await http(`${main}/api/orders/${id}`, { token })).json.data
const logged = async (orderNo: string) =>
  (await paySql`select verdict, reason from notify_log where out_trade_no = ${orderNo} and raw_body like ${'%REFUND.%'} order by id`).map(
    (r) => `${r.verdict} ${r.reason}`,
  )

/** A CREDITS_500 order paid by WeChat (Native) at the sandbox, credited in main, refunded in full while WeChat answers PROCESSING. */
async function refundedWhileProcessing(t: Test) {
  const buy = await http(`${main}/api/credits/purchase`, {
    token,
    body: { packageCode: 'CREDITS_500', paymentMethod: 'WECHAT_PAY', channel: 'native' },
  })
  t.equal(buy.status, 200, buy.text)
  const { id, orderNo } = buy.json.data as { id: number; orderNo: string }
  t.equal((await control(`/trades/${orderNo}/pay`, {})).status, 200)
  await until('order PAID', async () => (await order(id)).status === 'PAID')
  const before = await balance()
  t.equal((await control('/refund-mode', { status: 'PROCESSING' })).status, 200)
  const r = await http(`${main}/api/admin/orders/${id}/refund`, { token: adminToken, body: { reason: '全额退款' } })
  t.equal(r.status, 200, r.text)
  t.match(r.json.data, { refund: { status: 'PENDING', creditsClawedBack: 500 } })
  t.equal(await balance(), before - 500, 'clawed back while pending')
  const [refund] = await paySql`select refund_no, status from refunds where order_no = ${orderNo}`
  t.equal(refund!.status, 'PENDING')
  return { id, orderNo, refundNo: refund!.refund_no as string, before }
}

t.test('a PROCESSING refund finished only by its REFUND.SUCCESS notify: REFUNDED once; a replay changes nothing', async (t) => {
  const { id, orderNo, refundNo, before } = await refundedWhileProcessing(t)
  t.equal((await control(`/refunds/${refundNo}`, { status: 'SUCCESS' })).status, 200, 'WeChat finishes it and notifies')
  await until('order REFUNDED in main', async () => (await order(id)).status === 'REFUNDED')
  t.same(await logged(orderNo), ['ACCEPTED REFUND_SUCCEEDED'], 'the notify made the change (a re-query first would leave it DUPLICATE)')
  t.equal(await balance(), before - 500, 'credits clawed back once')

  // WeChat sends it again (as after a lost answer), signed anew: acknowledged, nothing changes.
  const [attempt] = await paySql`select trade_no from payment_attempts where order_no = ${orderNo}`
  const replay = await control('/notify-raw', {
    notifyUrl: `${stack.pay}/api/pay/notify/wechat`,
    originalType: 'refund',
    eventType: 'REFUND.SUCCESS',
    resource: {
      mchid: stack.keys.wechat.mchId,
      out_trade_no: orderNo,
      transaction_id: attempt!.trade_no,
      out_refund_no: refundNo,
      refund_id: '50300000000000000000000000001',
      refund_status: 'SUCCESS',
      amount: { total: 2500, refund: 2500, payer_total: 2500, payer_refund: 2500 },
    },
  })
  t.equal(replay.json.status, 204, 'acknowledged')
  t.same(await logged(orderNo), ['ACCEPTED REFUND_SUCCEEDED', 'DUPLICATE REFUND_SUCCEEDED'])
  t.equal(await balance(), before - 500, 'still clawed back once')
  const events = await paySql`select count(*)::int as n from outbox where payload->>'refundNo' = ${refundNo}`
  t.equal(events[0]!.n, 1, 'one REFUND_SUCCEEDED event')
  const ledger = await mainSql`select count(*)::int as n from credit_ledger where order_id = ${id} and type = 'REFUND'`
  t.equal(ledger[0]!.n, 1, 'one REFUND ledger row')
})

t.test('ABNORMAL by notify: the refund stays pending, the credits stay clawed back; CLOSED then ends it FAILED at pay once', async (t) => {
  const { id, orderNo, refundNo, before } = await refundedWhileProcessing(t)
  t.equal((await control(`/refunds/${refundNo}`, { status: 'ABNORMAL' })).status, 200)
  await until(
    'pay ABNORMAL',
    async () => (await paySql`select status from refunds where refund_no = ${refundNo}`)[0]!.status === 'ABNORMAL',
  )
  t.same(await logged(orderNo), ['ACCEPTED REFUND_ABNORMAL'])
  t.match(await order(id), { status: 'PAID' }, 'not refunded')
  t.equal(await balance(), before - 500, 'credits not given back')
  t.equal((await paySql`select count(*)::int as n from outbox where payload->>'refundNo' = ${refundNo}`)[0]!.n, 0, 'no event for main')
  t.equal((await control(`/refunds/${refundNo}`, { status: 'CLOSED' })).status, 200)
  await until('pay FAILED', async () => (await paySql`select status from refunds where refund_no = ${refundNo}`)[0]!.status === 'FAILED')
  t.same(await logged(orderNo), ['ACCEPTED REFUND_ABNORMAL', 'ACCEPTED REFUND_FAILED'])
})
