/** The sandbox's mini program (小程序) for `wx.login` / `jscode2session`: SANDBOX_WECHAT_MINIAPP_APPID + _SECRET, both or neither. */
import type { EnvReader } from '../provider.ts'

export interface MiniappSandboxConfig {
  appId: string
  /** AppSecret: 32 hex characters, as the mini program's console issues it. */
  secret: string
}

export function readMiniappSandbox(r: EnvReader): MiniappSandboxConfig | null {
  const appId = r.optional('SANDBOX_WECHAT_MINIAPP_APPID')
  const secret = r.secret('SANDBOX_WECHAT_MINIAPP_SECRET')
  if (appId === undefined && secret === undefined) return null
  if (appId === undefined || secret === undefined) {
    r.problems.push('set both SANDBOX_WECHAT_MINIAPP_APPID and SANDBOX_WECHAT_MINIAPP_SECRET[_FILE], or neither')
    return null
  }
  if (!/^wx[0-9A-Za-z]{16}$/.test(appId))
    r.problems.push(`SANDBOX_WECHAT_MINIAPP_APPID must be "wx" + 16 letters or digits, got ${JSON.stringify(appId.slice(0, 40))}`)
  if (!/^[0-9a-f]{32}$/.test(secret)) r.problems.push('SANDBOX_WECHAT_MINIAPP_SECRET must be 32 lower-case hex characters')
  return { appId, secret }
}
