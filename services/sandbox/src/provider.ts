/**
 * What a simulated provider is to the sandbox. Each provider lives in its own folder
 * (`src/<name>/`) and exports one `SandboxProvider`; `providers.ts` lists them. Everything shared —
 * config, the notify worker, fault injection, the cashier, the control API plumbing, bill faults —
 * reads the provider through this interface and never names one.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { createEnvReader } from '@paysys/config'
import type { Sql } from '@paysys/db'
import type { CashierProvider } from './cashier.ts'
import type { SandboxConfig } from './config.ts'
import type { TradeRoutes } from './control.ts'
import type { AckRule, DeliveryService } from './deliveries.ts'

export type EnvReader = ReturnType<typeof createEnvReader>

/** The merchant API operations fault injection knows (`refund-query`: asking for one refund's state). */
export const FAULT_OPERATIONS = ['create', 'query', 'close', 'refund', 'refund-query'] as const
export type FaultOperation = (typeof FAULT_OPERATIONS)[number]

/** A merchant API call, as the provider's fault classification recognises it. */
export interface ApiCall {
  operation: FaultOperation
  /** The provider's name of the call (gateway method, `METHOD /route`, …), for logs and answers. */
  apiMethod: string
}

/** The HTTP client errors fault injection can answer with (`429`, `403`: signed where the provider signs; `404`: unsigned). */
export type RefusalStatus = 403 | 404 | 429

/** The bill faults the control API can set (see bills/store.ts). */
export const BILL_FAULT_MODES = ['none', 'download-error', 'query-error', 'hash-mismatch', 'corrupt', 'bad-signature'] as const
export type BillFaultMode = (typeof BILL_FAULT_MODES)[number]

/** The notify worker's rules for one provider. */
export interface DeliveryRules {
  /** What the provider accepts from the merchant as "notify received". */
  ack: AckRule
  /** Delays (ms, already scaled by SANDBOX_TIME_FACTOR) before retry 1, 2, …; its length + 1 is the attempt limit. */
  schedule: readonly number[]
  /** Rewrites a durable delivery's headers before each attempt (e.g. a fresh signature timestamp). */
  prepare?: (d: { headers: Record<string, string>; body: string | null }) => Record<string, string>
}

/** What a provider's `mount` is given. `settings` is its own (non-null) configuration. */
export interface MountDeps<C> {
  config: SandboxConfig
  settings: C
  sql: Sql
  deliveries: DeliveryService
}

/** The runtime parts of a mounted provider, which the shared plumbing drives. */
export interface MountedProvider {
  /** The cashier plug-in (payment ids with the provider's prefix, QR resolution). */
  cashier: CashierProvider
  /** `/control/<name>/trades/…` and `/control/<name>/notifications`: `tradeRoutes(…)` of its `TradeControl` (control.ts). */
  control: TradeRoutes
  /**
   * The provider's own answer to a refused call, for the `429`, `403` and `unsigned-404` faults: its
   * error body, signed (`signed`) as it signs business errors. Without it the fault is a bare HTTP error.
   */
  refusal?: (reply: FastifyReply, call: ApiCall, status: RefusalStatus, signed: boolean) => FastifyReply
  /** Housekeeping run on every notify-worker poll (e.g. expiring trades). */
  onTick?: () => Promise<void>
  /** Bills, when the provider has them: the bill control API and its faults apply. */
  bills?: {
    /** The bill faults that apply to this provider's bills (besides `none`). */
    faultModes: readonly BillFaultMode[]
    /** Whether the merchant has a trade with this out_trade_no (any state). */
    tradeExists(outTradeNo: string): Promise<boolean>
  }
}

export interface SandboxProvider<N extends string = string, C = unknown> {
  /**
   * Lower-case name: the control API's path segment (`/control/<name>/…`), the `provider` column of
   * notify_deliveries, notify_attempts and the bill tables, and the fault API's `provider`.
   */
  readonly name: N
  /** What its pages and messages call it (Chinese). */
  readonly title: string
  /** Reads its env variables: null when none is given (the provider is then disabled). */
  readConfig(r: EnvReader): C | null
  /** Acknowledgement, retry schedule and per-attempt rewriting of its notifies. */
  delivery(config: SandboxConfig, settings: C): DeliveryRules
  faults: {
    /** The operations its API has (fault injection refuses the others). */
    operations: readonly FaultOperation[]
    /** Which merchant API call a request is, by its route (`routeUrl`), or null. */
    classify(req: { method: string; routeUrl: string | undefined; query: unknown; body: unknown }): ApiCall | null
    /** Answers HTTP 503 as the provider's front end would. */
    unavailable(reply: FastifyReply, call: ApiCall): FastifyReply
    /** Answers HTTP 200 with a body no parser accepts. */
    garbage(reply: FastifyReply, call: ApiCall): FastifyReply
    /** Answers HTTP 200 with its signed "system busy" error, when the provider reports outages that way. */
    busy?(reply: FastifyReply, call: ApiCall, settings: C): FastifyReply
  }
  /** Registers its API, browser and extra control routes; returns the parts the shared plumbing drives. */
  mount(app: FastifyInstance, deps: MountDeps<C>): MountedProvider
}

/** Retry delays scaled by the time factor, never below the minimum. */
export function scaleSchedule(ms: readonly number[], config: Pick<SandboxConfig, 'timeFactor' | 'minRetryMs'>): number[] {
  return ms.map((d) => Math.max(config.minRetryMs, Math.round(d * config.timeFactor)))
}
