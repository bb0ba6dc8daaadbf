/**
 * WeChat Pay API v3 in the sandbox: `/v3/...` (signed both ways), the H5 entry, the cashier
 * provider and the control API. app.ts calls `registerWechat` when SANDBOX_WECHAT_* is configured,
 * and wires `wechatDeliveryRules` into the notify worker.
 */
import type { FastifyInstance } from 'fastify'
import type { Sql } from '@paysys/db'
import type { CashierProvider } from '../cashier.ts'
import type { SandboxConfig } from '../config.ts'
import type { DeliveryService } from '../deliveries.ts'
import { registerWechatApi } from './api.ts'
import { registerH5Routes, wechatCashier } from './cashier.ts'
import type { WechatSandboxConfig } from './config.ts'
import { registerWechatControl } from './control.ts'
import { resignAttempt, wechatAck, wechatScaledSchedule } from './notify.ts'
import { loadWechatKeys, type WechatKeys } from './signing.ts'

export interface WechatContext {
  config: SandboxConfig
  sql: Sql
  keys: WechatKeys
  deliveries: DeliveryService
}

/** The notify worker's rules for provider `wechat`: acknowledgement, retry schedule, per-attempt signing. */
export function wechatDeliveryRules(config: SandboxConfig & { wechat: WechatSandboxConfig }) {
  const keys = loadWechatKeys(config.wechat)
  return { ack: wechatAck, schedule: wechatScaledSchedule(config), prepare: resignAttempt(keys) }
}

/** Registers the routes; returns the cashier provider (payment ids `wx_…`). */
export function registerWechat(
  app: FastifyInstance,
  deps: { config: SandboxConfig & { wechat: WechatSandboxConfig }; sql: Sql; deliveries: DeliveryService },
): CashierProvider {
  const ctx: WechatContext = { config: deps.config, sql: deps.sql, keys: loadWechatKeys(deps.config.wechat), deliveries: deps.deliveries }
  registerWechatApi(app, ctx)
  registerH5Routes(app, ctx)
  registerWechatControl(app, ctx)
  return wechatCashier(ctx)
}
