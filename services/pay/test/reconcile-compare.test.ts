/** The pure bill comparison: every difference class, one case each, and what counts as matched. */
import t from 'tap'
import { compareBill, type LocalAttempt, type LocalRefund } from '../src/reconciliation/compare.ts'
import { validBillDay, dayWindow } from '../src/reconciliation/engine.ts'
import type { BillRow } from '../src/reconciliation/types.ts'

const time = new Date('2026-11-21T10:00:00+08:00')
const row = (over: Partial<BillRow>): BillRow => ({
  kind: 'PAYMENT',
  outTradeNo: 'P1',
  tradeNo: 'T1',
  amount: 1000,
  fee: 6,
  refundNo: null,
  time,
  providerStatus: 'SUCCESS',
  ...over,
})
const attempt = (over: Partial<LocalAttempt>): LocalAttempt => ({
  id: `a-${over.outTradeNo ?? 'P1'}`,
  orderNo: over.outTradeNo ?? 'P1',
  outTradeNo: 'P1',
  provider: 'WECHAT_PAY',
  amount: 1000,
  status: 'PAID',
  tradeNo: 'T1',
  paidAt: time,
  ...over,
})
const refund = (over: Partial<LocalRefund>): LocalRefund => ({
  refundNo: 'R1',
  outTradeNo: 'P1',
  amount: 300,
  status: 'SUCCEEDED',
  refundedAt: time,
  ...over,
})
const run = (rows: BillRow[], attempts: LocalAttempt[], refunds: LocalRefund[] = [], feeRate: number | null = 0.006) =>
  compareBill({
    provider: 'WECHAT_PAY',
    rows,
    attempts,
    refunds,
    paidOnDay: attempts.filter((a) => a.status === 'PAID'),
    refundedOnDay: refunds.filter((r) => r.status === 'SUCCEEDED'),
    feeRate,
  })

t.test('a matching payment and refund: no difference', async (t) => {
  const r = run([row({}), row({ kind: 'REFUND', amount: 300, refundNo: 'R1', fee: -2 })], [attempt({})], [refund({})])
  t.same(r.differences, [])
  t.equal(r.matched, 2)
  t.same(r.unlisted, [])
})

t.test('each class', async (t) => {
  const classes = (r: ReturnType<typeof run>) => r.differences.map((d) => d.class)
  t.same(classes(run([row({ outTradeNo: 'PX' })], [])), ['PROVIDER_ONLY'])
  t.same(classes(run([row({ amount: 999 })], [attempt({})])), ['AMOUNT_MISMATCH'])
  const pending = run([row({})], [attempt({ status: 'PENDING', tradeNo: null, paidAt: null })])
  t.same(classes(pending), ['STATUS_MISMATCH'])
  t.ok(pending.differences[0]!.repairable, 'paid there, pending here, same amount: repairable')
  t.same(
    classes(run([row({ amount: 1200 })], [attempt({ status: 'CLOSED', amount: 1000 })])),
    ['AMOUNT_MISMATCH'],
    'another amount is never repaired',
  )
  t.notOk(run([row({ amount: 1200 })], [attempt({ status: 'CLOSED' })]).differences[0]!.repairable)
  t.same(classes(run([row({ tradeNo: 'T2' })], [attempt({})])), ['STATUS_MISMATCH'], 'another provider trade id')
  t.same(classes(run([row({ fee: 60 })], [attempt({})])), ['FEE_MISMATCH'])
  t.same(classes(run([row({ fee: 60 })], [attempt({})], [], null)), [], 'fees unchecked without a rate')
  t.same(classes(run([row({ fee: 7 })], [attempt({})])), [], 'a fen of rounding is not a difference')
  t.same(classes(run([row({ kind: 'REFUND', amount: 300, refundNo: 'R9' })], [attempt({})])), ['REFUND_MISMATCH'])
  t.same(classes(run([row({ kind: 'REFUND', amount: 200, refundNo: 'R1' })], [attempt({})], [refund({})])), ['REFUND_MISMATCH'])
  t.same(classes(run([row({ kind: 'REFUND', amount: 300, refundNo: 'R1' })], [attempt({})], [refund({ status: 'PENDING' })])), [
    'REFUND_MISMATCH',
  ])
  t.same(classes(run([row({})], [attempt({})], [refund({})])), ['REFUND_MISMATCH'], 'refunded here, not in the bill')
  const unlisted = run([], [attempt({ outTradeNo: 'P7' })])
  t.same(unlisted.differences, [])
  t.same(
    unlisted.unlisted.map((a) => a.outTradeNo),
    ['P7'],
    'paid here, not in the bill: asked of the provider before it is called LOCAL_ONLY',
  )
})

t.test('bill days are calendar days in China time, never in the future', async (t) => {
  const now = new Date('2026-11-22T01:00:00+08:00')
  t.ok(validBillDay('2026-11-22', now))
  t.ok(validBillDay('2026-11-21', now))
  t.notOk(validBillDay('2026-11-23', now))
  t.notOk(validBillDay('2026-02-30', now))
  t.notOk(validBillDay('2026-13-01', now), 'no month 13 (an invalid Date, not a throw)')
  t.notOk(validBillDay('20261121', now))
  t.notOk(validBillDay(20261121, now))
  t.same(dayWindow('2026-11-21').start.toISOString(), '2026-11-20T16:00:00.000Z')
  t.same(dayWindow('2026-11-21').end.toISOString(), '2026-11-21T16:00:00.000Z')
})
