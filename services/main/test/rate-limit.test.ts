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

/** `count` login attempts from one TCP peer, each claiming another client in X-Forwarded-For (or the same one). */
async function loginsWithForwardedFor(target: typeof app, remoteAddress: string, count: number, forwardedFor: (i: number) => string) {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) {
    const res = await target.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress,
      headers: { 'x-forwarded-for': forwardedFor(i) },
      payload: { email: 'nobody@example.com', password: 'password123' },
    })
    statuses.push(res.statusCode)
  }
  return statuses
}

t.test('TRUST_PROXY unset: a rotating X-Forwarded-For does not reset the login limit of the peer', async (t) => {
  t.same(main.config.http.trustProxy, false)
  const statuses = await loginsWithForwardedFor(app, '10.2.2.2', 6, (i) => `198.51.100.${i + 1}`)
  t.same(statuses, [401, 401, 401, 401, 401, 429])
})

t.test('TRUST_PROXY=true: X-Forwarded-For names the client the limit counts', async (t) => {
  const proxied = await startMain({ RATE_LIMIT_AUTH_PER_MINUTE: '5', TRUST_PROXY: 'true' })
  t.teardown(() => proxied.close())
  t.same(proxied.config.http.trustProxy, true)
  // One proxy, seven clients behind it: nobody is limited.
  t.same(await loginsWithForwardedFor(proxied.app, '10.3.3.3', 7, (i) => `198.51.100.${i + 1}`), [401, 401, 401, 401, 401, 401, 401])
  // One client behind it, six attempts: the sixth is limited, whichever proxy it came through.
  const sameClient = await loginsWithForwardedFor(proxied.app, '10.3.3.3', 5, () => '203.0.113.7')
  sameClient.push(...(await loginsWithForwardedFor(proxied.app, '10.4.4.4', 1, () => '203.0.113.7')))
  t.same(sameClient, [401, 401, 401, 401, 401, 429])
})
