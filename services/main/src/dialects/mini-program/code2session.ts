/**
 * `wx.login` code → openid at the mini program API's `GET /sns/jscode2session` (appid + secret).
 * That API answers HTTP 200 with `{errcode, errmsg}` on failure: a code that is unknown, expired
 * (40029) or used (40163) is the buyer's problem (401); a wrong appid (40013) or secret (40125) is ours (502).
 */
import { AppError } from '@paysys/contracts'
import type { FastifyBaseLogger } from 'fastify'
import type { MiniappConfig } from './config.ts'

const CODE_REFUSED = new Set([40029, 40163])
const RATE_LIMITED = 45011

export async function code2session(config: MiniappConfig, code: string, log: FastifyBaseLogger, timeoutMs = 10_000): Promise<string> {
  const query = new URLSearchParams({ appid: config.appId, secret: config.secret, js_code: code, grant_type: 'authorization_code' })
  let body: { openid?: unknown; errcode?: unknown; errmsg?: unknown }
  try {
    const res = await fetch(`${config.apiUrl}/sns/jscode2session?${query}`, { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    body = (await res.json()) as typeof body
    if (typeof body !== 'object' || body === null) throw new Error('not a JSON object')
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'jscode2session unreachable')
    throw new AppError(502, 'PROVIDER_ERROR', '小程序登录服务暂时不可用，请稍后重试')
  }
  const errcode = typeof body.errcode === 'number' ? body.errcode : 0
  if (errcode === 0 && typeof body.openid === 'string' && /^[A-Za-z0-9_-]{6,128}$/.test(body.openid)) return body.openid
  if (CODE_REFUSED.has(errcode)) throw new AppError(401, 'UNAUTHORIZED', '登录凭证 code 无效、已过期或已使用，请重新调用 wx.login')
  if (errcode === RATE_LIMITED) throw new AppError(429, 'RATE_LIMITED', '登录过于频繁，请稍后再试')
  log.error({ errcode, errmsg: String(body.errmsg ?? '').slice(0, 200) }, 'jscode2session refused the mini program (appid/secret?)')
  throw new AppError(502, 'PROVIDER_ERROR', '小程序登录失败，请稍后重试')
}
