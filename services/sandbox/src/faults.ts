/**
 * Provider API faults for chaos tests, in memory (the sandbox is one process; a restart clears them):
 * - `POST /control/faults {provider, operation, mode, delayMs?}` sets (mode `none`: clears) the fault of
 *   one provider's operation, or of every enabled one (`all`); answers the current list.
 * - `GET /control/faults` → `{faults: [{provider, operation, mode, delayMs, hits}]}`; `DELETE /control/faults` clears all.
 *
 * A preHandler hook recognises the merchant API calls (never the cashier, the browser pages, bills or
 * the control API) and applies the fault before the real handler runs:
 * - `slow`: waits `delayMs` (default 2000), then answers normally;
 * - `timeout`: holds the request `delayMs` (default 30000, far above any client timeout), then closes
 *   the socket without answering; nothing is done at the provider;
 * - `5xx`: HTTP 503 with a provider-ish error body; `garbage`: HTTP 200 with a truncated, non-JSON body.
 */
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SandboxConfig } from './config.ts'
import { bad, objectBody, optInt } from './control-input.ts'

export const FAULT_PROVIDERS = ['alipay', 'wechat', 'epay'] as const
export type FaultProvider = (typeof FAULT_PROVIDERS)[number]
export const FAULT_OPERATIONS = ['create', 'query', 'close', 'refund'] as const
export type FaultOperation = (typeof FAULT_OPERATIONS)[number]
export const PROVIDER_FAULT_MODES = ['none', 'slow', 'timeout', '5xx', 'garbage'] as const
export type ProviderFaultMode = (typeof PROVIDER_FAULT_MODES)[number]

export interface ProviderFault {
  provider: FaultProvider
  operation: FaultOperation
  mode: Exclude<ProviderFaultMode, 'none'>
  delayMs: number
  /** Requests this fault has hit since it was set. */
  hits: number
}

const DEFAULT_DELAY_MS = { slow: 2000, timeout: 30_000 } as const
const MAX_DELAY_MS = 600_000

/** Epay has no close API: `operation: close` does not apply to it. */
const operationsOf = (provider: FaultProvider): readonly FaultOperation[] =>
  provider === 'epay' ? FAULT_OPERATIONS.filter((o) => o !== 'close') : FAULT_OPERATIONS

const ALIPAY_OPERATIONS: Record<string, FaultOperation> = {
  'alipay.trade.precreate': 'create',
  'alipay.trade.page.pay': 'create',
  'alipay.trade.wap.pay': 'create',
  'alipay.trade.query': 'query',
  'alipay.trade.close': 'close',
  'alipay.trade.refund': 'refund',
  'alipay.trade.fastpay.refund.query': 'refund',
}

const WECHAT_OPERATIONS: Record<string, FaultOperation> = {
  'POST /v3/pay/transactions/native': 'create',
  'POST /v3/pay/transactions/h5': 'create',
  'POST /v3/pay/transactions/jsapi': 'create',
  'GET /v3/pay/transactions/out-trade-no/:no': 'query',
  'GET /v3/pay/transactions/id/:id': 'query',
  'POST /v3/pay/transactions/out-trade-no/:no/close': 'close',
  'POST /v3/refund/domestic/refunds': 'refund',
  'GET /v3/refund/domestic/refunds/:no': 'refund',
}

const field = (source: unknown, key: string): unknown =>
  source && typeof source === 'object' && !Array.isArray(source) ? (source as Record<string, unknown>)[key] : undefined

/** The provider API call a request is, by its route; null for everything else. */
export function classifyRequest(req: Pick<FastifyRequest, 'method' | 'query' | 'body'> & { routeUrl: string | undefined }) {
  const route = req.routeUrl
  if (route === '/gateway.do') {
    const method = field(req.query, 'method') ?? field(req.body, 'method')
    const operation = typeof method === 'string' && Object.hasOwn(ALIPAY_OPERATIONS, method) ? ALIPAY_OPERATIONS[method]! : null
    return operation ? { provider: 'alipay' as const, operation, apiMethod: method as string } : null
  }
  if (route === '/mapi.php') return { provider: 'epay' as const, operation: 'create' as const, apiMethod: 'mapi' }
  if (route === '/api.php') {
    const act = field(req.query, 'act')
    if (act === 'order') return { provider: 'epay' as const, operation: 'query' as const, apiMethod: 'order' }
    if (act === 'refund') return { provider: 'epay' as const, operation: 'refund' as const, apiMethod: 'refund' }
    return null
  }
  const key = `${req.method} ${route}`
  if (Object.hasOwn(WECHAT_OPERATIONS, key)) return { provider: 'wechat' as const, operation: WECHAT_OPERATIONS[key]!, apiMethod: key }
  return null
}

type Call = NonNullable<ReturnType<typeof classifyRequest>>

