/**
 * `/api/admin/events*` against a real pay process (its own database, signed calls over HTTP): dead
 * events listed, one resent, the refusals passed through (404, 409), bad input stopped in main (400),
 * admins only, and pay down answered 503.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { connect } from '@paysys/db'
import { createTestDatabase, freePort, startService } from '@paysys/devkit'
import { bearer, registerAdmin, registerUser, SERVICE_KEY, startMain } from './helpers.ts'

t.test('admins list dead events and resend them through pay; pay down is a 503', async (t) => {
  const payDb = await createTestDatabase('evpay')
  t.teardown(() => payDb.drop())
  const pay = await startService('pay', {
    PORT: String(await freePort()),
    DATABASE_URL: payDb.url,
    SERVICE_KEYS: `${SERVICE_KEY.id}:${SERVICE_KEY.secret}`,
    MAIN_URL: `http://127.0.0.1:${await freePort()}`,
    LOG_LEVEL: 'warn',
    // Nothing is delivered: the resent event stays PENDING where the test can see it.
    OUTBOX_PUSH_ENABLED: 'false',
    STALE_ATTEMPT_SWEEP_SECONDS: '0',
    RECONCILE_JOBS_ENABLED: 'false',
  })
  t.teardown(() => pay.stop())
  const paySql = connect(payDb.url, { max: 2 })
  t.teardown(() => paySql.end({ timeout: 5 }))

  const main = await startMain({ PAY_URL: pay.url })
  t.teardown(() => main.close())
  const admin = await registerAdmin(main.app, main.sql, 'events-admin@example.com')
  const user = await registerUser(main.app, 'events-user@example.com')
  const call = (method: 'GET' | 'POST', url: string, token?: string) =>
    main.app.inject({ method, url, headers: token ? bearer(token) : {}, ...(method === 'POST' ? { payload: {} } : {}) })

  const dead = randomUUID()
  const delivered = randomUUID()
  const event = (eventId: string, orderNo: string) => paySql.json({ eventId, type: 'PAYMENT_SUCCEEDED', orderNo, amount: 1000 })
  await paySql`
    insert into outbox (event_id, event_type, payload, status, attempts, last_error, created_at)
    values (${dead}, 'PAYMENT_SUCCEEDED', ${event(dead, 'P20240501000000DEAD0001')}, 'DEAD', 9, 'HTTP 503: main down', now() - interval '25 hours')`
  await paySql`
    insert into outbox (event_id, event_type, payload, status, attempts, delivered_at)
    values (${delivered}, 'PAYMENT_SUCCEEDED', ${event(delivered, 'P20240501000000DONE0001')}, 'DELIVERED', 1, now())`

  t.equal((await call('GET', '/api/admin/events')).statusCode, 401)
  t.equal((await call('GET', '/api/admin/events', user.token)).statusCode, 403)
  t.equal((await call('POST', `/api/admin/events/${dead}/resend`, user.token)).statusCode, 403)

  const list = await call('GET', '/api/admin/events?status=DEAD', admin.token)
  t.equal(list.statusCode, 200, list.body)
  t.match(list.json().data, {
    totalElements: 1,
    content: [{ eventId: dead, status: 'DEAD', orderNo: 'P20240501000000DEAD0001', attempts: 9, lastError: 'HTTP 503: main down' }],
  })
  const page = (await call('GET', '/api/admin/events?limit=1&offset=0', admin.token)).json().data
  t.match(page, { totalElements: 2, limit: 1, offset: 0, content: [{ eventId: delivered }] }, 'newest first')
  for (const bad of ['status=LOST', 'limit=0', 'limit=101', 'offset=-1', 'foo=1']) {
    const res = await call('GET', `/api/admin/events?${bad}`, admin.token)
    t.equal(res.statusCode, 400, bad)
    t.equal(res.json().error, 'INVALID_PARAMS')
  }

  const unknown = await call('POST', `/api/admin/events/${randomUUID()}/resend`, admin.token)
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'NOT_FOUND')
  t.equal((await call('POST', '/api/admin/events/not-a-uuid/resend', admin.token)).statusCode, 400)
  const notDead = await call('POST', `/api/admin/events/${delivered}/resend`, admin.token)
  t.equal(notDead.statusCode, 409)
  t.equal(notDead.json().error, 'CONFLICT')

  const resent = await call('POST', `/api/admin/events/${dead}/resend`, admin.token)
  t.equal(resent.statusCode, 200, resent.body)
  t.match(resent.json().data, { eventId: dead, status: 'PENDING', attempts: 9 })
  const [row] =
    await paySql`select status, attempts, resent_at is not null as resent, next_attempt_at <= now() as due from outbox where event_id = ${dead}`
  t.match(row, { status: 'PENDING', attempts: 9, resent: true, due: true })
  t.equal((await call('POST', `/api/admin/events/${dead}/resend`, admin.token)).statusCode, 409, 'resent once')
  t.equal((await call('GET', '/api/admin/events?status=DEAD', admin.token)).json().data.totalElements, 0)

  // Pay down (another main whose PAY_URL has nothing behind it): 503, nothing else.
  const alone = await startMain()
  t.teardown(() => alone.close())
  const other = await registerAdmin(alone.app, alone.sql, 'events-admin2@example.com')
  const down = await alone.app.inject({ method: 'GET', url: '/api/admin/events?status=DEAD', headers: bearer(other.token) })
  t.equal(down.statusCode, 503)
  t.equal(down.json().error, 'PAY_SERVICE_UNAVAILABLE')
  const downResend = await alone.app.inject({
    method: 'POST',
    url: `/api/admin/events/${dead}/resend`,
    headers: bearer(other.token),
    payload: {},
  })
  t.equal(downResend.statusCode, 503)
})
