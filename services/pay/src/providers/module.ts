/**
 * What a provider folder exports: one `ProviderModule`, listed once in ./index.ts (the registry).
 * Everything pay's shared code knows about a provider comes from here: its name, the buyer-facing
 * methods it serves and their display data, its channels, how its settings are read, how its adapter
 * is built, where and how it notifies, and what it can do. Shared code never names a provider.
 */
import type { FastifySchema } from 'fastify'
import type { createEnvReader } from '@paysys/config'
import type { Device, PayMethodInfo } from '@paysys/contracts'
import type { NotifyAcknowledgement, PaymentProvider } from './types.ts'

export type EnvReader = ReturnType<typeof createEnvReader>

/** What every adapter factory gets besides its own settings. */
export interface AdapterContext {
  /** Pay's public base URL: notify and return URLs are built from it. */
  publicUrl: string
  timeoutMs: number
}

/** A channel as the buyer sees it and what a create on it needs (checked before anything is written). */
export interface ChannelDescriptor {
  code: string
  /** Display name (Chinese). */
  name: string
  requires: readonly ('openid' | 'clientIp')[]
  /** Lower-case words a client may name this channel's wallet by (seed 002's payment_type, e.g. `qq`). */
  aliases?: readonly string[]
}

/** A buyer-facing method served by the provider: see PayMethodInfo in @paysys/contracts. */
export interface MethodDescriptor {
  method: string
  name: string
  icon: string
  description: string
  /** Lower-case spellings clients may send. */
  aliases: readonly string[]
  /** The provider's channel codes this method offers, in display order. */
  channels: readonly string[]
  /** Default channel per device (every device present). */
  deviceChannels: Readonly<Record<Device, string>>
  /**
   * When several configured providers serve the same method, the one with the highest priority serves
   * it (default 0; equal priorities: the first in registry order). The method keeps the place of its first listing.
   */
  priority?: number
}

/** One HTTP route the provider notifies on. */
export interface NotifyRoute {
  method: 'GET' | 'POST'
  path: string
  /** OpenAPI only (/docs): never validated, so every notification reaches the handler and is logged. */
  schema: FastifySchema
  /** The signed parameters are the raw query string (a GET notify); a POSTed body is used when there is one. */
  queryAsBody?: boolean
}

export interface ProviderModule<Config = unknown, Key extends string = string> {
  /** Pay's provider code (attempts' `provider`, the `method` main sends to POST /api/pay/create). */
  readonly name: string
  /** The provider's name for people (Chinese), used in messages. */
  readonly displayName: string
  /** The provider's settings field in PayConfig (lower case). */
  readonly configKey: Key
  readonly channels: readonly ChannelDescriptor[]
  /** In display order; the first is the provider's own method. */
  readonly methods: readonly MethodDescriptor[]
  /** Reads and validates its own environment; null = not configured (disabled). Problems go to `r.problems`. */
  readConfig(r: EnvReader): Config | null
  /** Settings worth logging at start-up (no secrets). */
  describe?(config: Config): Record<string, unknown>
  createAdapter(config: Config, ctx: AdapterContext): PaymentProvider
  notify: {
    routes: readonly NotifyRoute[]
    /** What the provider is answered (the adapter answers with the same). */
    acknowledge: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement }
  }
  /** GET paths the buyer's browser comes back to (besides the shared /api/pay/return). */
  readonly returnPaths?: readonly string[]
  readonly capabilities: {
    /**
     * The provider refunds a paid trade once and cannot tell two refunds apart: a refund takes one
     * attempt whole, never a part of one that was refunded before.
     */
    oneRefundPerAttempt: boolean
    /** The provider can close an unpaid trade (otherwise close only checks it is not paid). */
    close: boolean
    /** The provider publishes a daily bill (otherwise reconciliation queries every attempt of the day). */
    bill: boolean
  }
}

/** A module with its config type forgotten (the registry's element type; method parameters are bivariant). */
export type AnyProviderModule = ProviderModule<unknown, string>

/** Declares a module with its config type checked (and its config key kept literal, for PayConfig). */
export function defineProvider<Config, const Key extends string>(module: ProviderModule<Config, Key>): ProviderModule<Config, Key> {
  return module
}

/**
 * `GET /api/pay/methods`: the methods of the configured providers, in registry order, each once: a method
 * several of them serve goes to the highest `priority` (ties: the first listed), in the place it is first listed.
 * `offered(name)` is the configured adapter's channels (undefined: not configured): a method keeps only the
 * channels its adapter offers and is absent when none is left; a device whose channel is gone gets the first left.
 */
export function methodInfos(
  modules: readonly AnyProviderModule[],
  offered: (name: string) => readonly string[] | undefined,
): PayMethodInfo[] {
  const infos: PayMethodInfo[] = []
  const priorities = new Map<string, number>()
  for (const m of modules) {
    const adapterChannels = offered(m.name)
    if (!adapterChannels) continue
    for (const full of m.methods) {
      const channels = full.channels.filter((c) => adapterChannels.includes(c))
      if (channels.length === 0) continue
      const deviceChannels = Object.fromEntries(
        Object.entries(full.deviceChannels).map(([device, c]) => [device, channels.includes(c) ? c : channels[0]!]),
      ) as MethodDescriptor['deviceChannels']
      const d = { ...full, channels, deviceChannels }
      const at = infos.findIndex((i) => i.method === d.method)
      if (at >= 0 && (d.priority ?? 0) <= priorities.get(d.method)!) continue
      priorities.set(d.method, d.priority ?? 0)
      infos.splice(at >= 0 ? at : infos.length, at >= 0 ? 1 : 0, {
        method: d.method,
        provider: m.name,
        name: d.name,
        icon: d.icon,
        description: d.description,
        aliases: [...d.aliases],
        channels: d.channels.map((code) => {
          const c = m.channels.find((ch) => ch.code === code)
          if (!c) throw new Error(`${m.name}: method ${d.method} names unknown channel ${code}`)
          return { code: c.code, name: c.name, requires: [...c.requires], ...(c.aliases?.length ? { aliases: [...c.aliases] } : {}) }
        }),
        deviceChannels: { ...d.deviceChannels },
      })
    }
  }
  return infos
}
