/**
 * Alipay adapter (openapi gateway, RSA2) on the official alipay-sdk. Data mapping lives in
 * ./transformers.ts; this file is the flow.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { AlipaySdk, type AlipaySdkCommonResult } from 'alipay-sdk'
import type { AlipayConfig } from './config.ts'
import { createAlipayBillFetcher } from './bill.ts'
import {
  ALIPAY_CHANNELS,
  channelSpec,
  createBizContent,
  providerExpiry,
  isAlipayChannel,
  nameFormPunchout,
  parseFormBody,
  refundBizContent,
  refundOutcome,
  refundQuerySucceeded,
  tradeFromNotify,
  tradeFromQuery,
} from './transformers.ts'
import {
  ProviderError,
  type CloseResult,
  type CreatePaymentInput,
  type CreatePaymentResult,
  type NotificationVerdict,
  type PaymentProvider,
  type QueryResult,
  type ReceivedNotification,
  type RefundInput,
  type RefundResult,
} from '../types.ts'
import { alipayAcknowledge } from './notify.ts'

const SUCCESS_CODE = '10000'
const TRADE_NOT_EXIST = 'ACQ.TRADE_NOT_EXIST'
const TRADE_STATUS_ERROR = 'ACQ.TRADE_STATUS_ERROR'

export function createAlipayProvider(config: AlipayConfig, opts: { publicUrl: string; timeoutMs: number }): PaymentProvider {
  const sdk = new AlipaySdk({
    appId: config.appId,
    privateKey: config.privateKey,
    alipayPublicKey: config.publicKey,
    gateway: config.gateway,
    keyType: 'PKCS8',
    signType: 'RSA2',
    timeout: opts.timeoutMs,
    camelcase: true,
  })
  // The SDK keeps both keys as PEM text and hands them to node:crypto on every call, which parses the PEM again each
  // time: with OpenSSL 3 that parse cost more than the RSA signature itself (bench profile, 3/4 of pay's signing time).
  // Every use in the SDK passes the key straight to createSign/createVerify, which take a parsed KeyObject as well.
  const keyed = sdk.config as unknown as Record<'privateKey' | 'alipayPublicKey', string | KeyObject>
  keyed.privateKey = createPrivateKey(sdk.config.privateKey)
  if (sdk.config.alipayPublicKey) keyed.alipayPublicKey = createPublicKey(sdk.config.alipayPublicKey)
  const notifyUrl = `${opts.publicUrl}/api/pay/notify/alipay`
  const returnUrl = `${opts.publicUrl}/api/pay/return`

  /** Every gateway call verifies the response signature: without it a forged answer is accepted. */
  async function call(
    method: string,
    bizContent: Record<string, string>,
    extra: Record<string, string> = {},
  ): Promise<AlipaySdkCommonResult> {
    try {
      return await sdk.exec(method, { ...extra, bizContent }, { validateSign: true })
    } catch (err) {
      throw new ProviderError(`支付宝请求失败 (${method}): ${(err as Error).message.slice(0, 200)}`, 'ALIPAY', {
        name: (err as Error).name,
        cause: String((err as { cause?: unknown }).cause ?? ''),
      })
    }
  }

  /**
   * A business error answer. Alipay reports an outage as HTTP 200 with code 20000 (isp.unknow-error) or
   * sub_code ACQ.SYSTEM_ERROR: transient (nothing changes here, the call is retried); the rest are final.
   */
  function businessError(method: string, res: AlipaySdkCommonResult): ProviderError {
    const sub = res.subCode ?? res.sub_code
    const subMsg = res.subMsg ?? res.sub_msg
    const transient = res.code === '20000' || sub === 'ACQ.SYSTEM_ERROR' || sub === 'aop.ACQ.SYSTEM_ERROR'
    return new ProviderError(
      `支付宝返回错误 (${method}): ${res.code} ${sub ?? ''} ${subMsg ?? res.msg ?? ''}`.trim(),
      'ALIPAY',
      res,
      transient,
    )
  }

  const subCode = (res: AlipaySdkCommonResult): string | undefined => res.subCode ?? res.sub_code

  async function query(outTradeNo: string): Promise<QueryResult> {
    const res = await call('alipay.trade.query', { out_trade_no: outTradeNo })
    if (res.code !== SUCCESS_CODE) {
      if (subCode(res) === TRADE_NOT_EXIST) return { found: false }
      throw businessError('alipay.trade.query', res)
    }
    const trade = tradeFromQuery(res, outTradeNo)
    if (!trade) throw new ProviderError('支付宝查询结果不完整', 'ALIPAY', res)
    if (trade.outTradeNo !== outTradeNo) throw new ProviderError('支付宝查询结果的订单号不匹配', 'ALIPAY', res, false)
    return { found: true, ...trade }
  }

  return {
    name: 'ALIPAY',
    channels: ALIPAY_CHANNELS,

    async createPayment(input: CreatePaymentInput): Promise<CreatePaymentResult> {
      if (!isAlipayChannel(input.channel))
        throw new ProviderError(`unsupported Alipay channel ${input.channel}`, 'ALIPAY', undefined, false)
      const spec = channelSpec(input.channel)
      const providerExpireAt = providerExpiry(input.channel, input.expireAt)
      const bizContent = createBizContent(input.channel, { ...input, expireAt: providerExpireAt })
      if (spec.flow === 'page') {
        // Signed locally: no network call until the browser submits the form to the gateway.
        const params = { bizContent, notifyUrl, returnUrl }
        const formHtml = nameFormPunchout(sdk.pageExecute(spec.method, 'POST', params))
        const paymentUrl = sdk.pageExecute(spec.method, 'GET', params)
        return { payType: 'form', formHtml, paymentUrl, providerExpireAt }
      }
      const res = await call(spec.method, bizContent, { notifyUrl })
      if (res.code !== SUCCESS_CODE) throw businessError(spec.method, res)
      const qrCode = res.qrCode ?? res.qr_code
      if (typeof qrCode !== 'string' || !qrCode) throw new ProviderError('支付宝预下单未返回二维码', 'ALIPAY', res)
      return { payType: 'qrcode', qrCode, providerExpireAt }
    },

    query,

    async close(outTradeNo: string): Promise<CloseResult> {
      const res = await call('alipay.trade.close', { out_trade_no: outTradeNo })
      if (res.code === SUCCESS_CODE) return { outcome: 'CLOSED' }
      if (subCode(res) === TRADE_NOT_EXIST) return { outcome: 'NOT_FOUND' }
      if (subCode(res) === TRADE_STATUS_ERROR) {
        // Already paid, finished or closed: ask which.
        const trade = await query(outTradeNo)
        if (!trade.found) return { outcome: 'NOT_FOUND' }
        if (trade.state === 'SUCCEEDED') return { outcome: 'ALREADY_PAID', trade }
        if (trade.state === 'CLOSED') return { outcome: 'CLOSED' }
      }
      throw businessError('alipay.trade.close', res)
    },

    /**
     * alipay.trade.refund with out_request_no = refundNo (idempotent at Alipay). A repeat answers
     * without fund change, so success is then confirmed with alipay.trade.fastpay.refund.query.
     * Network failures and retryable codes throw (the caller keeps the refund pending and retries).
     */
    async refund(input: RefundInput): Promise<RefundResult> {
      const res = await call('alipay.trade.refund', refundBizContent(input))
      const outcome = refundOutcome(res)
      const base = { refundNo: input.refundNo, amount: input.amount }
      switch (outcome.kind) {
        case 'SUCCEEDED':
          return { ...base, state: 'SUCCEEDED', refundedAt: new Date() }
        case 'FAILED':
          return { ...base, state: 'FAILED', refundedAt: null, failureReason: outcome.reason }
        case 'RETRY':
          throw new ProviderError(`支付宝退款暂时失败: ${outcome.reason}`, 'ALIPAY', res, true)
        case 'CONFIRM': {
          const q = await call('alipay.trade.fastpay.refund.query', { out_trade_no: input.outTradeNo, out_request_no: input.refundNo })
          return refundQuerySucceeded(q, input.amount)
            ? { ...base, state: 'SUCCEEDED', refundedAt: new Date() }
            : { ...base, state: 'PENDING', refundedAt: null }
        }
      }
    },

    verifyNotification(received: ReceivedNotification): NotificationVerdict {
      const contentType = (received.contentType ?? '').split(';')[0]!.trim().toLowerCase()
      const params = contentType === 'application/x-www-form-urlencoded' ? parseFormBody(received.rawBody) : null
      if (!params) return { ok: false, reason: 'MALFORMED', outTradeNo: null }
      const outTradeNo = params.out_trade_no || null
      // Only RSA2: a notification must not pick a weaker algorithm (sign_type=RSA is SHA-1).
      if (!params.sign || (params.sign_type !== undefined && params.sign_type !== 'RSA2')) {
        return { ok: false, reason: 'BAD_SIGNATURE', outTradeNo }
      }
      let signed = false
      try {
        // V2 verifies the raw values; checkNotifySign URI-decodes them and throws on '%'.
        signed = sdk.checkNotifySignV2(params)
      } catch {
        signed = false
      }
      if (!signed) return { ok: false, reason: 'BAD_SIGNATURE', outTradeNo }
      if (params.app_id !== config.appId) return { ok: false, reason: 'APP_ID_MISMATCH', outTradeNo }
      const trade = tradeFromNotify(params)
      if (!trade) return { ok: false, reason: 'MALFORMED', outTradeNo }
      return { ok: true, trade }
    },

    fetchBill: createAlipayBillFetcher(sdk, { timeoutMs: opts.timeoutMs }),

    acknowledge: alipayAcknowledge,
  }
}
