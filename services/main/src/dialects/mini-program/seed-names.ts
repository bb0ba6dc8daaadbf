/**
 * Seed 001's contract names its provider, so this file does (and only this one:
 * test/provider-names.test.ts allows exactly these lines). Its orders are paid by `wx.requestPayment`,
 * i.e. a JSAPI prepay made for the openid the buyer logged in with; its login route is the seed's.
 */
/** Where seed 001's API lives on main: a mini program's base URL is `https://<host>/mp`. */
export const MINI_PROGRAM_BASE = '/mp'
export const MINI_PROGRAM_PAYMENT = { method: 'WECHAT_PAY', channel: 'jsapi' } as const
/** The seed's login route, under MINI_PROGRAM_BASE. */
export const MINI_PROGRAM_LOGIN_ROUTE = '/api/auth/wechat-login'
