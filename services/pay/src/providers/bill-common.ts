/**
 * What the providers' bill adapters (<provider>/bill.ts) share: bill days in China time, signed
 * yuan amounts to fen without floats, and a size-capped download. Pure except `downloadCapped`.
 */
import { request } from 'undici'
import { parseYuan } from '@paysys/money'
import { BillError, type BillDay } from '../reconciliation/types.ts'
import type { ProviderName } from './types.ts'

/** Largest bill file (compressed or not) we download or unpack. */
export const MAX_BILL_BYTES = 64 * 1024 * 1024

const CST_OFFSET_MS = 8 * 3600_000

/** A real calendar date `yyyy-MM-dd` (not 2026-02-30, not 2026-13-01). */
export function isCalendarDay(day: unknown): day is BillDay {
  if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return false
  const d = new Date(`${day}T00:00:00Z`)
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day
}

/** Refuses anything but a real calendar date `yyyy-MM-dd` (it ends up in provider requests). */
export function assertBillDay(day: BillDay, provider: ProviderName): void {
  if (!isCalendarDay(day)) throw new BillError(`账单日期无效: ${JSON.stringify(String(day).slice(0, 20))}`, provider, 'UNAVAILABLE')
}

/** Today in China time, `yyyy-MM-dd`. */
export function chinaToday(now = Date.now()): BillDay {
  return new Date(now + CST_OFFSET_MS).toISOString().slice(0, 10)
}

/**
 * Whether the day is over in China time. A provider's "no bill" for a finished day means it had no
 * trades; for today or a future day it only means "not yet".
 */
export const isDayOver = (day: BillDay, now = Date.now()) => day < chinaToday(now)

/** `yyyy-MM-dd HH:mm:ss` in China time → Date; null when malformed. */
export function parseChinaDateTime(s: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/.exec(s)
  if (!m) return null
  const d = new Date(`${m[1]}T${m[2]}+08:00`)
  return Number.isNaN(d.getTime()) ? null : d
}

/**
 * A signed yuan amount as bills write it (`25.00`, `-5.00`, fees such as `0.15000`) → signed fen,
 * through @paysys/money's exact parser. Digits past the fen (a fee of `0.00006`) are rounded
 * half up on the magnitude, by looking at the third decimal only — no floats anywhere.
 * Throws on anything else.
 */
export function signedYuanToFen(text: string): number {
  const m = /^(-?)(\d{1,12})(?:\.(\d{1,8}))?$/.exec(text.trim())
  if (!m) throw new Error(`not an amount: ${JSON.stringify(text.slice(0, 30))}`)
  const decimals = m[3] ?? ''
  const fen = parseYuan(`${m[2]}.${decimals.slice(0, 2).padEnd(2, '0')}`) + (decimals.length > 2 && decimals[2]! >= '5' ? 1 : 0)
  return m[1] === '-' && fen !== 0 ? -fen : fen
}

/** A BOM-less text split into lines (CRLF or LF). */
export const billLines = (text: string) => text.replace(/^\uFEFF/, '').split(/\r?\n/)

/**
 * GETs a bill file: headers and body each within `timeoutMs` of silence, the whole within ten times
 * that, at most `maxBytes`. Anything but a 200 with a body in time → BillError UNAVAILABLE.
 */
export async function downloadCapped(
  url: string,
  opts: { provider: ProviderName; headers?: Record<string, string>; timeoutMs: number; maxBytes: number },
): Promise<Buffer> {
  const unavailable = (why: string) => new BillError(`账单下载失败: ${why}`.slice(0, 300), opts.provider, 'UNAVAILABLE')
  let res: Awaited<ReturnType<typeof request>>
  try {
    res = await request(url, {
      method: 'GET',
      headers: { 'accept-encoding': 'identity', ...opts.headers },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      signal: AbortSignal.timeout(opts.timeoutMs * 10),
    })
  } catch (err) {
    const e = err as Error & { code?: string }
    throw unavailable(`${e.code ?? e.name} ${e.message}`)
  }
  if (res.statusCode !== 200) {
    const text = await res.body.text().catch(() => '')
    throw unavailable(`HTTP ${res.statusCode} ${text.slice(0, 200)}`)
  }
  const declared = Number(res.headers['content-length'])
  if (declared > opts.maxBytes) {
    res.body.destroy()
    throw unavailable(`文件过大 (${declared} 字节)`)
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length
      if (size > opts.maxBytes) {
        res.body.destroy()
        throw unavailable(`文件超过 ${opts.maxBytes} 字节`)
      }
      chunks.push(chunk as Buffer)
    }
  } catch (err) {
    if (err instanceof BillError) throw err
    const e = err as Error & { code?: string }
    throw unavailable(`${e.code ?? e.name} ${e.message}`)
  }
  return Buffer.concat(chunks)
}
