/** main → pay over signed HTTP. Pay being down is a 503 for the caller, never a crash. */
import {
  AppError,
  type CreatePaymentRequest,
  type CreatePaymentResponse,
  type Envelope,
  type ErrorCode,
  type PaymentStatusResponse,
  type PayMethodInfo,
  type RefundRequest,
  type RefundResponse,
} from '@paysys/contracts'
import { createServiceClient, type ServiceKey, type ServiceResponse } from '@paysys/service-auth'

export interface PayClient {
  create(req: CreatePaymentRequest, requestId?: string): Promise<CreatePaymentResponse>
  status(orderNo: string, requestId?: string): Promise<PaymentStatusResponse>
  close(orderNo: string, requestId?: string): Promise<{ orderNo: string; status: string }>
  /** The enabled payment methods as pay's provider registry describes them. */
  methods(requestId?: string): Promise<PayMethodInfo[]>
  refund(req: RefundRequest, requestId?: string): Promise<RefundResponse>
  refundStatus(refundNo: string, requestId?: string): Promise<RefundResponse>
  /** Reconciliation (对账) runs and differences, for main's admin API (pay owns them). */
  reconciliations(query: Record<string, string>, requestId?: string): Promise<unknown>
  runReconciliation(body: { provider: string; day: string; async?: boolean }, requestId?: string): Promise<unknown>
  reconciliation(id: string, requestId?: string): Promise<unknown>
  resolveDifference(id: string, body: { note: string; resolvedBy: string }, requestId?: string): Promise<unknown>
  /** pay's outbox (events for main): list by status, resend a DEAD one. */
  listEvents(query: Record<string, string>, requestId?: string): Promise<unknown>
  resendEvent(eventId: string, requestId?: string): Promise<unknown>
  /** The operator console: pay's health figures, and what pay holds about one order. */
  consoleHealth(requestId?: string): Promise<unknown>
  orderTrail(orderNo: string, requestId?: string): Promise<unknown>
  close_(): Promise<void>
}

export function createPayClient(opts: { baseUrl: string; key: ServiceKey; timeoutMs: number }): PayClient {
  const client = createServiceClient(opts)
  // A reconciliation run downloads and checks a whole bill: it may take minutes, not seconds.
  const slow = createServiceClient({ ...opts, timeoutMs: Math.max(opts.timeoutMs, 300_000) })
  async function unwrap<T>(call: Promise<ServiceResponse<Envelope<T>>>): Promise<T> {
    let res: ServiceResponse<Envelope<T>>
    try {
      res = await call
    } catch (err) {
      throw new AppError(503, 'PAY_SERVICE_UNAVAILABLE', `支付服务不可用: ${(err as Error).message}`)
    }
    const body = res.body
    if (res.status >= 200 && res.status < 300 && body && typeof body === 'object') return body.data
    const message = body && typeof body === 'object' && typeof body.message === 'string' ? body.message : `pay answered ${res.status}`
    const code: ErrorCode = body && typeof body === 'object' && body.error ? body.error : 'PROVIDER_ERROR'
    if (res.status >= 500 || res.status === 401) {
      // 401 means our signing is misconfigured: an operator problem, not the user's.
      throw new AppError(
        res.status === 503 ? 503 : 502,
        res.status === 503 ? 'PAY_SERVICE_UNAVAILABLE' : code === 'SERVICE_AUTH_FAILED' ? 'PROVIDER_ERROR' : code,
        message,
      )
    }
    // `data` travels with a 4xx: pay's close answers 409 with the paid PaymentStatusResponse.
    throw new AppError(res.status, code, message, body && typeof body === 'object' ? (body.data ?? undefined) : undefined)
  }
  const h = (requestId?: string): Record<string, string> => (requestId ? { 'x-request-id': requestId } : {})
  return {
    create: (req, rid) => unwrap(client.post<Envelope<CreatePaymentResponse>>('/api/pay/create', req, h(rid))),
    status: (orderNo, rid) => unwrap(client.get<Envelope<PaymentStatusResponse>>(`/api/pay/status/${encodeURIComponent(orderNo)}`, h(rid))),
    close: (orderNo, rid) =>
      unwrap(client.post<Envelope<{ orderNo: string; status: string }>>(`/api/pay/close/${encodeURIComponent(orderNo)}`, {}, h(rid))),
    methods: (rid) => unwrap(client.get<Envelope<PayMethodInfo[]>>('/api/pay/methods', h(rid))),
    refund: (req, rid) => unwrap(client.post<Envelope<RefundResponse>>('/api/pay/refund', req, h(rid))),
    refundStatus: (refundNo, rid) =>
      unwrap(client.get<Envelope<RefundResponse>>(`/api/pay/refund/${encodeURIComponent(refundNo)}`, h(rid))),
    reconciliations: (query, rid) => {
      // No bare `?`: the request line drops an empty query, and the signature must cover the path as sent.
      const qs = new URLSearchParams(query).toString()
      return unwrap(client.get<Envelope<unknown>>(`/api/pay/reconciliations${qs ? `?${qs}` : ''}`, h(rid)))
    },
    runReconciliation: (body, rid) => unwrap(slow.post<Envelope<unknown>>('/api/pay/reconciliations', body, h(rid))),
    reconciliation: (id, rid) => unwrap(client.get<Envelope<unknown>>(`/api/pay/reconciliations/${encodeURIComponent(id)}`, h(rid))),
    resolveDifference: (id, body, rid) =>
      unwrap(client.post<Envelope<unknown>>(`/api/pay/reconciliations/differences/${encodeURIComponent(id)}/resolve`, body, h(rid))),
    listEvents: (query, rid) => {
      const qs = new URLSearchParams(query).toString()
      return unwrap(client.get<Envelope<unknown>>(`/api/pay/events${qs ? `?${qs}` : ''}`, h(rid)))
    },
    resendEvent: (eventId, rid) =>
      unwrap(client.post<Envelope<unknown>>(`/api/pay/events/${encodeURIComponent(eventId)}/resend`, {}, h(rid))),
    consoleHealth: (rid) => unwrap(client.get<Envelope<unknown>>('/api/pay/console/health', h(rid))),
    orderTrail: (orderNo, rid) =>
      unwrap(client.get<Envelope<unknown>>(`/api/pay/console/orders/${encodeURIComponent(orderNo)}/trail`, h(rid))),
    close_: async () => {
      await client.close()
      await slow.close()
    },
  }
}
