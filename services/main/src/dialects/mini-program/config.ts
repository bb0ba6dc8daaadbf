/**
 * Seed 001's mini program: its AppID and AppSecret (the `wx.login` code is exchanged for the openid at
 * `jscode2session` with them) and that API's base URL (the sandbox in development and tests).
 */
import type { createEnvReader } from '@paysys/config'

export interface MiniappConfig {
  appId: string
  secret: string
  /** Base of `/sns/jscode2session` (default the real `https://api.weixin.qq.com`). */
  apiUrl: string
}

export function readMiniappConfig(r: ReturnType<typeof createEnvReader>): MiniappConfig | null {
  const appId = r.optional('WECHAT_MINIAPP_APPID')
  const secret = r.secret('WECHAT_MINIAPP_SECRET')
  const apiUrl = r.url('WECHAT_MINIAPP_API_URL', 'https://api.weixin.qq.com').replace(/\/+$/, '')
  if (appId === undefined && secret === undefined) return null
  if (appId === undefined || secret === undefined) {
    r.problems.push('set both WECHAT_MINIAPP_APPID and WECHAT_MINIAPP_SECRET[_FILE], or neither')
    return null
  }
  if (!/^wx[0-9A-Za-z]{16}$/.test(appId))
    r.problems.push(`WECHAT_MINIAPP_APPID must be "wx" + 16 letters or digits, got ${JSON.stringify(appId.slice(0, 40))}`)
  if (!/^[0-9A-Za-z]{32}$/.test(secret)) r.problems.push('WECHAT_MINIAPP_SECRET must be 32 letters or digits')
  return { appId, secret, apiUrl }
}
