/**
 * WeChat Pay API v3 adapter on wechatpay-node-v3 (request signing, JSAPI paySign). Data mapping
 * lives in ./transformers.ts, signatures and AEAD in ./signature.ts; this file is the flow.
 *
 * The SDK hard-codes https://api.mch.weixin.qq.com and verifies nothing it receives, so its HTTP
 * service is replaced (`createHttp`): requests go to WECHAT_BASE_URL (request signatures cover the
 * path only, so they stay valid), and every answer's Wechatpay-Signature is checked against the
 * platform certificate or WeChat Pay public key its Wechatpay-Serial names before the SDK or this
 * adapter reads a byte of it.
 */
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import Pay from 'wechatpay-node-v3'
import { AppError } from '@paysys/contracts'
import type { WechatConfig } from './config.ts'
import { createWechatBillFetcher } from './bill.ts'
import { decryptResource, platformCertFromPem, verifySignedMessage, wechatPublicKeyFromPem, type PlatformCert } from './signature.ts'
import {
  WECHAT_CHANNELS,
  createProblem,
  errorOf,
  h5Body,
  isWechatChannel,
  jsapiBody,
  parseNotifyEnvelope,
  refundFromAnswer,
  refundFromNotice,
  refundRefusedForGood,
  toWechatTotal,
  tradeFromTransaction,
  transactionBody,
  transactionOwner,
  wechatExpiry,
} from './transformers.ts'
import {
  ProviderError,
  TradeNumberTakenError,
  type CloseResult,
  type CreatePaymentInput,
  type CreatePaymentResult,
  type NotificationVerdict,
  type PaymentProvider,
  type ProviderTrade,
  type QueryResult,
  type ReceivedNotification,
  type RefundInput,
  type RefundResult,
} from '../types.ts'
import { wechatAcknowledge } from './notify.ts'

/** The host the SDK writes into every URL; replaced by WECHAT_BASE_URL. */
const WECHAT_HOST = 'https://api.mch.weixin.qq.com'
const USER_AGENT = 'paysys-pay wechatpay-node-v3'
/** Re-download /v3/certificates at most this often (unknown serials would otherwise trigger it at will). */
const CERT_REFRESH_MIN_MS = 30_000

/** What the SDK's HTTP service returns (its `Output`). */
interface Output {
  status: number
  // The SDK's own Output types these as any: what WeChat answered, read field by field below.
  data?: any // eslint-disable-line @typescript-eslint/no-explicit-any
  error?: any // eslint-disable-line @typescript-eslint/no-explicit-any
  /**
   * An error answer without a signature that verifies. WeChat signs answers to requests whose own
   * signature it verified; one it could not verify (401 SIGN_ERROR), a gateway or a proxy answers
   * unsigned. Such an answer is an error whose content proves nothing: it never changes a state.
   */
  unverified?: boolean
}

interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

export interface WechatProvider extends PaymentProvider {
  /** A refund's current state by out_refund_no; null when WeChat does not know it. */
  queryRefund(refundNo: string): Promise<RefundResult | null>
}

