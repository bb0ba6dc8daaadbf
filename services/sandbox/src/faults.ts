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
 * - `5xx`: HTTP 503 with a provider-ish error body; `garbage`: HTTP 200 with a truncated, non-JSON body;
 * - `busy`: the provider's own "system busy" answer in its normal envelope (for a provider that reports
 *   outages that way: HTTP 200, signed, with its error code), refused for a provider that has none.
 * - `429`, `403`: the provider's rate-limit / no-permission error, signed where the provider signs its
 *   errors; `unsigned-404`: a 404 without a signature (a front end or proxy answering). Nothing is done
 *   at the provider. A provider without its own `refusal` (../provider.ts) answers a bare HTTP error.
 * Each provider says which operations its API has, which request is which, and how it answers
 * `5xx`, `garbage` and `busy` (`faults` in ../provider.ts).
 */
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { bad, objectBody, optInt } from './control-input.ts'
import { FAULT_OPERATIONS, type FaultOperation, type MountedProvider, type RefusalStatus, type SandboxProvider } from './provider.ts'

export const PROVIDER_FAULT_MODES = ['none', 'slow', 'timeout', '5xx', 'garbage', 'busy', '429', '403', 'unsigned-404'] as const
export type ProviderFaultMode = (typeof PROVIDER_FAULT_MODES)[number]

export interface ProviderFault {
  provider: string
  operation: FaultOperation
  mode: Exclude<ProviderFaultMode, 'none'>
  delayMs: number
  /** Requests this fault has hit since it was set. */
  hits: number
}

const DEFAULT_DELAY_MS = { slow: 2000, timeout: 30_000 } as const
const MAX_DELAY_MS = 600_000

type FaultyProvider = Pick<SandboxProvider, 'name' | 'title' | 'faults'> & { settings?: unknown }

const REFUSALS = {
  '429': { status: 429, signed: true, text: 'Too Many Requests' },
  '403': { status: 403, signed: true, text: 'Forbidden' },
  'unsigned-404': { status: 404, signed: false, text: 'Not Found' },
} as const satisfies Record<string, { status: RefusalStatus; signed: boolean; text: string }>

/**
 * `providers`: the enabled ones, in registry order, with their settings (for `busy`). `refusals`: each mounted provider's own error
 * answer (filled in once they are mounted, after this hook is registered).
 */
export function registerProviderFaults(
  app: FastifyInstance,
  providers: readonly FaultyProvider[],
  refusals: ReadonlyMap<string, NonNullable<MountedProvider['refusal']>> = new Map(),
) {
  const enabled = providers.map((p) => p.name)
  const byName = new Map(providers.map((p) => [p.name, p]))
  const faults = new Map<string, ProviderFault>()
  const keyOf = (provider: string, operation: FaultOperation) => `${provider}:${operation}`
  const list = () => ({
    faults: enabled.flatMap((p) => FAULT_OPERATIONS.map((o) => faults.get(keyOf(p, o))).filter((f): f is ProviderFault => !!f)),
  })

  /** The merchant API call a request is, and whose; null for everything else. */
  const classify = (req: Parameters<FaultyProvider['faults']['classify']>[0]) => {
    for (const provider of providers) {
      const call = provider.faults.classify(req)
      if (call) return { provider, call }
    }
    return null
  }

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
    const hit = classify({ method: req.method, query: req.query, body: req.body, routeUrl: req.routeOptions.url })
    const fault = hit && faults.get(keyOf(hit.provider.name, hit.call.operation))
    if (!hit || !fault) return
    const { provider, call } = hit
    fault.hits++
    req.log.info({ provider: provider.name, operation: call.operation, mode: fault.mode, api: call.apiMethod }, 'provider fault injected')
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
        return provider.faults.unavailable(reply.status(503), call)
      case 'garbage':
        return provider.faults.garbage(reply.status(200), call)
      case 'busy':
        return provider.faults.busy!(reply.status(200), call, provider.settings)
      case '429':
      case '403':
      case 'unsigned-404': {
        const r = REFUSALS[fault.mode]
        const own = refusals.get(provider.name)
        if (own) return own(reply, call, r.status, r.signed)
        return reply.status(r.status).header('content-type', 'text/plain; charset=utf-8').send(`${r.status} ${r.text}`)
      }
    }
  })

  app.get('/control/faults', async () => list())

  app.delete('/control/faults', async () => {
    faults.clear()
    return list()
  })

  app.post('/control/faults', async (req) => {
    const b = objectBody(req.body)
    const names = ['all', ...enabled]
    if (typeof b.provider !== 'string' || !names.includes(b.provider)) throw bad(`provider 必须是 ${names.join(', ')} 之一`)
    const operations = ['all', ...FAULT_OPERATIONS]
    if (typeof b.operation !== 'string' || !operations.includes(b.operation)) throw bad(`operation 必须是 ${operations.join(', ')} 之一`)
    if (typeof b.mode !== 'string' || !(PROVIDER_FAULT_MODES as readonly string[]).includes(b.mode))
      throw bad(`mode 必须是 ${PROVIDER_FAULT_MODES.join(', ')} 之一`)
    const mode = b.mode as ProviderFaultMode
    if (b.delayMs !== undefined && mode !== 'slow' && mode !== 'timeout') throw bad('delayMs 只适用于 slow 和 timeout')
    const delayMs = mode === 'slow' || mode === 'timeout' ? optInt(b, 'delayMs', DEFAULT_DELAY_MS[mode], 0, MAX_DELAY_MS) : 0
    const targets = b.provider === 'all' ? providers : [byName.get(b.provider)!]
    if (b.provider !== 'all' && b.operation !== 'all' && !targets[0]!.faults.operations.includes(b.operation as FaultOperation))
      throw bad(`${targets[0]!.title}没有该接口：operation 不能是 ${b.operation}`)
    if (mode === 'busy' && b.provider !== 'all' && !targets[0]!.faults.busy) throw bad(`${targets[0]!.title}没有 busy 应答`)
    for (const { name: provider, faults: spec } of targets) {
      if (mode === 'busy' && !spec.busy) continue
      for (const operation of b.operation === 'all' ? spec.operations : [b.operation as FaultOperation]) {
        if (!spec.operations.includes(operation)) continue
        if (mode === 'none') faults.delete(keyOf(provider, operation))
        else faults.set(keyOf(provider, operation), { provider, operation, mode, delayMs, hits: 0 })
      }
    }
    return list()
  })
}
