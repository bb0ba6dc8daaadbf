/**
 * The pay service's use cases, between the thin routes and the repository/providers:
 * start a payment, report (and actively refresh) its status, close it, and handle a provider
 * notification. A payment proven by a notify and one proven by an active query are recorded by
 * the same function (`recordProven`).
 */
import type { FastifyBaseLogger } from 'fastify'
import {
  AppError,
  type CreatePaymentRequest,
  type CreatePaymentResponse,
  type PayMethodInfo,
  type PaymentStatusResponse,
} from '@paysys/contracts'
import {
  currentAttempt,
  type Attempt,
  type NotifyVerdict,
  type PaymentsRepo,
  type PrepareOutcome,
  type VerifiedPayment,
} from './payments.ts'
import { methodInfos } from './providers/module.ts'
import { isProviderName, PROVIDER_MODULES } from './providers/index.ts'
import {
  TradeNumberTakenError,
  type NotifyAcknowledgement,
  type PaymentProvider,
  type ProviderName,
  type ProviderRegistry,
  type ProviderTrade,
  type ReceivedNotification,
  type RefundNotice,
} from './providers/types.ts'

export const ORDER_NO_RE = /^[A-Za-z0-9_-]{6,64}$/

/** Stored notification bodies are capped (the route's body limit is the real bound). */
const MAX_LOGGED_BODY = 64 * 1024

export type CloseOutcome = { kind: 'CLOSED'; orderNo: string; status: string } | { kind: 'PAID'; status: PaymentStatusResponse }

export interface NotifyHandled {
  ack: NotifyAcknowledgement
  verdict: NotifyVerdict
  reason: string | null
}

/**
 * The answer to a notification for a provider this instance has not configured: 503, so the
 * provider retries later (some providers stop retrying on any 2xx; a half-rolled-out configuration must
 * not lose a payment notification).
 */
const GENERIC_FAILURE: NotifyAcknowledgement = { status: 503, contentType: 'text/plain; charset=utf-8', body: 'failure' }

export function toStatusResponse(a: Attempt): PaymentStatusResponse {
  return {
    orderNo: a.orderNo,
    outTradeNo: a.outTradeNo,
    status: a.status,
    paidAt: a.paidAt ? a.paidAt.toISOString() : null,
    tradeNo: a.tradeNo,
    amount: a.amount,
    method: a.provider,
    channel: a.channel,
  }
}

