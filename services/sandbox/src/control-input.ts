/** Validation of control-API bodies, shared by every provider's control routes: bad input is a 400, never a 500. */
import { AppError } from '@paysys/contracts'
import { httpUrl } from './util.ts'

export type Json = Record<string, unknown>

export const bad = (message: string) => new AppError(400, 'INVALID_PARAMS', message)

export function objectBody(body: unknown): Json {
  if (body === undefined || body === null || body === '') return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw bad('请求体必须是 JSON 对象')
  return body as Json
}

export function optBool(b: Json, key: string, def: boolean): boolean {
  const v = b[key]
  if (v === undefined) return def
  if (typeof v !== 'boolean') throw bad(`${key} 必须是布尔值`)
  return v
}

export function optInt(b: Json, key: string, def: number, min: number, max: number): number {
  const v = b[key]
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${key} 必须是 ${min}～${max} 的整数`)
  return v
}

export function stringRecord(v: unknown, key: string, allowed?: readonly string[]): Record<string, string> {
  if (v === undefined) return {}
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${key} 必须是对象`)
  const out: Record<string, string> = {}
  for (const [k, val] of Object.entries(v as Json)) {
    if (allowed && !allowed.includes(k)) throw bad(`${key}.${k} 不支持（可用：${allowed.join(', ')}）`)
    if (typeof val !== 'string' && typeof val !== 'number') throw bad(`${key}.${k} 必须是字符串`)
    if (String(val).length > 4096) throw bad(`${key}.${k} 过长`)
    out[k] = String(val)
  }
  return out
}

/**
 * The body of every provider's `POST /control/<provider>/notify-raw`: `{notifyUrl, params, wrongKey?}` —
 * where to send, the parameters to sign as a notify, and whether to sign with a key pay does not trust.
 */
export function rawNotifyInput(body: unknown): { url: string; params: Record<string, string>; wrongKey: boolean } {
  const b = objectBody(body)
  const url = httpUrl(b.notifyUrl)
  if (!url) throw bad('notifyUrl 必须是 http(s) URL')
  if (b.params === undefined) throw bad('缺少 params')
  return { url, params: stringRecord(b.params, 'params'), wrongKey: optBool(b, 'wrongKey', false) }
}
