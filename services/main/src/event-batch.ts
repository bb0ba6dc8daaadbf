/**
 * pay's bulk delivery (`POST /api/orders/callbacks`): each event of the batch is checked and applied
 * on its own, once per event id (processed_events): a refund in its own guarded transaction, a few at a
 * time; payments a buyer at a time (one transaction for a buyer's payments, see checkout.applyPaymentEvents).
 * An event that cannot be applied (malformed, unknown order, amounts that differ, a failure of its
 * own) is answered as failed and recorded nowhere, so pay delivers it again; the others go through.
 */
import { Compile } from 'typebox/compile'
import { AppError, PaymentEvent, type EventResult, type PaymentSucceededEvent } from '@paysys/contracts'
import { databaseUnavailable } from '@paysys/server-kit'

/** Events of one batch applied at once (each holds a pool connection for its transaction). */
const CONCURRENCY = 8

const eventCheck = Compile(PaymentEvent)

type Log = { warn(o: object, m: string): void; error(o: object, m: string): void }

export async function applyEventBatch(
  events: ReadonlyArray<{ eventId: string }>,
  apply: (e: PaymentEvent) => Promise<string>,
  log: Log,
  /** The batch's payment events, answered in order (an outcome or an error each): applied a buyer at a time. */
  applyPayments?: (es: PaymentSucceededEvent[]) => Promise<(string | Error)[]>,
): Promise<EventResult[]> {
  /** An event's answer from its outcome, or from the error that stopped it. */
  function answer(eventId: string, outcomeOrError: unknown): EventResult {
    if (typeof outcomeOrError === 'string') return { eventId, outcome: outcomeOrError }
    const err = outcomeOrError
    if (err instanceof AppError) return { eventId, status: err.status, error: err.error, message: err.message }
    if (databaseUnavailable(err)) {
      log.warn({ eventId, err: { message: (err as Error).message } }, 'event not applied: database unavailable')
      return { eventId, status: 503, error: 'SERVICE_UNAVAILABLE', message: '服务暂时不可用，请稍后重试' }
    }
    log.error({ eventId, err }, 'event not applied')
    return { eventId, status: 500, error: 'INTERNAL_ERROR', message: '服务器内部错误' }
  }
  const results = new Array<EventResult>(events.length)
  const payments: number[] = []
  const others: number[] = []
  events.forEach((e, k) => {
    if (!eventCheck.Check(e)) {
      const [first] = eventCheck.Errors(e)
      const where = first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the event schema'
      results[k] = { eventId: e.eventId, status: 400, error: 'INVALID_PARAMS', message: `事件无效: ${where}` }
    } else if (applyPayments && e.type === 'PAYMENT_SUCCEEDED') payments.push(k)
    else others.push(k)
  })
  const one = async (k: number) => {
    const e = events[k] as PaymentEvent
    try {
      results[k] = answer(e.eventId, await apply(e))
    } catch (err) {
      results[k] = answer(e.eventId, err)
    }
  }
  let next = 0
  await Promise.all([
    (async () => {
      if (!payments.length) return
      try {
        const rs = await applyPayments!(payments.map((k) => events[k] as PaymentSucceededEvent))
        payments.forEach((k, i) => (results[k] = answer(events[k]!.eventId, rs[i])))
      } catch (err) {
        for (const k of payments) results[k] = answer(events[k]!.eventId, err)
      }
    })(),
    ...Array.from({ length: Math.min(CONCURRENCY, others.length) }, async () => {
      while (next < others.length) await one(others[next++]!)
    }),
  ])
  return results
}
