// The main service's API, reached through this server's same-origin /api proxy.
// Every answer is {code, message, data, timestamp}; errors also carry `error` (a stable code).

const TOKEN_KEY = 'paysys.token'
const USER_KEY = 'paysys.user'

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY)
  },
  get user() {
    try {
      return JSON.parse(localStorage.getItem(USER_KEY) ?? 'null')
    } catch {
      return null
    }
  },
  save(token, user) {
    localStorage.setItem(TOKEN_KEY, token)
    localStorage.setItem(USER_KEY, JSON.stringify(user))
    window.dispatchEvent(new Event('session'))
  },
  /** Keeps the stored user current without re-rendering the header. */
  setUserQuiet(user) {
    localStorage.setItem(USER_KEY, JSON.stringify(user))
  },
  setUser(user) {
    localStorage.setItem(USER_KEY, JSON.stringify(user))
    window.dispatchEvent(new Event('session'))
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY)
    localStorage.removeItem(USER_KEY)
    window.dispatchEvent(new Event('session'))
  },
}

/**
 * api('/credits/packages') → data. Throws ApiError with the server's Chinese message.
 * A 401 on a call made with a token clears the session (the token expired or is invalid).
 */
export async function api(path, opts = {}) {
  const { method = 'GET', body, idempotencyKey, auth = true } = opts
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const token = auth ? session.token : null
  if (token) headers.authorization = `Bearer ${token}`
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey
  let res
  try {
    res = await fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch {
    throw new ApiError(0, 'NETWORK_ERROR', '网络异常，请检查网络连接后重试')
  }
  let json = null
  try {
    json = await res.json()
  } catch {
    /* not JSON */
  }
  if (!res.ok || !json || (json.code !== undefined && json.code !== 200)) {
    if (res.status === 401 && token) session.clear()
    const message = json?.message || (res.status >= 500 ? '服务暂时不可用，请稍后再试' : `请求失败（${res.status}）`)
    throw new ApiError(res.status, json?.error ?? 'HTTP_ERROR', message)
  }
  return json.data !== undefined ? json.data : json
}

/** True when the route itself does not exist on main yet (as opposed to "this order was not found"). */
export function isMissingRoute(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 405) && err.code === 'NOT_FOUND'
}

/** A list answer as {content, totalElements, totalPages, page, size}, whatever shape main used. */
export function asPage(data, page = 0, size = 10) {
  if (Array.isArray(data)) return { content: data, totalElements: data.length, totalPages: 1, page, size }
  if (data && Array.isArray(data.content)) return { page, size, totalPages: 1, totalElements: data.content.length, ...data }
  if (data && Array.isArray(data.items))
    return { content: data.items, totalElements: data.total ?? data.items.length, totalPages: 1, page, size }
  return { content: [], totalElements: 0, totalPages: 0, page, size }
}

let configPromise
/** Runtime settings from the web server: {sandboxUrl} (set in development only). */
export function appConfig() {
  configPromise ??= fetch('/app-config.json')
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))
  return configPromise
}

/** What the payment channels use to choose between page/WAP, native/H5/JSAPI (seed 002 device). */
export function detectDevice() {
  const ua = navigator.userAgent
  if (/MicroMessenger/i.test(ua)) return 'wechat'
  if (/AlipayClient/i.test(ua)) return 'alipay'
  if (/\bQQ\//i.test(ua)) return 'qq'
  if (/Mobi|Android|iPhone|iPad|iPod|HarmonyOS/i.test(ua)) return 'mobile'
  if (window.matchMedia?.('(max-width: 640px) and (pointer: coarse)').matches) return 'mobile'
  return 'pc'
}
