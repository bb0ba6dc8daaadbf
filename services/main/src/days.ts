/** Calendar days in China time (Asia/Shanghai, UTC+8, no DST): admin filters and daily figures. */
import { AppError } from '@paysys/contracts'

export const chinaDay = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 10)

/** YYYY-MM-DD (a China-time calendar day; `endOfDay`: the instant it ends) or a full ISO date-time; 400 otherwise. */
export function parseInstant(value: string, what: string, endOfDay = false): Date {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)
  let d: Date
  if (day) {
    d = new Date(`${value}T00:00:00+08:00`)
    if (!Number.isNaN(d.getTime()) && endOfDay) d = new Date(d.getTime() + 86_400_000)
    if (Number.isNaN(d.getTime()) || chinaDay(d.getTime() - (endOfDay ? 86_400_000 : 0)) !== value) {
      throw new AppError(400, 'INVALID_PARAMS', `${what} 不是有效日期: ${value}`)
    }
    return d
  }
  d = new Date(value)
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(d.getTime()))
    throw new AppError(400, 'INVALID_PARAMS', `${what} 不是有效日期: ${value}`)
  return d
}
