import t from 'tap'
import { parseYuan, fenToYuanString, fenToYuanNumber, MAX_FEN, multiplyFen } from '../src/index.ts'

t.test('parseYuan converts yuan to integer fen without float error', async (t) => {
  t.equal(parseYuan(25), 2500)
  t.equal(parseYuan(9.9), 990)
  t.equal(parseYuan('0.03'), 3)
  t.equal(parseYuan('25.50'), 2550)
  t.equal(parseYuan(0), 0)
  t.equal(parseYuan('1000000'), MAX_FEN)
})

t.test('parseYuan rejects everything that is not a sane amount', async (t) => {
  for (const bad of [-1, '-0.01', 1.234, '1.234', NaN, Infinity, '1e3', '', ' ', 'abc', '01', 0.1 + 0.2, '1000000.01', '0x10'] as const) {
    t.throws(() => parseYuan(bad as number | string), `rejects ${String(bad)}`)
  }
  t.throws(() => parseYuan(null as unknown as number))
})

t.test('fen to yuan for display and providers', async (t) => {
  t.equal(fenToYuanString(2500), '25.00')
  t.equal(fenToYuanString(3), '0.03')
  t.equal(fenToYuanString(990), '9.90')
  t.equal(fenToYuanNumber(990), 9.9)
  t.equal(fenToYuanNumber(1500), 15)
  t.throws(() => fenToYuanString(1.5))
  t.equal(multiplyFen(990, 3), 2970)
  t.throws(() => multiplyFen(MAX_FEN, 2))
})
