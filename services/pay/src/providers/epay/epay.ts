/**
 * Epay (彩虹易支付) adapter. V1 (default): MD5-signed page jumps (submit.php) or API creates (mapi.php), GET
 * notifies, api.php?act=order queries and act=refund refunds. V2 (EPAY_API_VERSION=2): the same flows
 * over `api/pay/submit|create|query|refund`, RSA-signed both ways (answers and notifies verified with
 * Epay's platform key), `method`/`device` passed through and `pay_type`/`pay_info` answered as they came.
 * Data mapping lives in ./transformers.ts and ./transformers-v2.ts; this file is the flow.
 *
 * Epay has no close API: `close` only checks that the order is not paid yet, and the caller marks the
 * attempt CLOSED locally. The order stays payable at Epay, so a payment after that still arrives (by
 * notify or query) and is recorded as paid-after-close: the money was taken.
 *
 * A notify is signed with the merchant key, which the merchant's own servers also hold; with
 * `verifyByQuery` a notified payment is granted only after api.php confirms it (`confirmPayment`).
 */
import { epayCallJson } from './http.ts'
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
  type EpayChannel,
} from './transformers.ts'
import { parseV2Create, presentV2, signedV2Params, v2AsV1, verifyV2Sign } from './transformers-v2.ts'
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

/** A refund refusal that can go through later: the merchant's Epay balance is short (商户余额不足). */
export function isTransientRefusal(msg: string): boolean {
  return /余额不足/.test(msg)
}

/** What confirming a notified payment with api.php said (see PaymentProvider.confirmPayment). */
export type EpayConfirmation = { ok: true } | { ok: false; reason: 'QUERY_NOT_PAID' | 'QUERY_MISMATCH' | 'QUERY_FAILED' }

