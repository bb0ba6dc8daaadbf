/**
 * WeChat Pay API v3 in the sandbox: `/v3/...` (signed both ways), the H5 entry, the cashier
 * plug-in, the control API, bills, and what the shared plumbing needs to know (notify
 * acknowledgement, retries and per-attempt signing, fault classification).
 */
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import type { DeliveryService } from '../deliveries.ts'
import { tradeRoutes } from '../control.ts'
import type { FaultOperation, SandboxProvider } from '../provider.ts'
import { registerWechatApi, wechatRefusal } from './api.ts'
import { registerWechatBills } from './bills.ts'
import { registerWechatBillControl } from './bill-control.ts'
import { registerH5Routes, wechatCashier } from './cashier.ts'
import { readWechatSandbox, type WechatSandboxConfig } from './config.ts'
import { registerWechatControl, wechatTradeControl } from './control.ts'
import { resignAttempt, wechatAck, wechatScaledSchedule } from './notify.ts'
import { loadWechatKeys, type WechatKeys } from './signing.ts'
import type { RefundStatus } from './trades.ts'
import { registerMiniapp } from './miniapp.ts'

export interface WechatContext {
  config: SandboxConfig
  sql: Sql
  keys: WechatKeys
  deliveries: DeliveryService
  /** What new refunds become (`POST /control/wechat/refund-mode`); SUCCESS unless a test says otherwise. */
  refundMode: { status: RefundStatus }
}

const OPERATIONS: Record<string, FaultOperation> = {
  'POST /v3/pay/transactions/native': 'create',
  'POST /v3/pay/transactions/h5': 'create',
  'POST /v3/pay/transactions/jsapi': 'create',
  'GET /v3/pay/transactions/out-trade-no/:no': 'query',
  'GET /v3/pay/transactions/id/:id': 'query',
  'POST /v3/pay/transactions/out-trade-no/:no/close': 'close',
  'POST /v3/refund/domestic/refunds': 'refund',
  'GET /v3/refund/domestic/refunds/:no': 'refund-query',
}

export const wechat: SandboxProvider<'wechat', WechatSandboxConfig> = {
  name: 'wechat',
  title: '微信支付',
  readConfig: readWechatSandbox,
  // Each attempt is signed anew: the signature carries a timestamp the merchant only accepts for 5 minutes.
  delivery: (config, settings) => ({
    ack: wechatAck,
    schedule: wechatScaledSchedule(config),
    prepare: resignAttempt(loadWechatKeys(settings)),
  }),

  faults: {
    operations: ['create', 'query', 'close', 'refund', 'refund-query'],
    classify(req) {
      const key = `${req.method} ${req.routeUrl}`
      return Object.hasOwn(OPERATIONS, key) ? { operation: OPERATIONS[key]!, apiMethod: key } : null
    },
    unavailable: (reply) =>
      reply
        .header('content-type', 'application/json; charset=utf-8')
        .send(JSON.stringify({ code: 'SYSTEM_ERROR', message: '系统异常，请稍后重试' })),
    // Cut short mid-answer.
    garbage: (reply) => reply.header('content-type', 'application/json; charset=utf-8').send('{"code_url":"weixin://wxpay/bizpayurl?pr='),
  },

  mount(app, { config, settings, sql, deliveries }) {
    const ctx: WechatContext = { config, sql, keys: loadWechatKeys(settings), deliveries, refundMode: { status: 'SUCCESS' } }
    registerWechatApi(app, ctx)
    registerH5Routes(app, ctx)
    registerWechatControl(app, ctx)
    registerMiniapp(app, ctx, settings.miniapp)
    registerWechatBills(app, { config, sql, keys: ctx.keys })
    registerWechatBillControl(app, { sql, mchid: settings.mchId })
    return {
      cashier: wechatCashier(ctx),
      refusal: wechatRefusal(ctx.keys),
      control: tradeRoutes(wechatTradeControl(ctx)),
      bills: {
        faultModes: ['download-error', 'query-error', 'hash-mismatch', 'corrupt', 'bad-signature'],
        tradeExists: async (outTradeNo) =>
          (await sql`select 1 from wechat_trades where mchid = ${settings.mchId} and out_trade_no = ${outTradeNo}`).length > 0,
      },
    }
  },
}
