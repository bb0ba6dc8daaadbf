import t from 'tap'
import postgres from 'postgres'
import { createApp, databaseUnavailable } from '../src/index.ts'

t.test('a database that cannot take the work is a 503 the caller retries; other failures stay 500', async (t) => {
  const a = createApp({ name: 'test', logLevel: 'silent' })
  const fail = (code: string) => Object.assign(new Error(`failed with ${code}`), { code })
  for (const code of ['53300', '08006', '57P01', 'ECONNREFUSED', 'CONNECTION_CLOSED', '23505', '42P01'])
    a.get(`/fail/${code}`, async () => {
      throw fail(code)
    })
  await a.ready()
  t.teardown(() => a.close())
  for (const code of ['53300', '08006', '57P01', 'ECONNREFUSED', 'CONNECTION_CLOSED']) {
    const res = await a.inject(`/fail/${code}`)
    t.equal(res.statusCode, 503, code)
    t.equal(res.json().error, 'SERVICE_UNAVAILABLE', code)
    t.equal(res.headers['retry-after'], '1', code)
  }
  for (const code of ['23505', '42P01']) {
    const res = await a.inject(`/fail/${code}`)
    t.equal(res.statusCode, 500, `${code} is a bug, not an outage`)
    t.equal(res.json().error, 'INTERNAL_ERROR')
  }
  t.notOk(databaseUnavailable(null))
  t.notOk(databaseUnavailable({ code: 5 }))
})

t.test('a real refused connection from postgres.js is recognised', async (t) => {
  const sql = postgres('postgres://nobody@127.0.0.1:9/none', { max: 1, connect_timeout: 2, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  const err = await sql`select 1`.then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(databaseUnavailable(err), String((err as { code?: string })?.code))
})
