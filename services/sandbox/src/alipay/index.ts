/**
 * Alipay in the sandbox: the openapi gateway `/gateway.do`, QR codes, the cashier plug-in, the
 * control API, bills, and what the shared plumbing needs to know (notify acknowledgement and
 * retries, fault classification).
 */
import { tradeRoutes } from '../control.ts'
import type { SandboxProvider } from '../provider.ts'
import { alipayCashier, registerQrRoutes } from './cashier.ts'
import { readAlipaySandbox, type AlipaySandboxConfig } from './config.ts'
import { alipayTradeControl, registerAlipayControl } from './control.ts'
import { registerAlipayBills } from './bills.ts'
import { registerGateway, responseKey, type AlipayContext } from './gateway.ts'
import { alipayAck, scaledSchedule } from './notify.ts'
import { loadKeys, signedResponseText } from './signing.ts'
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { expireDue } from './trades.ts'

const OPERATIONS = {
  'alipay.trade.precreate': 'create',
  'alipay.trade.page.pay': 'create',
  'alipay.trade.wap.pay': 'create',
  'alipay.trade.query': 'query',
  'alipay.trade.close': 'close',
  'alipay.trade.refund': 'refund',
  'alipay.trade.fastpay.refund.query': 'refund',
} as const

const platformKeys = new Map<string, KeyObject>()
const platformKey = (settings: AlipaySandboxConfig): KeyObject => {
  let key = platformKeys.get(settings.platformPrivateKey)
  if (!key) platformKeys.set(settings.platformPrivateKey, (key = createPrivateKey(settings.platformPrivateKey)))
  return key
}

const field = (source: unknown, key: string): unknown =>
  source && typeof source === 'object' && !Array.isArray(source) ? (source as Record<string, unknown>)[key] : undefined

export const alipay: SandboxProvider<'alipay', AlipaySandboxConfig> = {
  name: 'alipay',
  title: '支付宝',
  readConfig: readAlipaySandbox,
  delivery: (config) => ({ ack: alipayAck, schedule: scaledSchedule(config) }),

  faults: {
    operations: ['create', 'query', 'close', 'refund'],
    classify(req) {
      if (req.routeUrl !== '/gateway.do') return null
      const method = field(req.query, 'method') ?? field(req.body, 'method')
      if (typeof method !== 'string' || !Object.hasOwn(OPERATIONS, method)) return null
      return { operation: OPERATIONS[method as keyof typeof OPERATIONS], apiMethod: method }
    },
    unavailable: (reply) =>
      reply.header('content-type', 'application/json;charset=utf-8').send(
        JSON.stringify({
          error_response: { code: '20000', msg: 'Service Currently Unavailable', sub_code: 'isp.unknow-error', sub_msg: '系统繁忙' },
        }),
      ),
    // How Alipay reports an outage: HTTP 200, its normal signed envelope, code 20000 (isp.unknow-error on
    // a create, ACQ.SYSTEM_ERROR on the trade's later calls).
    busy: (reply, call, settings) =>
      reply.header('content-type', 'application/json;charset=utf-8').send(
        signedResponseText(
          responseKey(call.apiMethod),
          {
            code: '20000',
            msg: 'Service Currently Unavailable',
            sub_code: call.operation === 'create' ? 'isp.unknow-error' : 'ACQ.SYSTEM_ERROR',
            sub_msg: '系统繁忙',
          },
          platformKey(settings),
        ),
      ),
    // Cut short mid-answer.
    garbage: (reply, call) =>
      reply
        .header('content-type', 'application/json;charset=utf-8')
        .send(`{"${call.apiMethod.replace(/\./g, '_')}_response":{"code":"10000","msg":"Succ`),
  },

  mount(app, { config, settings, sql, deliveries }) {
    const ctx: AlipayContext = {
      config,
      alipay: settings,
      sql,
      keys: loadKeys(settings.merchantPublicKey, settings.platformPrivateKey),
      deliveries,
    }
    registerGateway(app, ctx)
    registerQrRoutes(app, ctx)
    registerAlipayControl(app, ctx)
    registerAlipayBills(app, sql)
    let lastExpirySweep = 0
    return {
      cashier: alipayCashier(ctx),
      control: tradeRoutes(alipayTradeControl(ctx)),
      // Close unpaid trades past their time_expire, at most once a second.
      onTick: async () => {
        if (Date.now() - lastExpirySweep < 1000) return
        lastExpirySweep = Date.now()
        await expireDue(sql)
      },
      bills: {
        faultModes: ['download-error', 'query-error', 'corrupt', 'bad-signature'],
        tradeExists: async (outTradeNo) =>
          (await sql`select 1 from alipay_trades where app_id = ${settings.appId} and out_trade_no = ${outTradeNo}`).length > 0,
      },
    }
  },
}
