/**
 * Epay (彩虹易支付) adapter: MD5-signed page jumps (submit.php) or API creates (mapi.php), GET
 * notifies, api.php?act=order queries and act=refund refunds. Data mapping lives in ./transformers.ts;
 * this file is the flow (HTTP via undici).
 *
 * Epay has no close API: `close` only checks that the order is not paid yet, and the caller marks the
 * attempt CLOSED locally. The order stays payable at Epay, so a payment after that still arrives (by
 * notify or query) and is recorded as paid-after-close: the money was taken.
 *
 * A notify is signed with the merchant key, which the merchant's own servers also hold; with
 * `verifyByQuery` a notified payment is granted only after api.php confirms it (`confirmPayment`).
 */
import { request } from 'undici'
import type { EpayConfig } from './config.ts'
import {
  EPAY_CHANNELS,
  createParams,
  isEpayChannel,
  parseMapiAnswer,
  parseNotifyParams,
  parseOrderAnswer,
  parseRefundAnswer,
  presentMapi,
  signedParams,
  submitFormHtml,
  submitUrl,
  toEpayAmount,
  toEpayDevice,
  tradeFromNotify,
  verifyEpaySign,
} from './transformers.ts'
import {
  ProviderError,
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
import { epayAcknowledge } from './notify.ts'

/** What confirming a notified payment with api.php said (see PaymentProvider.confirmPayment). */
export type EpayConfirmation = { ok: true } | { ok: false; reason: 'QUERY_NOT_PAID' | 'QUERY_MISMATCH' | 'QUERY_FAILED' }

const FORM = 'application/x-www-form-urlencoded; charset=utf-8'

export function createEpayProvider(
  config: EpayConfig,
  opts: { publicUrl: string; timeoutMs: number },
): PaymentProvider & { confirmPayment(trade: ProviderTrade): Promise<EpayConfirmation> } {
  const notifyUrl = `${opts.publicUrl}/api/pay/notify/epay`
  const returnUrl = `${opts.publicUrl}/api/pay/return/epay`
  const endpoint = (file: string) => `${config.baseUrl}/${file}`

  /** One HTTP call answering JSON. The URL may carry the key (api.php): never put it in errors. */
  async function callJson(what: string, url: string, init: { method: 'GET' | 'POST'; form?: Record<string, string> }): Promise<unknown> {
    let text: string
    let status: number
    try {
      const res = await request(url, {
        method: init.method,
        headers: init.form ? { 'content-type': FORM } : {},
        body: init.form ? new URLSearchParams(init.form).toString() : undefined,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      })
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      const e = err as Error & { code?: string }
      throw new ProviderError(`易支付请求失败 (${what}): ${e.code ?? e.name}`, 'EPAY', { name: e.name, code: e.code })
    }
    if (status !== 200) throw new ProviderError(`易支付请求失败 (${what}): HTTP ${status}`, 'EPAY', { status, body: text.slice(0, 500) })
    try {
      // Some Epay sites prefix a UTF-8 BOM.
      return JSON.parse(text.replace(/^\uFEFF/, ''))
    } catch {
      throw new ProviderError(`易支付返回的不是 JSON (${what})`, 'EPAY', { status, body: text.slice(0, 500) })
    }
  }

  async function query(outTradeNo: string): Promise<QueryResult> {
    const url = `${endpoint('api.php')}?${new URLSearchParams({ act: 'order', pid: config.pid, key: config.key, out_trade_no: outTradeNo })}`
    const answer = parseOrderAnswer(await callJson('api.php?act=order', url, { method: 'GET' }), outTradeNo)
    if (answer.kind === 'not-found') return { found: false }
    if (answer.kind === 'error') throw new ProviderError(`易支付查询失败: ${answer.code} ${answer.msg}`, 'EPAY', answer, false)
    if (answer.trade.outTradeNo !== outTradeNo) throw new ProviderError('易支付查询结果的订单号不匹配', 'EPAY', answer, false)
    return { found: true, ...answer.trade }
  }

  function submitForm(input: CreatePaymentInput, type: (typeof EPAY_CHANNELS)[number]): CreatePaymentResult {
    const params = signedParams(
      createParams({
        pid: config.pid,
        type,
        outTradeNo: input.outTradeNo,
        notifyUrl,
        returnUrl,
        name: input.subject,
        amount: input.amount,
      }),
      config.key,
    )
    return {
      payType: 'form',
      formHtml: submitFormHtml(endpoint('submit.php'), params),
      paymentUrl: submitUrl(endpoint('submit.php'), params),
    }
  }

  return {
    name: 'EPAY',
    channels: EPAY_CHANNELS,

    async createPayment(input: CreatePaymentInput): Promise<CreatePaymentResult> {
      if (!isEpayChannel(input.channel)) throw new ProviderError(`unsupported Epay type ${input.channel}`, 'EPAY', undefined, false)
      if (config.createApi === 'submit') return submitForm(input, input.channel)
      const device = toEpayDevice(input.device)
      const params = signedParams(
        createParams(
          {
            pid: config.pid,
            type: input.channel,
            outTradeNo: input.outTradeNo,
            notifyUrl,
            returnUrl,
            name: input.subject,
            amount: input.amount,
          },
          // mapi.php requires the buyer's IP; a server-side create without one uses loopback.
          { clientIp: input.clientIp || '127.0.0.1', device },
        ),
        config.key,
      )
      const answer = parseMapiAnswer(await callJson('mapi.php', endpoint('mapi.php'), { method: 'POST', form: params }))
      if (!answer.ok) throw new ProviderError(`易支付下单失败: ${String(answer.code)} ${answer.msg}`, 'EPAY', answer, false)
      // An answer we cannot present (e.g. `html`): the same order through submit.php's page jump.
      return presentMapi(answer, device) ?? submitForm(input, input.channel)
    },

    query,

    async close(outTradeNo: string): Promise<CloseResult> {
      // No close API at Epay. If the order is already paid, say so (the caller records it); if Epay
      // cannot be asked, close locally anyway: a later payment is still recorded when it is notified.
      try {
        const trade = await query(outTradeNo)
        if (!trade.found) return { outcome: 'NOT_FOUND' }
        if (trade.state === 'SUCCEEDED' && trade.tradeNo && trade.amount !== null) return { outcome: 'ALREADY_PAID', trade }
      } catch {
        /* closed locally */
      }
      return { outcome: 'CLOSED' }
    },

    async refund(input: RefundInput): Promise<RefundResult> {
      const form = { pid: config.pid, key: config.key, out_trade_no: input.outTradeNo, money: toEpayAmount(input.amount) }
      const answer = parseRefundAnswer(await callJson('api.php?act=refund', `${endpoint('api.php')}?act=refund`, { method: 'POST', form }))
      if (answer.ok) return { refundNo: input.refundNo, amount: input.amount, state: 'SUCCEEDED', refundedAt: new Date() }
      // Epay has no refund number and refunds an order once (pay allows one refund per Epay attempt):
      // asking again after a lost answer is refused (`只支持退款已支付状态的订单`) although the first
      // request went through. So a refusal is checked against the order: refunded there (status 2) →
      // that refund was this one; still paid → a real refusal; cannot ask → unknown, stays pending.
      let order: QueryResult
      try {
        order = await query(input.outTradeNo)
      } catch (err) {
        throw new ProviderError(`易支付退款被拒且无法查询订单: ${(err as Error).message}`, 'EPAY', answer, true)
      }
      if (order.found && order.providerStatus === '2')
        return { refundNo: input.refundNo, amount: input.amount, state: 'SUCCEEDED', refundedAt: new Date() }
      const failureReason = `${String(answer.code)} ${answer.msg}`
      return { refundNo: input.refundNo, amount: input.amount, state: 'FAILED', refundedAt: null, failureReason }
    },

    verifyNotification(received: ReceivedNotification): NotificationVerdict {
      const contentType = (received.contentType ?? '').split(';')[0]!.trim().toLowerCase()
      // A GET notify has no content type (its query string is the raw body); a POST must be a form.
      const params = contentType === '' || contentType === 'application/x-www-form-urlencoded' ? parseNotifyParams(received.rawBody) : null
      if (!params) return { ok: false, reason: 'MALFORMED', outTradeNo: null }
      const outTradeNo = params.out_trade_no || null
      if (params.sign_type !== undefined && params.sign_type.toUpperCase() !== 'MD5')
        return { ok: false, reason: 'BAD_SIGNATURE', outTradeNo }
      if (!verifyEpaySign(params, config.key)) return { ok: false, reason: 'BAD_SIGNATURE', outTradeNo }
      if (params.pid !== config.pid) return { ok: false, reason: 'PID_MISMATCH', outTradeNo }
      const trade = tradeFromNotify(params)
      if (!trade) return { ok: false, reason: 'MALFORMED', outTradeNo }
      return { ok: true, trade }
    },

    /** With verifyByQuery: api.php must say the order is paid, under the same trade number and amount. */
    async confirmPayment(trade: ProviderTrade): Promise<EpayConfirmation> {
      if (!config.verifyByQuery) return { ok: true }
      let found: QueryResult
      try {
        found = await query(trade.outTradeNo)
      } catch {
        return { ok: false, reason: 'QUERY_FAILED' }
      }
      if (!found.found || found.state !== 'SUCCEEDED') return { ok: false, reason: 'QUERY_NOT_PAID' }
      if (found.amount !== trade.amount || (found.tradeNo !== null && found.tradeNo !== trade.tradeNo)) {
        return { ok: false, reason: 'QUERY_MISMATCH' }
      }
      return { ok: true }
    },

    acknowledge: epayAcknowledge,
  }
}
