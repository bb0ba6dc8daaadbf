/** REFUND_RETRY_AFTER_SECONDS: how old a PENDING provider refund must be before the refunds-retry job resends it. */
import t from 'tap'
import { newOrderNo } from '../src/orders/order-no.ts'
import { loadConfig } from '../src/config.ts'
import { startMain } from './helpers.ts'

async function pendingRefund(sql: Awaited<ReturnType<typeof startMain>>['sql'], ageSeconds: number) {
  const [u] = await sql`insert into users (email, password_hash) values (${`r${Date.now()}${Math.random()}@example.com`}, 'x') returning id`
  const [p] = await sql`select id from products where package_code = 'CREDITS_500'`
  const [o] = await sql`
    insert into orders (order_no, user_id, product_id, kind, package_code, product_name, credits, amount_fen, expire_at, customer_email, status)
    values (${newOrderNo()}, ${u!.id}, ${p!.id}, 'credits', 'CREDITS_500', '标准套餐', 500, 2500, now() + interval '30 minutes', 'x@example.com', 'PAID')
    returning id`
  await sql`
    insert into refunds (refund_no, order_id, user_id, amount_fen, via, created_at)
    values (${`RF${Date.now()}${Math.floor(Math.random() * 1e6)}`}, ${o!.id}, ${u!.id}, 2500, 'PROVIDER', now() - make_interval(secs => ${ageSeconds}))`
}

t.test('the default leaves a refund younger than 30 s to its request; REFUND_RETRY_AFTER_SECONDS=5 resends a 10 s old one', async (t) => {
  const byDefault = await startMain()
  t.teardown(() => byDefault.close())
  t.equal(byDefault.config.refundRetryAfterSeconds, 30)
  await pendingRefund(byDefault.sql, 10)
  t.equal((await byDefault.app.deps.sweeper.runOnce()).refundsRetried, 0, '10 s old: not yet')

  const quick = await startMain({ REFUND_RETRY_AFTER_SECONDS: '5' })
  t.teardown(() => quick.close())
  await pendingRefund(quick.sql, 10)
  // pay is down in this harness: the resend fails and the refund stays PENDING for the next run.
  t.equal((await quick.app.deps.sweeper.runOnce()).refundsRetried, 1, '10 s old: resent')
  const [r] = await quick.sql`select status from refunds`
  t.equal(r!.status, 'PENDING', 'an unreachable pay leaves it pending, not failed')
})

t.test('a bad REFUND_RETRY_AFTER_SECONDS stops start-up with a clear message', async (t) => {
  const env = {
    DATABASE_URL: 'postgres://x@127.0.0.1/x',
    JWT_SECRET: 'a-test-jwt-secret-that-is-long-enough-123',
    SERVICE_KEYS: 'k1:0123456789abcdef0123456789abcdef',
  }
  t.throws(() => loadConfig({ ...env, REFUND_RETRY_AFTER_SECONDS: '-1' }), /REFUND_RETRY_AFTER_SECONDS/)
  t.throws(() => loadConfig({ ...env, REFUND_RETRY_AFTER_SECONDS: 'soon' }), /REFUND_RETRY_AFTER_SECONDS/)
  t.equal(loadConfig({ ...env, REFUND_RETRY_AFTER_SECONDS: '0' }).refundRetryAfterSeconds, 0)
})
