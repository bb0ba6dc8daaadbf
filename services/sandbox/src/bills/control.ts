/**
 * Bill control API for tests (JSON; errors in the common envelope), for every enabled provider with bills:
 * - `POST /control/{provider}/trades/{outTradeNo}/bill-amount {amount: fen | null}` — the trade's
 *   payment row in later bills shows `amount` instead of the real one (null: the real one again);
 *   the trade itself is unchanged.
 * - `POST /control/bills/faults {provider, mode}` and `GET /control/bills/faults` — see store.ts.
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { MAX_TRADE_FEN } from '../util.ts'
import { bad, objectBody } from '../control-input.ts'
import type { MountedProvider } from '../provider.ts'
import { faultOf, setAmountOverride, setFault, type FaultMode } from './store.ts'

export type BillingProvider = { name: string; bills: NonNullable<MountedProvider['bills']> }

export function registerBillControl(app: FastifyInstance, sql: Sql, providers: readonly BillingProvider[]) {
  if (providers.length === 0) return
  const names = providers.map((p) => p.name)

  for (const { name, bills } of providers) {
    app.post<{ Params: { outTradeNo: string } }>(`/control/${name}/trades/:outTradeNo/bill-amount`, async (req) => {
      const b = objectBody(req.body)
      const amount = b.amount
      if (amount !== null && (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > MAX_TRADE_FEN))
        throw bad(`amount 必须是 1～${MAX_TRADE_FEN} 的整数（分），或 null 恢复真实金额`)
      // The trade must exist (any state): a typo in a test should not pass silently.
      const outTradeNo = req.params.outTradeNo
      if (!/^[A-Za-z0-9_.\-|*]{1,64}$/.test(outTradeNo) || !(await bills.tradeExists(outTradeNo)))
        throw new AppError(404, 'NOT_FOUND', '交易不存在')
      await setAmountOverride(sql, name, outTradeNo, amount)
      return { provider: name, outTradeNo, billAmount: amount }
    })
  }

  app.post('/control/bills/faults', async (req) => {
    const b = objectBody(req.body)
    const provider = providers.find((p) => p.name === b.provider)
    if (!provider) throw bad(`provider 必须是 ${names.join(' 或 ')}`)
    const modes: readonly string[] = ['none', ...provider.bills.faultModes]
    if (!modes.includes(b.mode as string)) throw bad(`mode 必须是 ${modes.join(', ')} 之一（${provider.name}）`)
    const mode = b.mode as FaultMode
    await setFault(sql, provider.name, mode)
    return { provider: provider.name, mode }
  })

  app.get('/control/bills/faults', async () =>
    Object.fromEntries(await Promise.all(names.map(async (p) => [p, await faultOf(sql, p)] as const))),
  )
}