export function createEpayProvider(
  config: EpayConfig,
  opts: { publicUrl: string; timeoutMs: number },
): PaymentProvider & { confirmPayment(trade: ProviderTrade): Promise<EpayConfirmation> } {
  const notifyUrl = `${opts.publicUrl}/api/pay/notify/epay`
  const returnUrl = `${opts.publicUrl}/api/pay/return/epay`
  const endpoint = (file: string) => `${config.baseUrl}/${file}`
  const v2 = config.apiVersion === 2 ? (config.v2 ?? null) : null
  if (config.apiVersion === 2 && !v2) throw new Error('Epay V2 needs its RSA keys')

  const callJson = (what: string, url: string, init: { method: 'GET' | 'POST'; form?: Record<string, string> }) =>
    epayCallJson(opts.timeoutMs, what, url, init)
  /** V2: a signed POST to api/pay/{action}, its answer checked against Epay's signature and read as V1's. */
  async function callV2(action: 'query' | 'refund', form: Record<string, string>) {
    const signed = signedV2Params({ pid: config.pid, ...form }, v2!.merchantPrivateKey)
    return v2AsV1(
      await callJson(`api/pay/${action}`, endpoint(`api/pay/${action}`), { method: 'POST', form: signed }),
      v2!.platformPublicKey,
    )
  }

  async function query(outTradeNo: string): Promise<QueryResult> {
    let body: unknown
    if (v2) {
      const r = await callV2('query', { out_trade_no: outTradeNo })
      if (r.kind === 'not-found') return { found: false }
      if (r.kind === 'error') throw new ProviderError(`易支付查询失败: ${String(r.code)} ${r.msg}`, 'EPAY', r, false)
      body = r.body
    } else {
      const url = `${endpoint('api.php')}?${new URLSearchParams({ act: 'order', pid: config.pid, key: config.key, out_trade_no: outTradeNo })}`
      body = await callJson('api.php?act=order', url, { method: 'GET' })
    }
    const answer = parseOrderAnswer(body, outTradeNo)
    if (answer.kind === 'not-found') return { found: false }
    if (answer.kind === 'error') throw new ProviderError(`易支付查询失败: ${answer.code} ${answer.msg}`, 'EPAY', answer, false)
    if (answer.trade.outTradeNo !== outTradeNo) throw new ProviderError('易支付查询结果的订单号不匹配', 'EPAY', answer, false)
    return { found: true, ...answer.trade }
  }

  function orderFields(input: CreatePaymentInput, type: EpayChannel) {
    return { pid: config.pid, type, outTradeNo: input.outTradeNo, notifyUrl, returnUrl, name: input.subject, amount: input.amount }
  }

  /** The page jump (V1 submit.php, V2 api/pay/submit): the buyer's browser reaches Epay, which sees the buyer's own IP. */
  function submitForm(input: CreatePaymentInput, type: EpayChannel): CreatePaymentResult {
    const action = v2 ? endpoint('api/pay/submit') : endpoint('submit.php')
    const fields = createParams(orderFields(input, type))
    const params = v2 ? signedV2Params(fields, v2.merchantPrivateKey) : signedParams(fields, config.key)
    return { payType: 'form', formHtml: submitFormHtml(action, params), paymentUrl: submitUrl(action, params) }
  }

  /** V2 api/pay/create: `method` and `device` passed as given; Epay's pay_type/pay_info answered as they came. */
  async function createV2(input: CreatePaymentInput, type: EpayChannel, clientIp: string): Promise<CreatePaymentResult> {
    const fields = createParams(orderFields(input, type), { clientIp, device: toEpayDevice(input.device) })
    const method = input.interfaceType ?? 'web'
    const signed = signedV2Params({ ...fields, method }, v2!.merchantPrivateKey)
    const answer = parseV2Create(
      await callJson('api/pay/create', endpoint('api/pay/create'), { method: 'POST', form: signed }),
      v2!.platformPublicKey,
    )
    if (!answer.ok) throw new ProviderError(`易支付下单失败: ${String(answer.code)} ${answer.msg}`, 'EPAY', answer, false)
    const presented = presentV2(answer)
    if (!presented) throw new ProviderError(`易支付返回了网页无法使用的支付方式: ${answer.payType}`, 'EPAY', answer, false)
    return presented
  }

  async function createEpayPayment(input: CreatePaymentInput): Promise<CreatePaymentResult> {
    if (!isEpayChannel(input.channel)) throw new ProviderError(`unsupported Epay type ${input.channel}`, 'EPAY', undefined, false)
    // mapi.php and api/pay/create need the buyer's IP (Epay's pay_iplimit counts payments per IP): never
    // a stand-in like 127.0.0.1, which every buyer would share. Unknown → the page jump, where Epay sees the browser.
    const clientIp = input.clientIp?.trim()
    if (config.createApi === 'submit' || !clientIp) return submitForm(input, input.channel)
    if (v2) return createV2(input, input.channel, clientIp)
    // V1 has no `method`: a jump is asked for with device=jump (Epay then answers the jump URL).
    const device = input.interfaceType === 'jump' ? 'jump' : toEpayDevice(input.device)
    const params = signedParams(createParams(orderFields(input, input.channel), { clientIp, device }), config.key)
    const answer = parseMapiAnswer(await callJson('mapi.php', endpoint('mapi.php'), { method: 'POST', form: params }))
    if (!answer.ok) throw new ProviderError(`易支付下单失败: ${String(answer.code)} ${answer.msg}`, 'EPAY', answer, false)
    // An answer we cannot present (e.g. `html`): the same order through submit.php's page jump.
    return presentMapi(answer, device) ?? submitForm(input, input.channel)
  }

  return {
    name: 'EPAY',
    channels: EPAY_CHANNELS,

    /**
     * Epay takes no expiry and documents no lifetime for what it answers (its QR code or page), and has
     * no close: the provider payment is taken to live as long as the order (`providerExpireAt`).
     */
    async createPayment(input: CreatePaymentInput): Promise<CreatePaymentResult> {
      const made = await createEpayPayment(input)
      return input.expireAt ? { ...made, providerExpireAt: input.expireAt } : made
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
      const money = toEpayAmount(input.amount)
      let answer: ReturnType<typeof parseRefundAnswer>
      if (v2) {
        const r = await callV2('refund', { out_trade_no: input.outTradeNo, money, out_refund_no: input.refundNo })
        answer =
          r.kind === 'ok'
            ? { ok: true }
            : r.kind === 'not-found'
              ? { ok: false, code: -1, msg: '订单不存在' }
              : { ok: false, code: r.code, msg: r.msg }
      } else {
        const form = { pid: config.pid, key: config.key, out_trade_no: input.outTradeNo, money }
        answer = parseRefundAnswer(await callJson('api.php?act=refund', `${endpoint('api.php')}?act=refund`, { method: 'POST', form }))
      }
      if (answer.ok) return { refundNo: input.refundNo, amount: input.amount, state: 'SUCCEEDED', refundedAt: new Date() }
      // The merchant's Epay balance cannot cover it now (商户余额不足): it can once the balance is topped up,
      // so the refund stays pending and is asked again; every other refusal is final.
      if (isTransientRefusal(answer.msg)) {
        return {
          refundNo: input.refundNo,
          amount: input.amount,
          state: 'PENDING',
          refundedAt: null,
          failureReason: `${String(answer.code)} ${answer.msg}`,
        }
      }
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
      // A V2 operator's notifies are RSA-signed by Epay (its platform key); V1's with the shared MD5 key.
      const signType = (params.sign_type ?? (v2 ? 'RSA' : 'MD5')).toUpperCase()
      if (signType !== (v2 ? 'RSA' : 'MD5')) return { ok: false, reason: 'BAD_SIGNATURE', outTradeNo }
      if (!(v2 ? verifyV2Sign(params, v2.platformPublicKey) : verifyEpaySign(params, config.key)))
        return { ok: false, reason: 'BAD_SIGNATURE', outTradeNo }
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
