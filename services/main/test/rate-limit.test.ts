import t from 'tap'
import { startMain } from './helpers.ts'

const main = await startMain({ RATE_LIMIT_AUTH_PER_MINUTE: '5', RATE_LIMIT_ORDERS_PER_MINUTE: '3' })
t.teardown(() => main.close())
const { app, sql } = main

t.test('login is limited per client IP: the 6th attempt in a minute is a 429 RATE_LIMITED', async (t) => {
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'nobody@example.com', password: 'password123' },
    })
    statuses.push(res.statusCode)
    if (res.statusCode === 429) {
      t.match(res.json(), { code: 429, error: 'RATE_LIMITED', data: null })
      t.ok(res.headers['retry-after'], 'says when to retry')
    }
  }
  t.same(statuses, [401, 401, 401, 401, 401, 429])
  // Another client is not affected.
  const other = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    remoteAddress: '10.9.8.7',
    payload: { email: 'nobody@example.com', password: 'password123' },
  })
  t.equal(other.statusCode, 401)
})

t.test('order creation is limited and a limited request writes nothing', async (t) => {
  const payload = { packageCode: 'CREDITS_200', paymentMethod: 'ALIPAY', customerEmail: 'guest@example.com' }
  const statuses: number[] = []
  for (let i = 0; i < 4; i++)
    statuses.push((await app.inject({ method: 'POST', url: '/api/credits/purchase', payload, remoteAddress: '10.1.1.1' })).statusCode)
  t.equal(statuses[3], 429)
  const before = await sql`select count(*)::int as n from users`
  t.equal((await app.inject({ method: 'POST', url: '/api/credits/purchase', payload, remoteAddress: '10.1.1.1' })).statusCode, 429)
  t.same(await sql`select count(*)::int as n from users`, before)
})
