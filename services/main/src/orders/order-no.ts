import { randomBytes } from 'node:crypto'

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** `P` + yyyyMMddHHmmss (GMT+8, as the providers show it) + 16 random base32 chars (80 bits: unguessable). */
export function newOrderNo(now = new Date()): string {
  const cst = new Date(now.getTime() + 8 * 3600_000)
  const stamp = cst.toISOString().slice(0, 19).replace(/[-T:]/g, '')
  const bytes = randomBytes(16)
  let tail = ''
  for (let i = 0; i < 16; i++) tail += BASE32[bytes[i]! & 31]
  return `P${stamp}${tail}`
}

export const ORDER_NO_RE = /^P\d{14}[A-Z2-7]{12,32}$/
