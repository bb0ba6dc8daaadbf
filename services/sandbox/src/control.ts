/**
 * The control API's trade routes, written once for every provider (JSON; see services/sandbox/README.md).
 * Each provider describes its trades with a `TradeControl`; `tradeRoutes(control)` mounts, under
 * `/control/<provider>/`:
 * - `GET trades/:outTradeNo` — the trade as the provider's view shows it;
 * - `POST trades/:outTradeNo/pay {notify?, notifyDelayMs?, …}` — pays as the cashier would;
 * - `POST trades/:outTradeNo/notify {times?, notifyUrl?, …}` — sends the payment notify now;
 * - `POST trades/:outTradeNo/close` — closes an unpaid trade (idempotent; a paid one is a 409);
 * - `GET notifications?outTradeNo=` — every notify attempt, oldest first.
 * Errors use the common envelope (404 NOT_FOUND, 409 CONFLICT, 400 INVALID_PARAMS).
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import type { AttemptResult, DeliveryRequest, DeliveryService } from './deliveries.ts'
import { httpUrl } from './util.ts'
import { type Json, bad, objectBody, optBool, optInt } from './control-input.ts'

export type PayOutcome<T> = { outcome: 'paid' | 'already-paid' | 'closed'; trade: T }

/** A notify prepared by the control API: what to send, and the answer's provider-specific fields. */
export interface ControlNotify {
  delivery: DeliveryRequest
  answer(results: AttemptResult[]): Json
}

export interface TradeControl<T> {
  /** out_trade_no values the provider accepts; anything else is a 404. */
  outTradeNo: RegExp
  find(outTradeNo: string): Promise<T | null>
  view(trade: T): Json
  /** The provider's words: no such trade; a closed trade cannot be paid; a paid trade cannot be closed. */
  words: { notFound: string; closedCannotPay: string; paidCannotClose: string }
  /** Validates the pay body's own fields, then returns how to pay (null: the trade is gone). */
  pay(b: Json): (trade: T, opts: { notify: boolean; delayMs: number }) => Promise<PayOutcome<T> | null>
  /** The pay answer's fields besides `trade` and `alreadyPaid` (the way back, notifyScheduled). */
  payAnswer(r: PayOutcome<T>, notify: boolean): Json
  /** Validates the notify body's own fields, then returns how to build the notify (`notifyUrl`: the override). */
  notify(b: Json, notifyUrl: string | undefined): (trade: T) => ControlNotify
  /** Closes an unpaid trade; answers it (also when it was closed already), or null when it is paid. */
  close(trade: T): Promise<T | null>
  /** Longest out_trade_no the notifications filter accepts. */
  maxReference: number
  /** The provider-specific fields of a notify attempt, from what was sent. */
  attemptView(sent: { url: string; body: string | null }): Json
}

interface AttemptRow {
  delivery_id: number
  kind: string
  reference: string | null
  url: string
  body: string | null
  state: string
  attempt: number
  status: number | null
  response_body: string | null
  error: string | null
  sent_at: Date
}

/** The shared trade routes of one provider, mounted by app.ts under `/control/<name>/`. */
export interface TradeRoutes {
  register(app: FastifyInstance, deps: { name: string; sql: Sql; deliveries: DeliveryService }): void
}

export function tradeRoutes<T>(c: TradeControl<T>): TradeRoutes {
  return { register: (app, deps) => registerTradeControl(app, c, deps) }
}

function registerTradeControl<T>(app: FastifyInstance, c: TradeControl<T>, deps: { name: string; sql: Sql; deliveries: DeliveryService }) {
  const { name, sql, deliveries } = deps
  const base = `/control/${name}`
  const load = async (outTradeNo: string): Promise<T> => {
    const t = c.outTradeNo.test(outTradeNo) ? await c.find(outTradeNo) : null
    if (!t) throw new AppError(404, 'NOT_FOUND', c.words.notFound)
    return t
  }

  app.get<{ Params: { outTradeNo: string } }>(`${base}/trades/:outTradeNo`, async (req) => c.view(await load(req.params.outTradeNo)))

  app.post<{ Params: { outTradeNo: string } }>(`${base}/trades/:outTradeNo/pay`, async (req) => {
    const b = objectBody(req.body)
    const notify = optBool(b, 'notify', true)
    const delayMs = optInt(b, 'notifyDelayMs', 0, 0, 86_400_000)
    const pay = c.pay(b)
    const r = await pay(await load(req.params.outTradeNo), { notify, delayMs })
    if (!r) throw new AppError(404, 'NOT_FOUND', c.words.notFound)
    if (r.outcome === 'closed') throw new AppError(409, 'CONFLICT', c.words.closedCannotPay)
    return { trade: c.view(r.trade), ...c.payAnswer(r, notify), alreadyPaid: r.outcome === 'already-paid' }
  })

  app.post<{ Params: { outTradeNo: string } }>(`${base}/trades/:outTradeNo/notify`, async (req) => {
    const b = objectBody(req.body)
    const times = optInt(b, 'times', 1, 1, 50)
    const override = b.notifyUrl === undefined ? undefined : httpUrl(b.notifyUrl)
    if (override === null) throw bad('notifyUrl 必须是 http(s) URL')
    const build = c.notify(b, override)
    const n = build(await load(req.params.outTradeNo))
    const results = await Promise.all(Array.from({ length: times }, () => deliveries.sendNow(n.delivery)))
    return { ...n.answer(results), deliveries: results.map((r) => ({ status: r.status, body: r.body, error: r.error })) }
  })

  app.post<{ Params: { outTradeNo: string } }>(`${base}/trades/:outTradeNo/close`, async (req) => {
    const closed = await c.close(await load(req.params.outTradeNo))
    if (!closed) throw new AppError(409, 'CONFLICT', c.words.paidCannotClose)
    return c.view(closed)
  })

  app.get<{ Querystring: { outTradeNo?: unknown } }>(`${base}/notifications`, async (req) => {
    const ref = req.query.outTradeNo
    if (ref !== undefined && (typeof ref !== 'string' || ref.length > c.maxReference)) throw bad('outTradeNo 无效')
    const rows = await sql<AttemptRow[]>`
      select a.delivery_id, d.kind, a.reference, d.url, d.body, d.state, a.attempt, a.status, a.response_body, a.error, a.sent_at
      from notify_attempts a join notify_deliveries d on d.id = a.delivery_id
      where a.provider = ${name} and (${ref ?? null}::text is null or a.reference = ${ref ?? null})
      order by a.id
      limit 1000`
    return rows.map((r) => ({
      outTradeNo: r.reference,
      deliveryId: r.delivery_id,
      kind: r.kind,
      attempt: r.attempt,
      status: r.status,
      responseBody: r.response_body,
      error: r.error,
      sentAt: r.sent_at.toISOString(),
      deliveryState: r.state,
      notifyUrl: r.url,
      ...c.attemptView(r),
    }))
  })
}
