import { randomBytes } from 'node:crypto'

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/**
 * `P` + yyyyMMddHHmmss (GMT+8, as the providers show it) + 14 random base32 chars (70 bits:
 * unguessable): 29 characters, so the pay service's later attempts `orderNo_2` … `orderNo_99` still
 * fit the shortest provider out_trade_no limit we know (32 characters).
 */
export function newOrderNo(now = new Date()): string {
  const cst = new Date(now.getTime() + 8 * 3600_000)
  const stamp = cst.toISOString().slice(0, 19).replace(/[-T:]/g, '')
  const bytes = randomBytes(14)
  let tail = ''
  for (let i = 0; i < 14; i++) tail += BASE32[bytes[i]! & 31]
  return `P${stamp}${tail}`
}

export const ORDER_NO_RE = /^P\d{14}[A-Z2-7]{12,32}$/