export function createWechatProvider(config: WechatConfig, opts: { publicUrl: string; timeoutMs: number }): WechatProvider {
  const sdk = new Pay({
    appid: config.appId,
    mchid: config.mchId,
    publicKey: Buffer.from(config.merchantCert),
    privateKey: Buffer.from(config.privateKey),
    serial_no: config.merchantSerial,
    key: config.apiV3Key,
    userAgent: USER_AGENT,
  })
  const notifyUrl = `${opts.publicUrl}/api/pay/notify/wechat`
  const returnUrl = (outTradeNo: string) => `${opts.publicUrl}/api/pay/return?out_trade_no=${encodeURIComponent(outTradeNo)}`

  // ---- verification keys: the configured platform certificate and/or WeChat Pay public key (either,
  // by serial, while WeChat migrates a merchant), else the certificates /v3/certificates carries ----
  const configuredKeys = [
    ...(config.platformCert ? [platformCertFromPem(config.platformCert)] : []),
    ...(config.publicKey && config.publicKeyId ? [wechatPublicKeyFromPem(config.publicKeyId, config.publicKey)] : []),
  ]
  const configured = configuredKeys.length ? new Map(configuredKeys.map((k) => [k.serial, k])) : null
  let downloaded = new Map<string, PlatformCert>()
  let refreshing: Promise<void> | undefined
  let lastRefresh = 0
  const certFor = (serial: string): PlatformCert | null => (configured ?? downloaded).get(serial) ?? null

  const fail = (message: string, raw?: unknown, retryable = true) => new ProviderError(message, 'WECHAT_PAY', raw, retryable)

  async function exchange(method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
    const path = url.startsWith(WECHAT_HOST) ? url.slice(WECHAT_HOST.length) : url
    if (!path.startsWith('/v3/')) throw fail(`unexpected WeChat Pay URL ${url.slice(0, 100)}`, undefined, false)
    // Plain bodies: undici does not inflate gzip.
    const sent = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'accept-encoding'))
    try {
      const res = await request(`${config.baseUrl}${path}`, {
        method,
        headers: { ...sent, 'accept-encoding': 'identity' },
        body,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      })
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
    } catch (err) {
      const e = err as Error & { code?: string }
      throw fail(`微信支付请求失败 (${method} ${path.split('?')[0]}): ${e.code ?? e.name} ${e.message}`.slice(0, 300))
    }
  }

  /** Downloads /v3/certificates: each certificate is AES-256-GCM encrypted with the APIv3 key (tag checked). */
  async function downloadCertificates(): Promise<void> {
    const nonce = randomBytes(16).toString('hex')
    const timestamp = String(Math.floor(Date.now() / 1000))
    const signature = sdk.getSignature('GET', nonce, timestamp, '/v3/certificates')
    const answer = await exchange('GET', '/v3/certificates', {
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
      Authorization: sdk.getAuthorization(nonce, timestamp, signature),
    })
    if (answer.status !== 200) throw fail(`下载微信支付平台证书失败: HTTP ${answer.status}`, errorOf(answer.text))
    const fresh = new Map<string, PlatformCert>()
    try {
      const items = (JSON.parse(answer.text) as { data?: unknown }).data
      for (const item of Array.isArray(items) ? items : []) {
        const pem = decryptResource(item.encrypt_certificate ?? {}, config.apiV3Key)
        const cert = platformCertFromPem(pem)
        if (String(item.serial_no).toUpperCase() === cert.serial) fresh.set(cert.serial, cert)
      }
    } catch (err) {
      throw fail(`微信支付平台证书无法解密: ${(err as Error).message}`, undefined, false)
    }
    // The answer is signed with one of the certificates it carries (which only WeChat could encrypt for us).
    const check = verifySignedMessage(answer.headers, answer.text, (s) => fresh.get(s) ?? null)
    if (!check.ok) throw fail(`微信支付平台证书应答验签失败 (${check.reason})`, undefined, false)
    downloaded = new Map([...downloaded, ...fresh])
  }

  function refreshCertificates(): Promise<void> {
    if (configured) return Promise.resolve()
    if (!refreshing && Date.now() - lastRefresh >= CERT_REFRESH_MIN_MS) {
      lastRefresh = Date.now()
      refreshing = downloadCertificates().finally(() => (refreshing = undefined))
    }
    return refreshing ?? Promise.resolve()
  }

  /**
   * Verifies the answer's signature, then hands it to the SDK in its `Output` shape. A 2xx must be
   * signed; an error answer may not be (as wechatpay-go's core/client.go, which checks the status
   * before verifying): it is passed on as `unverified`, and its content decides nothing.
   */
  async function verified(answer: RawAnswer): Promise<Output> {
    const success = answer.status >= 200 && answer.status < 300
    const signed = answer.headers['wechatpay-signature'] !== undefined
    if (!success && !signed) return { status: answer.status, error: answer.text, unverified: true }
    let check = verifySignedMessage(answer.headers, answer.text, certFor)
    if (!check.ok && check.reason === 'SERIAL_MISMATCH' && !configured) {
      await refreshCertificates()
      check = verifySignedMessage(answer.headers, answer.text, certFor)
    }
    if (!check.ok && !success) return { status: answer.status, error: answer.text, unverified: true }
    // Unverifiable proves nothing either way (a broken proxy, a cut-off answer): retryable, so a refund stays PENDING.
    if (!check.ok) throw fail(`微信支付应答验签失败 (${check.reason})`, { status: answer.status })
    let data: unknown = {}
    if (answer.text) {
      try {
        data = JSON.parse(answer.text)
      } catch {
        throw fail('微信支付应答不是 JSON', { status: answer.status })
      }
    }
    return success ? { status: answer.status, data } : { status: answer.status, data, error: answer.text }
  }

  sdk.createHttp({
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the SDK's own signature for its HTTP service
    post: async (url: string, params: Record<string, any>, headers: Record<string, string>) =>
      // The same JSON.stringify the SDK signed.
      verified(await exchange('POST', url, headers, JSON.stringify(params))),
    get: async (url: string, headers: Record<string, string>) => verified(await exchange('GET', url, headers)),
    upload: async () => {
      throw fail('upload is not used', undefined, false)
    },
  })

  async function call(what: string, fn: () => Promise<Output>): Promise<Output> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof ProviderError) throw err
      throw fail(`微信支付请求失败 (${what}): ${(err as Error).message}`.slice(0, 300))
    }
  }

  /** An error answer: retryable when WeChat failed (5xx), limits the rate (429), or did not sign it. */
  function businessError(what: string, res: Output, retryable = false): ProviderError {
    const e = errorOf(res.error ?? res.data)
    const unverified = res.unverified ? ' (未签名)' : ''
    return fail(
      `微信支付返回错误 (${what}): HTTP ${res.status}${unverified} ${e.code} ${e.message}`.trim(),
      { status: res.status, ...e, ...(res.unverified ? { unverified: true } : {}) },
      retryable || res.status >= 500 || res.status === 429 || !!res.unverified,
    )
  }

  /** A refused create: 商户订单号重复 (the number was first used with other parameters) is its own error. */
  function createError(what: string, res: Output): ProviderError {
    const e = errorOf(res.error ?? res.data)
    const taken = e.code === 'OUT_TRADE_NO_USED' || (e.code === 'INVALID_REQUEST' && e.message.includes('商户订单号重复'))
    if (taken && !res.unverified && res.status === 400)
      return new TradeNumberTakenError(`微信支付返回错误 (${what}): HTTP 400 ${e.code} ${e.message}`, 'WECHAT_PAY', e)
    return businessError(what, res)
  }

  /** A transaction answer is believed only for our merchant, our app and the trade we asked about. */
  function ownTrade(data: unknown, outTradeNo: string): ProviderTrade {
    const owner = transactionOwner(data)
    if (owner.mchid !== config.mchId || owner.appid !== config.appId) throw fail('微信支付查询结果的商户号或 AppID 不匹配', owner, false)
    const trade = tradeFromTransaction(data)
    if (!trade) throw fail('微信支付查询结果不完整', undefined)
    if (trade.outTradeNo !== outTradeNo) throw fail('微信支付查询结果的订单号不匹配', undefined, false)
    return trade
  }

  function validateCreate(input: { channel: string; openid?: string; clientIp?: string }): void {
    const problem = createProblem(input)
    if (problem) throw new AppError(400, 'INVALID_PARAMS', problem)
  }

  async function queryRefund(refundNo: string): Promise<RefundResult | null> {
    const res = await call('find_refunds', () => sdk.find_refunds(refundNo))
    // Unknown to WeChat, or an unsigned 404: either way asking to refund with the same out_refund_no is safe.
    if (res.status === 404) return null
    if (res.status !== 200) throw businessError('find_refunds', res)
    const refund = refundFromAnswer(res.data)
    if (!refund || refund.refundNo !== refundNo) throw fail('微信支付退款查询应答不完整', undefined)
    return refund
  }

  async function query(outTradeNo: string): Promise<QueryResult> {
    const res = await call('query', () => sdk.query({ out_trade_no: outTradeNo }))
    if (res.status === 404 && !res.unverified && errorOf(res.error).code === 'ORDER_NOT_EXIST') return { found: false }
    if (res.status !== 200) throw businessError('query', res)
    return { found: true, ...ownTrade(res.data, outTradeNo) }
  }

  return {
    name: 'WECHAT_PAY',
    channels: WECHAT_CHANNELS,

    validateCreate,

    async createPayment(input: CreatePaymentInput): Promise<CreatePaymentResult> {
      if (!isWechatChannel(input.channel)) throw fail(`unsupported WeChat Pay channel ${input.channel}`, undefined, false)
      validateCreate(input)
      const channel = input.channel
      const what = `transactions/${channel}`
      const providerExpireAt = wechatExpiry(channel, input.expireAt)
      const made = { ...input, expireAt: providerExpireAt }
      const expiry = providerExpireAt ? { providerExpireAt } : {}
      if (channel === 'native') {
        const res = await call(what, () => sdk.transactions_native(transactionBody(made, notifyUrl)))
        if (res.status !== 200) throw createError(what, res)
        if (typeof res.data?.code_url !== 'string' || !res.data.code_url) throw fail('微信支付下单未返回 code_url', res.data)
        return { payType: 'qrcode', qrCode: res.data.code_url, ...expiry }
      }
      if (channel === 'h5') {
        const res = await call(what, () => sdk.transactions_h5(h5Body({ ...made, clientIp: input.clientIp! }, notifyUrl)))
        if (res.status !== 200) throw createError(what, res)
        const h5Url = res.data?.h5_url
        if (typeof h5Url !== 'string' || !/^https?:\/\//.test(h5Url)) throw fail('微信支付下单未返回 h5_url', res.data)
        // WeChat's H5 cashier sends the buyer back to redirect_url when done.
        return {
          payType: 'jump',
          paymentUrl: `${h5Url}${h5Url.includes('?') ? '&' : '?'}redirect_url=${encodeURIComponent(returnUrl(input.outTradeNo))}`,
          ...expiry,
        }
      }
      // jsapi: the SDK turns the prepay_id into the signed parameters for WeixinJSBridge / wx.chooseWXPay.
      const res = await call(what, () => sdk.transactions_jsapi(jsapiBody({ ...made, openid: input.openid! }, notifyUrl)))
      if (res.status !== 200) throw createError(what, res)
      const p = res.data as Record<string, unknown> | undefined
      const keys = ['appId', 'timeStamp', 'nonceStr', 'package', 'signType', 'paySign'] as const
      if (!p || keys.some((k) => typeof p[k] !== 'string' || !p[k]) || !String(p.package).startsWith('prepay_id=')) {
        throw fail('微信支付下单未返回 prepay_id', undefined)
      }
      return { payType: 'jsapi', jsapiParams: Object.fromEntries(keys.map((k) => [k, String(p[k])])), ...expiry }
    },

    query,

    async close(outTradeNo: string): Promise<CloseResult> {
      const res = await call('close', () => sdk.close(outTradeNo))
      if (res.unverified) throw businessError('close', res)
      if (res.status === 204 || res.status === 200) return { outcome: 'CLOSED' }
      if (res.status === 404 && errorOf(res.error).code === 'ORDER_NOT_EXIST') return { outcome: 'NOT_FOUND' }
      if (res.status === 400 || res.status === 403) {
        // Paid (ORDERPAID) or already closed: ask which.
        const trade = await query(outTradeNo)
        if (!trade.found) return { outcome: 'NOT_FOUND' }
        if (trade.state === 'SUCCEEDED') return { outcome: 'ALREADY_PAID', trade }
        if (trade.state === 'CLOSED') return { outcome: 'CLOSED' }
      }
      throw businessError('close', res)
    },

    /**
     * POST /v3/refund/domestic/refunds with out_refund_no = refundNo. A refund WeChat already has
     * (asked again while pending, or its answer was lost) is answered from the refund query. Only a
     * signed answer proving the refund did not and will not happen is FAILED (refund-guide: retry
     * with the same out_refund_no); everything else — an error on the reads before the create,
     * 403/429/5xx, unsigned answers, timeouts — throws retryable and the refund stays PENDING.
     */
    async refund(input: RefundInput): Promise<RefundResult> {
      const failed = (reason: string): RefundResult => ({
        refundNo: input.refundNo,
        amount: input.amount,
        state: 'FAILED',
        refundedAt: null,
        failureReason: reason,
      })
      // A read cannot prove that an earlier create (whose answer was lost) was not accepted.
      const read = async <T>(fn: () => Promise<T>): Promise<T> => {
        try {
          return await fn()
        } catch (err) {
          if (err instanceof ProviderError && !err.retryable) throw fail(err.message, err.raw)
          throw err
        }
      }
      const known = await read(() => queryRefund(input.refundNo))
      if (known) return known.amount === input.amount ? known : failed(`out_refund_no 已用于 ${known.amount} 分的退款`)
      // WeChat wants the order's total with every refund: take it from the signed query answer.
      const trade = await read(() => query(input.outTradeNo))
      // Signed ORDER_NOT_EXIST (an unsigned 404 threw above): no trade, so no refund of it either.
      if (!trade.found) return failed('ORDER_NOT_EXIST 订单不存在')
      if (trade.amount === null || !['SUCCESS', 'REFUND'].includes(trade.providerStatus))
        return failed(`订单未支付 (${trade.providerStatus})`)
      const total = trade.amount
      const res = await call('refunds', () =>
        sdk.refunds({
          out_trade_no: input.outTradeNo,
          out_refund_no: input.refundNo,
          // Refund notifies (REFUND.*) come to the payment notify route; without it WeChat sends them to the merchant platform's URL.
          notify_url: notifyUrl,
          ...(input.reason ? { reason: [...input.reason].slice(0, 80).join('') } : {}),
          amount: { refund: toWechatTotal(input.amount), total, currency: 'CNY' },
        }),
      )
      if (res.status !== 200) {
        const e = errorOf(res.error ?? res.data)
        if (res.unverified || !refundRefusedForGood(res.status, e.code)) throw businessError('refunds', res, true)
        return failed(`${e.code} ${e.message}`.trim())
      }
      const refund = refundFromAnswer(res.data)
      if (!refund || refund.refundNo !== input.refundNo) throw fail('微信支付退款应答不完整', undefined)
      return refund
    },

    queryRefund,

    verifyNotification(received: ReceivedNotification): NotificationVerdict {
      const check = verifySignedMessage(received.headers, received.rawBody, certFor)
      if (!check.ok) {
        // A rotated platform certificate: fetch the new one now, WeChat retries the notify later.
        if (check.reason === 'SERIAL_MISMATCH' && !configured) void refreshCertificates().catch(() => undefined)
        return { ok: false, reason: check.reason, outTradeNo: null }
      }
      const envelope = parseNotifyEnvelope(received.rawBody)
      if (!envelope) return { ok: false, reason: 'MALFORMED', outTradeNo: null }
      // Payment notifies (TRANSACTION.*) carry a transaction, refund notifies (REFUND.*) a refund.
      const kind = envelope.eventType.startsWith('TRANSACTION.')
        ? 'transaction'
        : envelope.eventType.startsWith('REFUND.')
          ? 'refund'
          : null
      if (!kind || envelope.resource.original_type !== kind) return { ok: false, reason: 'UNSUPPORTED_EVENT', outTradeNo: null }
      let plain: string
      try {
        plain = decryptResource(envelope.resource, config.apiV3Key)
      } catch {
        return { ok: false, reason: 'DECRYPT_FAILED', outTradeNo: null }
      }
      let tx: unknown
      try {
        tx = JSON.parse(plain)
      } catch {
        return { ok: false, reason: 'MALFORMED', outTradeNo: null }
      }
      const outTradeNo =
        typeof (tx as { out_trade_no?: unknown })?.out_trade_no === 'string' ? (tx as { out_trade_no: string }).out_trade_no : null
      const owner = transactionOwner(tx)
      if (owner.mchid !== config.mchId) return { ok: false, reason: 'MCHID_MISMATCH', outTradeNo }
      // A refund belongs to the merchant: its notify names no appid.
      if (kind === 'refund') {
        const refund = refundFromNotice(envelope.eventType, tx)
        return refund ? { ok: true, refund } : { ok: false, reason: 'MALFORMED', outTradeNo }
      }
      if (owner.appid !== config.appId) return { ok: false, reason: 'APPID_MISMATCH', outTradeNo }
      const trade = tradeFromTransaction(tx)
      if (!trade) return { ok: false, reason: 'MALFORMED', outTradeNo }
      return { ok: true, trade }
    },

    fetchBill: createWechatBillFetcher({ sdk, baseUrl: config.baseUrl, timeoutMs: opts.timeoutMs, call }),
    // WeChat's format page: 交易时间 is "发起退款成功时间（不是退款成功时间）", 退款状态 frozen when the bill is made.
    billRefundDay: 'ACCEPTED',

    acknowledge: wechatAcknowledge,
  }
}
