/**
 * Seed 001's contract names its provider, so this file does (and only this one:
 * test/provider-names.test.ts allows exactly these lines). Its orders are paid by `wx.requestPayment`,
 * i.e. a JSAPI prepay made for the openid the buyer logged in with; its login route is the seed's.
 */
export const MINI_PROGRAM_PAYMENT = { method: 'WECHAT_PAY', channel: 'jsapi' } as const
export const MINI_PROGRAM_LOGIN_PATH = '/mp/api/auth/wechat-login'
