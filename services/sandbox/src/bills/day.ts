/**
 * Bill days and fees, shared by the providers' bills. A bill day is a calendar day in China
 * Standard Time (UTC+8), as the providers cut their bills.
 */
import { chinaTime } from '../util.ts'

const DAY_MS = 86_400_000

/** `yyyy-MM-dd` that is a real calendar date, or null. */
export function parseBillDate(s: unknown): string | null {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return null
  const d = new Date(`${s}T00:00:00Z`)
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s ? s : null
}

/** Today in China time, `yyyy-MM-dd`. */
export function chinaToday(now = Date.now()): string {
  return chinaTime(now).slice(0, 10)
}

/** The instants [start, end) of a bill day. */
export function dayBounds(day: string): { start: Date; end: Date } {
  const start = Date.parse(`${day}T00:00:00+08:00`)
  return { start: new Date(start), end: new Date(start + DAY_MS) }
}

/** `yyyyMMdd` of a bill day. */
export const compactDay = (day: string) => day.replace(/-/g, '')

/** The sandbox's service fee rate: 0.6 %, as the providers charge most merchants (费率 0.60%). */
export const FEE_PER_MILLE = 6

/** 0.6 % of an amount in fen, rounded half up to the fen (integer arithmetic). */
export function feeOf(amountFen: number): number {
  return Math.floor((amountFen * FEE_PER_MILLE + 500) / 1000)
}
