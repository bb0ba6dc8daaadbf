/** Small helpers: China-time formatting, yuan ⇄ fen, random ids, HTML escaping. */
import { randomBytes, randomInt } from 'node:crypto'

const CHINA_OFFSET_MS = 8 * 3600_000

/** `yyyy-MM-dd HH:mm:ss` in GMT+8, the providers' usual time format. */
export function chinaTime(d: Date | number = Date.now()): string {
  const t = new Date((typeof d === 'number' ? d : d.getTime()) + CHINA_OFFSET_MS).toISOString()
  return `${t.slice(0, 10)} ${t.slice(11, 19)}`
}

/** `yyyyMMdd` in GMT+8. */
export function chinaDate(d: Date | number = Date.now()): string {
  return chinaTime(d).slice(0, 10).replace(/-/g, '')
}

/** Parses `yyyy-MM-dd HH:mm:ss` as GMT+8; null when malformed. */
export function parseChinaTime(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s)
  if (!m) return null
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`)
  return Number.isNaN(d.getTime()) ? null : d
}

/** Largest amount of one trade: 100,000,000.00 yuan (the providers' limit). */
export const MAX_TRADE_FEN = 10_000_000_000

/** "25.00" / "25" / "25.5" / 25 → fen; null for anything else (negative, >2 decimals, exponent, out of range). */
export function yuanToFen(input: unknown, opts: { min?: number } = {}): number | null {
  let text: string
  if (typeof input === 'string') text = input.trim()
  else if (typeof input === 'number' && Number.isFinite(input)) text = String(input)
  else return null
  const m = /^(0|[1-9]\d{0,10})(?:\.(\d{1,2}))?$/.exec(text)
  if (!m) return null
  const fen = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'))
  if (fen < (opts.min ?? 1) || fen > MAX_TRADE_FEN) return null
  return fen
}

/** fen → "25.00". */
export function fenToYuan(fen: number): string {
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

/** Random lower-case alphanumeric string (unguessable ids and tokens). */
export function randomToken(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const bytes = randomBytes(length)
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[bytes[i]! % 36]
  return out
}

export function randomDigits(length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += String(randomInt(10))
  return out
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** A valid absolute http(s) URL, or null. */
export function httpUrl(s: unknown): string | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 2048) return null
  try {
    const u = new URL(s)
    return u.protocol === 'http:' || u.protocol === 'https:' ? s : null
  } catch {
    return null
  }
}