export function createPaymentFlows(deps: {
  repo: PaymentsRepo
  providers: ProviderRegistry
  log: FastifyBaseLogger
  /** Called with the event id after an event was queued for main (server.ts wakes the delivery loop). */
  onEventQueued?: (eventId: string) => void
  /** Called with every notification's verdict (metrics). */
  onNotification?: (provider: string, handled: NotifyHandled) => void
  /** Applies a verified refund notify (the refund flows' applyNotice). */
  applyRefundNotice?: (provider: ProviderName, notice: RefundNotice) => Promise<{ verdict: NotifyVerdict; reason: string | null }>
  /** Called with the refund number after a duplicate payment's refund was reserved (app.ts sends it). */
  onDuplicatePayment?: (refundNo: string) => void
}) {
  const { repo, providers, log } = deps

  /** Records a payment the provider proved; the outcome tells the caller what happened. */
  async function recordProven(p: VerifiedPayment) {
    const result = await repo.recordPayment(p)
    switch (result.outcome) {
      case 'RECORDED':
        log.info(
          {
            orderNo: result.attempt.orderNo,
            outTradeNo: p.outTradeNo,
            tradeNo: p.tradeNo,
            via: p.via,
            eventId: result.event?.eventId ?? null,
            afterClose: result.afterClose,
          },
          'payment recorded',
        )
        if (result.duplicateRefundNo) {
          // Paid twice (an old trade still payable, two channels): the later payment goes back by itself.
          log.warn(
            {
              orderNo: result.attempt.orderNo,
              paidAttempts: [result.attempt.id, ...result.otherPaid.map((a) => a.id)],
              refundNo: result.duplicateRefundNo,
            },
            'order paid more than once: refunding the later payment',
          )
          deps.onDuplicatePayment?.(result.duplicateRefundNo)
        }
        if (result.event) deps.onEventQueued?.(result.event.eventId)
        break
      case 'AMOUNT_MISMATCH':
        log.error(
          {
            orderNo: result.attempt.orderNo,
            outTradeNo: p.outTradeNo,
            provider: p.provider,
            paid: p.amount,
            expected: result.attempt.amount,
            via: p.via,
          },
          'provider reports a different amount: not recorded',
        )
        break
      case 'TRADE_NO_CONFLICT':
        log.error(
          { orderNo: result.attempt.orderNo, outTradeNo: p.outTradeNo, tradeNo: p.tradeNo, recorded: result.attempt.tradeNo, via: p.via },
          'order already paid under another provider trade number',
        )
        break
      default:
        break
    }
    return result
  }

  /** Applies what the provider says about the trade `outTradeNo` (query or close answer) to our attempts. */
  async function applyProviderTrade(provider: ProviderName, outTradeNo: string, trade: ProviderTrade, via: VerifiedPayment['via']) {
    if (trade.state === 'SUCCEEDED' && trade.tradeNo && trade.amount !== null) {
      await recordProven({ outTradeNo, provider, tradeNo: trade.tradeNo, amount: trade.amount, paidAt: trade.paidAt, via })
    } else if (trade.state === 'CLOSED') {
      await repo.markProviderTradeClosed(outTradeNo, provider)
    }
  }

  /** Asks the provider about one trade and applies what it proves (the status call's and the stale sweep's query). */
  async function queryProvider(provider: ProviderName, outTradeNo: string, providerRef: string | null = null): Promise<void> {
    const adapter = providers[provider]
    if (!adapter) return
    const trade = await adapter.query(outTradeNo, providerRef)
    if (trade.found) await applyProviderTrade(provider, outTradeNo, trade, 'QUERY')
  }

  async function findAttemptsOr404(orderNo: string): Promise<Attempt[]> {
    const attempts = ORDER_NO_RE.test(orderNo) ? await repo.findByOrderNo(orderNo) : []
    if (!attempts.length) throw new AppError(404, 'PAYMENT_NOT_FOUND', `支付记录不存在: ${orderNo.slice(0, 64)}`)
    return attempts
  }

  /**
   * Closes the provider trades behind pending `attempts` and marks them CLOSED. Returns false
   * when the provider says the buyer has already paid one (that payment is then recorded). A trade
   * the provider does not know yet (some create it only when the buyer scans or logs in) is not
   * stopped by the close: it is marked CLOSED but unconfirmed, may still be paid until it expires
   * (the stale sweep keeps asking about it), and a payment of it after another attempt's is refunded.
   */
  async function closeAtProvider(attempts: Attempt[]): Promise<boolean> {
    const trades = new Map(attempts.map((a) => [`${a.provider} ${a.outTradeNo}`, a]))
    for (const { provider, outTradeNo, providerRef } of trades.values()) {
      const adapter = providers[provider]
      let unconfirmed = false
      if (adapter) {
        const result = await adapter.close(outTradeNo, providerRef)
        if (result.outcome === 'ALREADY_PAID') {
          await applyProviderTrade(provider, outTradeNo, result.trade, 'CLOSE')
          return false
        }
        unconfirmed = result.outcome === 'NOT_FOUND'
      }
      for (const a of attempts) if (a.provider === provider && a.outTradeNo === outTradeNo) await repo.markClosed(a.id, unconfirmed)
    }
    return true
  }

  /** Starts (or starts again) `attempt` at the provider; a QR code already made is served as it is. */
  async function start(
    adapter: PaymentProvider,
    attempt: Attempt,
    req: CreatePaymentRequest,
    reused: boolean,
  ): Promise<CreatePaymentResponse> {
    const base = {
      paymentId: attempt.id,
      orderNo: attempt.orderNo,
      outTradeNo: attempt.outTradeNo,
      method: attempt.provider,
      channel: attempt.channel,
      amount: attempt.amount,
      expireAt: attempt.expireAt ? attempt.expireAt.toISOString() : null,
    }
    if (attempt.qrCode) return { ...base, payType: 'qrcode' as const, qrCode: attempt.qrCode }
    const { providerExpireAt, ...created } = await adapter.createPayment({
      outTradeNo: attempt.outTradeNo,
      amount: attempt.amount,
      subject: req.subject,
      channel: attempt.channel,
      expireAt: attempt.expireAt,
      clientIp: req.clientIp,
      openid: req.openid,
      device: req.device,
      interfaceType: req.interfaceType,
      providerRef: attempt.providerRef,
    })
    if (created.qrCode || providerExpireAt || (created.providerRef && created.providerRef !== attempt.providerRef)) {
      await repo.setProviderPayment(attempt.id, {
        qrCode: created.qrCode ?? null,
        providerExpireAt: providerExpireAt ?? null,
        providerRef: created.providerRef ?? null,
      })
    }
    log.info({ orderNo: attempt.orderNo, paymentId: attempt.id, channel: attempt.channel, reused }, 'payment started')
    const { providerRef: _ref, ...answer } = created
    return { ...base, ...answer }
  }

  return {
    recordProven,
    /**
     * Re-queries a pending trade (the stale-attempt sweep): a payment the provider proves is recorded
     * like a notify, a trade it closed is marked CLOSED. Provider errors are thrown.
     */
    requery: queryProvider,

    /** The buyer-facing methods of the configured providers (an unconfigured provider's are absent). */
    methods(): PayMethodInfo[] {
      return methodInfos(PROVIDER_MODULES, (name) => providers[name]?.channels)
    },

    async create(req: CreatePaymentRequest): Promise<CreatePaymentResponse> {
      const adapter = isProviderName(req.method) ? providers[req.method] : undefined
      if (!adapter) throw new AppError(422, 'PAYMENT_METHOD_DISABLED', `支付方式未启用: ${req.method}`)
      if (!adapter.channels.includes(req.channel)) {
        throw new AppError(400, 'INVALID_PARAMS', `不支持的支付渠道: ${req.channel} (可用: ${adapter.channels.join(', ')})`)
      }
      adapter.validateCreate?.({ channel: req.channel, openid: req.openid, clientIp: req.clientIp })
      const expireAt = req.expireAt ? new Date(req.expireAt) : null
      if (expireAt && expireAt.getTime() <= Date.now() + 60_000) throw new AppError(422, 'ORDER_NOT_PAYABLE', '订单已过期或即将过期')
      const input = {
        orderId: req.orderId,
        orderNo: req.orderNo,
        provider: adapter.name,
        channel: req.channel,
        amount: req.amount,
        subject: req.subject,
        expireAt,
      }

      const first = await repo.prepareAttemptOrCloseFirst(input)
      let prepared: PrepareOutcome
      if (first.kind === 'CLOSE_FIRST') {
        // Switching channel: the previous pending attempts must not stay payable.
        if (!(await closeAtProvider(first.pending))) throwConflict('ALREADY_PAID')
        prepared = await repo.prepareAttempt(input)
      } else prepared = first
      if (prepared.kind === 'EXISTING' && providerPaymentDead(prepared.attempt)) {
        // Its provider payment has expired (a QR code lives two hours): never serve it again, make a new trade.
        await repo.markClosed(prepared.attempt.id)
        prepared = await repo.prepareAttempt(input)
      }
      if (prepared.kind !== 'CREATED' && prepared.kind !== 'EXISTING') throwConflict(prepared.kind)
      try {
        return await start(adapter, prepared.attempt, req, prepared.kind === 'EXISTING')
      } catch (err) {
        // The pending attempt's number was first sent with other parameters (another buyer IP, …):
        // close it and open a new attempt under a new number.
        if (!(err instanceof TradeNumberTakenError) || prepared.kind !== 'EXISTING') throw err
        log.warn({ orderNo: req.orderNo, outTradeNo: prepared.attempt.outTradeNo }, 'trade number taken at the provider: new attempt')
        if (!(await closeAtProvider([prepared.attempt]))) throwConflict('ALREADY_PAID')
        const fresh = await repo.prepareAttempt(input)
        if (fresh.kind !== 'CREATED' && fresh.kind !== 'EXISTING') throwConflict(fresh.kind)
        return start(adapter, fresh.attempt, req, fresh.kind === 'EXISTING')
      }
    },

    /** The order's payment status; while pending, asks the provider (and records what it proves). */
    async status(orderNo: string): Promise<PaymentStatusResponse> {
      let current = currentAttempt(await findAttemptsOr404(orderNo))!
      if (current.status === 'PENDING' && providers[current.provider]) {
        try {
          await queryProvider(current.provider, current.outTradeNo, current.providerRef)
        } catch (err) {
          // The provider being unreachable must not fail the status call: answer the local state.
          log.warn({ orderNo, err: { message: (err as Error).message } }, 'provider query failed; answering local state')
        }
        current = currentAttempt(await repo.findByOrderNo(orderNo))!
      }
      return toStatusResponse(current)
    },

    async close(orderNo: string): Promise<CloseOutcome> {
      const attempts = await findAttemptsOr404(orderNo)
      const paid = attempts.find((a) => a.status === 'PAID' || a.status === 'REFUNDED')
      if (paid) return { kind: 'PAID', status: toStatusResponse(paid) }
      await closeAtProvider(attempts.filter((a) => a.status === 'PENDING'))
      const after = await repo.findByOrderNo(orderNo)
      const nowPaid = after.find((a) => a.status === 'PAID')
      if (nowPaid) return { kind: 'PAID', status: toStatusResponse(nowPaid) }
      log.info({ orderNo }, 'payment closed')
      return { kind: 'CLOSED', orderNo, status: currentAttempt(after)!.status }
    },

    /**
     * Verifies and applies one provider notification and appends it to notify_log with its
     * verdict. Never throws for bad input: every rejection is a logged `failure`.
     */
    async handleNotification(providerName: string, received: ReceivedNotification, remoteIp: string | null): Promise<NotifyHandled> {
      const adapter = isProviderName(providerName) ? providers[providerName] : undefined
      let outTradeNo: string | null = null
      let handled: NotifyHandled
      try {
        if (!adapter) {
          handled = { ack: GENERIC_FAILURE, verdict: 'REJECTED', reason: 'PROVIDER_DISABLED' }
        } else {
          const verdict = adapter.verifyNotification(received)
          if (!verdict.ok) {
            outTradeNo = verdict.outTradeNo
            handled = { ack: adapter.acknowledge.failure, verdict: 'REJECTED', reason: verdict.reason }
          } else if ('refund' in verdict) {
            outTradeNo = verdict.refund.outTradeNo
            handled = await applyRefundNotice(adapter.name, verdict.refund, adapter.acknowledge)
          } else {
            outTradeNo = verdict.trade.outTradeNo
            handled = await applyNotification(adapter.name, verdict.trade, adapter.acknowledge, verdict.event)
          }
        }
      } catch (err) {
        log.error({ err, provider: providerName }, 'notification handling failed')
        handled = {
          ack: { ...(adapter?.acknowledge.failure ?? GENERIC_FAILURE), status: 503 },
          verdict: 'REJECTED',
          reason: 'INTERNAL_ERROR',
        }
      }
      const level = handled.verdict === 'REJECTED' ? 'warn' : 'info'
      log[level]({ provider: providerName, outTradeNo, verdict: handled.verdict, reason: handled.reason }, 'notification')
      deps.onNotification?.(providerName, handled)
      await repo.appendNotifyLog({
        provider: providerName.slice(0, 32),
        outTradeNo: outTradeNo === null ? null : clean(outTradeNo).slice(0, 128),
        rawBody: clean(received.rawBody).slice(0, MAX_LOGGED_BODY),
        contentType: received.contentType ? clean(received.contentType).slice(0, 200) : null,
        remoteIp,
        verdict: handled.verdict,
        reason: handled.reason,
      })
      return handled
    },
  }

  /**
   * For providers that want a second proof of a notified payment (a re-query of the order): checks our own
   * records first (known order, same amount; an already recorded trade needs no second proof), then
   * asks the provider. Returns the rejection reason, or null to go ahead.
   */
  async function confirmWithProvider(provider: ProviderName, trade: ProviderTrade): Promise<string | null> {
    const adapter = providers[provider]
    if (!adapter?.confirmPayment) return null
    const mine = (await repo.findByOutTradeNo(trade.outTradeNo)).filter((a) => a.provider === provider)
    if (!mine.length) return 'UNKNOWN_ORDER'
    if (mine.some((a) => a.status === 'PAID' && a.tradeNo === trade.tradeNo)) return null
    if (!mine.some((a) => a.amount === trade.amount)) return 'AMOUNT_MISMATCH'
    const confirmed = await adapter.confirmPayment(trade)
    return confirmed.ok ? null : confirmed.reason
  }

  /**
   * A refund notify: applied by the refund flows through the same guarded transitions as a re-query's
   * answer; anything but a rejection (unknown refund, other amount) is acknowledged, a duplicate too.
   */
  async function applyRefundNotice(
    provider: ProviderName,
    notice: RefundNotice,
    ack: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement },
  ): Promise<NotifyHandled> {
    if (!ORDER_NO_RE.test(notice.outTradeNo) || !ORDER_NO_RE.test(notice.refundNo) || !deps.applyRefundNotice)
      return { ack: ack.failure, verdict: 'REJECTED', reason: 'UNKNOWN_REFUND' }
    const r = await deps.applyRefundNotice(provider, notice)
    return { ack: r.verdict === 'REJECTED' ? ack.failure : ack.success, ...r }
  }

  /**
   * Applies a verified notification. One that names its event (`named`) is processed once by the event's
   * id: a replay is acknowledged as a DUPLICATE (EVENT_REPLAYED) and changes nothing; the id is claimed
   * in the transaction of the change the event causes, or on its own when it causes none. A rejected
   * event is not claimed, so the provider's retry is processed.
   */
  async function applyNotification(
    provider: ProviderName,
    trade: ProviderTrade,
    ack: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement },
    named?: { id: string; type: string },
  ): Promise<NotifyHandled> {
    const reject = (reason: string): NotifyHandled => ({ ack: ack.failure, verdict: 'REJECTED', reason })
    const replayed: NotifyHandled = { ack: ack.success, verdict: 'DUPLICATE', reason: 'EVENT_REPLAYED' }
    if (!ORDER_NO_RE.test(trade.outTradeNo)) return reject('UNKNOWN_ORDER')
    const event = named && { provider, id: named.id, type: named.type, outTradeNo: trade.outTradeNo }
    if (event && (await repo.eventProcessed(event))) return replayed
    if (trade.state === 'SUCCEEDED') {
      const unconfirmed = await confirmWithProvider(provider, trade)
      if (unconfirmed) return reject(unconfirmed)
      const r = await recordProven({
        outTradeNo: trade.outTradeNo,
        provider,
        tradeNo: trade.tradeNo!,
        amount: trade.amount!,
        paidAt: trade.paidAt,
        via: 'NOTIFY',
        event,
      })
      switch (r.outcome) {
        case 'RECORDED':
          return {
            ack: ack.success,
            verdict: 'ACCEPTED',
            reason: r.afterClose ? 'PAID_AFTER_CLOSE' : r.otherPaid.length ? 'PAID_TWICE' : null,
          }
        case 'DUPLICATE':
          return { ack: ack.success, verdict: 'DUPLICATE', reason: null }
        default:
          return reject(r.outcome)
      }
    }
    if (trade.state === 'UNKNOWN') return reject('UNKNOWN_TRADE_STATUS')
    // Not a payment: still only acted on (or acknowledged) for a known order and the right amount.
    const mine = (await repo.findByOutTradeNo(trade.outTradeNo)).filter((a) => a.provider === provider)
    if (!mine.length) return reject('UNKNOWN_ORDER')
    if (trade.amount !== null && mine.some((a) => a.amount !== trade.amount)) return reject('AMOUNT_MISMATCH')
    if (trade.state === 'PENDING') {
      if (event && !(await repo.rememberEvent(event))) return replayed
      return { ack: ack.success, verdict: 'IGNORED', reason: trade.providerStatus || 'PENDING' }
    }
    const closed = await repo.markProviderTradeClosed(trade.outTradeNo, provider, event)
    if (!closed) return replayed
    return { ack: ack.success, verdict: closed.length ? 'ACCEPTED' : 'IGNORED', reason: trade.providerStatus || 'CLOSED' }
  }
}

export type PaymentFlows = ReturnType<typeof createPaymentFlows>

/** A pending attempt whose provider payment dies within a minute is not offered again. */
function providerPaymentDead(a: Attempt): boolean {
  return a.providerExpireAt !== null && a.providerExpireAt.getTime() <= Date.now() + 60_000
}

function throwConflict(kind: 'ALREADY_PAID' | 'AMOUNT_MISMATCH' | 'ORDER_MISMATCH' | 'NOT_PAYABLE'): never {
  switch (kind) {
    case 'ALREADY_PAID':
      throw new AppError(409, 'ORDER_NOT_PAYABLE', '该订单已支付')
    case 'AMOUNT_MISMATCH':
      throw new AppError(409, 'AMOUNT_MISMATCH', '同一订单号的金额与已有支付不一致')
    case 'ORDER_MISMATCH':
      throw new AppError(409, 'CONFLICT', '订单号已被其他订单使用')
    case 'NOT_PAYABLE':
      throw new AppError(409, 'ORDER_NOT_PAYABLE', '该订单当前不可支付')
  }
}

/** PostgreSQL text cannot hold NUL characters. */
function clean(s: string): string {
  return s.includes('\u0000') ? s.replace(/\u0000/g, '\\u0000') : s
}
