/**
 * Provider bills (对账单) in the sandbox: Alipay's bill download-URL method (dispatched from
 * ../alipay/methods.ts) and download link, WeChat Pay's /v3/bill/tradebill and download link, and
 * the bill control API. app.ts calls `registerBills` once, after the providers.
 */
import type { FastifyInstance } from 'fastify'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import { loadWechatKeys } from '../wechat/signing.ts'
import { registerAlipayBills } from './alipay.ts'
import { registerBillControl } from './control.ts'
import { registerWechatBills } from './wechat.ts'
import { registerWechatBillControl } from './wechat-control.ts'

export function registerBills(app: FastifyInstance, config: SandboxConfig, sql: Sql) {
  if (config.alipay) registerAlipayBills(app, sql)
  if (config.wechat) registerWechatBills(app, { config, sql, keys: loadWechatKeys(config.wechat) })
  if (config.alipay || config.wechat) registerBillControl(app, { config, sql })
  if (config.wechat) registerWechatBillControl(app, { config, sql })
}
