/**
 * Choosing how an order is paid, from pay's list of enabled methods (`GET /api/pay/methods`,
 * `PayMethodInfo`): main keeps no provider list of its own — codes, aliases, channels, what a
 * channel requires and the default channel per device all come from pay's provider registry.
 * CREDITS (paying a goods order from the credit balance) is main's own method and never in that list.
 * Pure functions over the list; payments.ts fetches and caches it.
 */
import { AppError, DEVICES, type PayMethodInfo } from '@paysys/contracts'

export const CREDITS = 'CREDITS'
export const CREDITS_CHANNEL = 'balance'

export interface PaymentChoice {
  /** The buyer-facing method (what the order records as its payment method). */
  method: string
  /** The provider in pay that serves it (what pay is asked to create). */
  provider: string
  channel: string
  /** What this channel needs from the buyer before anything is written. */
  requires: readonly ('openid' | 'clientIp')[]
}

const bad = (message: string) => new AppError(400, 'INVALID_PARAMS', message)

/** 400 for a device that is not one of DEVICES (seed 002); checked before pay is asked anything. */
export function checkDevice(device: string | undefined): void {
  if (device !== undefined && !(DEVICES as readonly string[]).includes(device)) throw bad(`无效的设备类型: ${device}`)
}

/** A method code as given (any case) or one of its aliases → its entry in pay's list. */
export function findMethod(list: readonly PayMethodInfo[], input: string): PayMethodInfo | undefined {
  const upper = input.toUpperCase()
  const lower = input.toLowerCase()
  return list.find((m) => m.method === upper) ?? list.find((m) => m.aliases.includes(lower))
}

/**
 * Method + explicit channel or device → the choice. 400 for an unknown device or a channel the method
 * does not offer; 422 PAYMENT_METHOD_DISABLED for a method pay does not list (unknown, or its provider not configured).
 */
export function chooseMethod(
  list: readonly PayMethodInfo[],
  input: string,
  channel: string | undefined,
  device: string | undefined,
): PaymentChoice {
  checkDevice(device)
  if (input.toUpperCase() === CREDITS) {
    if (channel !== undefined && channel !== CREDITS_CHANNEL) throw bad(`无效的支付渠道: ${channel}（${CREDITS} 支持 ${CREDITS_CHANNEL}）`)
    return { method: CREDITS, provider: CREDITS, channel: CREDITS_CHANNEL, requires: [] }
  }
  const m = findMethod(list, input)
  if (!m) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `不支持或未启用的支付方式: ${input}`)
  const codes = m.channels.map((c) => c.code)
  if (channel !== undefined && !codes.includes(channel)) throw bad(`无效的支付渠道: ${channel}（${m.method} 支持 ${codes.join('/')}）`)
  const byDevice = m.deviceChannels[device ?? 'pc']
  const code = channel ?? (byDevice && codes.includes(byDevice) ? byDevice : codes[0])
  const chosen = m.channels.find((c) => c.code === code)
  if (!chosen) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `支付方式未启用: ${m.method}`)
  return { method: m.method, provider: m.provider, channel: chosen.code, requires: chosen.requires }
}

/** A channel that pays as a known user of the provider (requires `openid`): without the payer's openid there is nothing to start. */
export function requireOpenid(choice: PaymentChoice, openid: string | null | undefined): void {
  if (choice.requires.includes('openid') && !openid)
    throw bad(
      `${choice.method} ${choice.channel} 支付需要用户的 openid：请在请求中提供 openid，或先通过 PATCH /api/users/me 绑定 wechatOpenid`,
    )
}