/** 503 bodies as the providers' front ends would answer them. */
function send5xx(reply: FastifyReply, call: Call) {
  reply.status(503)
  switch (call.provider) {
    case 'alipay':
      return reply.header('content-type', 'application/json;charset=utf-8').send(
        JSON.stringify({
          error_response: { code: '20000', msg: 'Service Currently Unavailable', sub_code: 'isp.unknow-error', sub_msg: '系统繁忙' },
        }),
      )
    case 'wechat':
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .send(JSON.stringify({ code: 'SYSTEM_ERROR', message: '系统异常，请稍后重试' }))
    case 'epay':
      return reply
        .header('content-type', 'text/html')
        .send(
          '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
        )
  }
}

/** 200 with a body no JSON parser accepts: cut short mid-answer (Alipay, WeChat) or a PHP error (Epay). */
function sendGarbage(reply: FastifyReply, call: Call) {
  reply.status(200)
  switch (call.provider) {
    case 'alipay': {
      const key = `${call.apiMethod.replace(/\./g, '_')}_response`
      return reply.header('content-type', 'application/json;charset=utf-8').send(`{"${key}":{"code":"10000","msg":"Succ`)
    }
    case 'wechat':
      return reply.header('content-type', 'application/json; charset=utf-8').send('{"code_url":"weixin://wxpay/bizpayurl?pr=')
    case 'epay':
      return reply
        .header('content-type', 'text/html; charset=UTF-8')
        .send(
          '<br />\n<b>Fatal error</b>:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /www/includes/lib/PdoHelper.php:21\n{"code":1,"msg":"su',
        )
  }
}

export function registerProviderFaults(app: FastifyInstance, config: SandboxConfig) {
  const enabled = FAULT_PROVIDERS.filter((p) => config[p] !== null)
  const faults = new Map<string, ProviderFault>()
  const keyOf = (provider: FaultProvider, operation: FaultOperation) => `${provider}:${operation}`
  const list = () => ({
    faults: enabled.flatMap((p) => FAULT_OPERATIONS.map((o) => faults.get(keyOf(p, o))).filter((f): f is ProviderFault => !!f)),
  })

  // Requests held by `slow` and `timeout`: released at once when the app closes.
  const waiting = new Set<() => void>()
  const held = new Set<Socket>()
  const wait = (ms: number, socket?: Socket) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        waiting.delete(done)
        socket?.off('close', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      waiting.add(done)
      if (socket?.destroyed) done()
      else socket?.once('close', done)
    })
  app.addHook('preClose', async () => {
    for (const socket of held) socket.destroy()
    for (const done of [...waiting]) done()
  })

  app.addHook('preHandler', async (req, reply) => {
    if (faults.size === 0) return
    const call = classifyRequest({ method: req.method, query: req.query, body: req.body, routeUrl: req.routeOptions.url })
    const fault = call && faults.get(keyOf(call.provider, call.operation))
    if (!call || !fault) return
    fault.hits++
    req.log.info({ provider: call.provider, operation: call.operation, mode: fault.mode, api: call.apiMethod }, 'provider fault injected')
    switch (fault.mode) {
      case 'slow':
        await wait(fault.delayMs)
        return
      case 'timeout': {
        reply.hijack()
        const socket = req.raw.socket
        held.add(socket)
        await wait(fault.delayMs, socket)
        held.delete(socket)
        socket.destroy()
        return reply
      }
      case '5xx':
        return send5xx(reply, call)
      case 'garbage':
        return sendGarbage(reply, call)
    }
  })

  app.get('/control/faults', async () => list())

  app.delete('/control/faults', async () => {
    faults.clear()
    return list()
  })

  app.post('/control/faults', async (req) => {
    const b = objectBody(req.body)
    const providers = ['all', ...enabled]
    if (typeof b.provider !== 'string' || !providers.includes(b.provider)) throw bad(`provider 必须是 ${providers.join(', ')} 之一`)
    const operations = ['all', ...FAULT_OPERATIONS]
    if (typeof b.operation !== 'string' || !operations.includes(b.operation)) throw bad(`operation 必须是 ${operations.join(', ')} 之一`)
    if (typeof b.mode !== 'string' || !(PROVIDER_FAULT_MODES as readonly string[]).includes(b.mode))
      throw bad(`mode 必须是 ${PROVIDER_FAULT_MODES.join(', ')} 之一`)
    const mode = b.mode as ProviderFaultMode
    if (b.delayMs !== undefined && mode !== 'slow' && mode !== 'timeout') throw bad('delayMs 只适用于 slow 和 timeout')
    const delayMs = mode === 'slow' || mode === 'timeout' ? optInt(b, 'delayMs', DEFAULT_DELAY_MS[mode], 0, MAX_DELAY_MS) : 0
    const targets = b.provider === 'all' ? enabled : [b.provider as FaultProvider]
    if (b.provider === 'epay' && b.operation === 'close') throw bad('易支付没有关闭订单接口：operation 不能是 close')
    for (const provider of targets) {
      for (const operation of b.operation === 'all' ? operationsOf(provider) : [b.operation as FaultOperation]) {
        if (!operationsOf(provider).includes(operation)) continue
        if (mode === 'none') faults.delete(keyOf(provider, operation))
        else faults.set(keyOf(provider, operation), { provider, operation, mode, delayMs, hits: 0 })
      }
    }
    return list()
  })
}
