/**
 * Bill control API for tests (JSON; errors in the common envelope):
 * - `POST /control/{alipay|wechat}/trades/{outTradeNo}/bill-amount {amount: fen | null}` — the trade's
 *   payment row in later bills shows `amount` instead of the real one (null: the real one again);
 *   the trade itself is unchanged.
 * - `POST /control/bills/faults {provider, mode}` and `GET /control/bills/faults` — see FAULT_MODES.
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import { MAX_TRADE_FEN } from '../util.ts'
import { bad, objectBody } from '../control-input.ts'
import { BILL_PROVIDERS, FAULT_MODES, faultOf, setAmountOverride, setFault, type BillProvider, type FaultMode } from './store.ts'

export function registerBillControl(app: FastifyInstance, deps: { config: SandboxConfig; sql: Sql }) {
  const { config, sql } = deps
  const enabled = BILL_PROVIDERS.filter((p) => config[p] !== null)

  /** The trade must exist (any state): a typo in a test should not pass silently. */
  const tradeExists = async (provider: BillProvider, outTradeNo: string): Promise<boolean> => {
    if (!/^[A-Za-z0-9_.\-|*]{1,64}$/.test(outTradeNo)) return false
    const rows =
      provider === 'alipay'
        ? await sql`select 1 from alipay_trades where app_id = ${config.alipay!.appId} and out_trade_no = ${outTradeNo}`
        : await sql`select 1 from wechat_trades where mchid = ${config.wechat!.mchId} and out_trade_no = ${outTradeNo}`
    return rows.length > 0
  }

  for (const provider of enabled) {
    app.post<{ Params: { outTradeNo: string } }>(`/control/${provider}/trades/:outTradeNo/bill-amount`, async (req) => {
      const b = objectBody(req.body)
      const amount = b.amount
      if (amount !== null && (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > MAX_TRADE_FEN))
        throw bad(`amount 必须是 1～${MAX_TRADE_FEN} 的整数（分），或 null 恢复真实金额`)
      if (!(await tradeExists(provider, req.params.outTradeNo))) throw new AppError(404, 'NOT_FOUND', '交易不存在')
      await setAmountOverride(sql, provider, req.params.outTradeNo, amount)
      return { provider, outTradeNo: req.params.outTradeNo, billAmount: amount }
    })
  }

  app.post('/control/bills/faults', async (req) => {
    const b = objectBody(req.body)
    if (!enabled.includes(b.provider as BillProvider)) throw bad(`provider 必须是 ${enabled.join(' 或 ')}`)
    if (!FAULT_MODES.includes(b.mode as FaultMode)) throw bad(`mode 必须是 ${FAULT_MODES.join(', ')} 之一`)
    const provider = b.provider as BillProvider
    const mode = b.mode as FaultMode
    if (mode === 'hash-mismatch' && provider !== 'wechat') throw bad('hash-mismatch 只适用于 wechat（支付宝账单没有哈希值）')
    await setFault(sql, provider, mode)
    return { provider, mode }
  })

  app.get('/control/bills/faults', async () =>
    Object.fromEntries(await Promise.all(enabled.map(async (p) => [p, await faultOf(sql, p)] as const))),
  )
}
