/**
 * What recording a notified payment guarantees, in one small file (the mutation run, `pnpm test:mutants`, plants
 * bugs in pay's recordPayment and expects this file to fail): the amount must be the attempt's, and the event is
 * written in the payment's own transaction.
 */
import t from 'tap'
import { paidFixture, postNotify, setupPay, signedNotifyBody } from './helpers.ts'

t.test('a validly signed notify with another amount records nothing; the right amount then records one event', async (t) => {
  const pay = await setupPay(t)
  const { req, paymentId, params, body } = await paidFixture(pay)
  for (const amount of ['0.01', ((req.amount + 1) / 100).toFixed(2)]) {
    const res = await postNotify(pay.app, signedNotifyBody({ ...params, total_amount: amount }, pay.keys.alipay.platformPrivateKey))
    t.equal(res.body, 'failure', `total_amount ${amount} refused`)
    const [log] = await pay.sql`select verdict, reason from notify_log order by id desc limit 1`
    t.match(log, { verdict: 'REJECTED', reason: 'AMOUNT_MISMATCH' })
  }
  t.match((await pay.sql`select status, trade_no from payment_attempts where id = ${paymentId}`)[0], { status: 'PENDING', trade_no: null })
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 0, 'no event')
  t.equal((await postNotify(pay.app, body)).body, 'success', 'the right amount is recorded')
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 1, 'one event')
})

t.test("the event is written in the payment's own transaction: no outbox row, no recorded payment", async (t) => {
  const pay = await setupPay(t)
  const { paymentId, params, body } = await paidFixture(pay)
  // The outbox refuses every row, as a full disk or a lost connection would at that moment.
  await pay.sql.unsafe(`
    create function refuse_outbox() returns trigger language plpgsql as $$ begin raise exception 'outbox refused'; end $$;
    create trigger refuse_outbox before insert on outbox for each row execute function refuse_outbox();`)
  const refused = await postNotify(pay.app, body)
  t.equal(refused.statusCode, 503, 'the provider is asked to send it again')
  t.equal(refused.body, 'failure')
  t.match(
    (await pay.sql`select status, trade_no from payment_attempts where id = ${paymentId}`)[0],
    { status: 'PENDING', trade_no: null },
    'the payment was not recorded without its event',
  )
  t.equal((await pay.sql`select count(*)::int as n from outbox`)[0]!.n, 0)

  // The provider's next attempt, once the outbox takes rows again: recorded, with its one event.
  await pay.sql.unsafe('drop trigger refuse_outbox on outbox')
  const again = await postNotify(pay.app, body)
  t.equal(again.body, 'success')
  t.match((await pay.sql`select status, trade_no from payment_attempts where id = ${paymentId}`)[0], {
    status: 'PAID',
    trade_no: params.trade_no,
  })
  t.equal((await pay.sql`select count(*)::int as n from outbox where payment_attempt_id = ${paymentId}`)[0]!.n, 1, 'one event')
})
