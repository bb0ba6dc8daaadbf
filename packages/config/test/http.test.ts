import t from 'tap'
import { ConfigError, createEnvReader } from '../src/index.ts'

const http = (env: Record<string, string>) => {
  const r = createEnvReader(env)
  const value = r.http()
  return { value, problems: r.problems }
}

t.test('TRUST_PROXY: off by default, true, a hop count, or addresses and CIDRs', async (t) => {
  t.same(http({}), { value: { trustProxy: false, hstsMaxAge: 0 }, problems: [] })
  for (const off of ['false', 'no', 'OFF', '0']) t.equal(http({ TRUST_PROXY: off }).value.trustProxy, false, off)
  for (const on of ['true', 'yes', 'On']) t.equal(http({ TRUST_PROXY: on }).value.trustProxy, true, on)
  t.equal(http({ TRUST_PROXY: '2' }).value.trustProxy, 2)
  t.same(http({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,fd00::/8, ::1, loopback,uniquelocal' }), {
    value: { trustProxy: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'loopback', 'uniquelocal'], hstsMaxAge: 0 },
    problems: [],
  })
})

t.test('TRUST_PROXY: anything else is refused by name', async (t) => {
  for (const bad of ['10.0.0.0/33', '10.0.0', 'example.com', '10.0.0.0/8,', '::1/129', '1.2.3.4/8/1', '*', '99']) {
    const { value, problems } = http({ TRUST_PROXY: bad })
    t.equal(value.trustProxy, false, `${bad}: nothing trusted`)
    t.match(problems, [/^TRUST_PROXY/], bad)
  }
})

t.test('HSTS_MAX_AGE: seconds, at most two years', async (t) => {
  t.equal(http({ HSTS_MAX_AGE: '31536000' }).value.hstsMaxAge, 31_536_000)
  t.match(http({ HSTS_MAX_AGE: '-1' }).problems, [/HSTS_MAX_AGE must be an integer/])
  t.match(http({ HSTS_MAX_AGE: '63072001' }).problems, [/HSTS_MAX_AGE/])
  const r = createEnvReader({ TRUST_PROXY: 'proxy.internal' })
  t.throws(() => r.done({ http: r.http() }), ConfigError)
})
