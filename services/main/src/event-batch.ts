/**
 * pay's bulk delivery (`POST /api/orders/callbacks`): each event of the batch is checked and applied
 * on its own — its own guarded transaction, once per event id (processed_events) — a few at a time.
 * An event that cannot be applied (malformed, unknown order, amounts that differ, a failure of its
 * own) is answered as failed and recorded nowhere, so pay delivers it again; the others go through.
 */
import { Compile } from 'typebox/compile'
import { AppError, PaymentEvent, type EventResult } from '@paysys/contracts'
import { databaseUnavailable } from '@paysys/server-kit'

/** Events of one batch applied at once (each holds a pool connection for its transaction). */
const CONCURRENCY = 8

const eventCheck = Compile(PaymentEvent)

type Log = { warn(o: object, m: string): void; error(o: object, m: string): void }

export async function applyEventBatch(
  events: ReadonlyArray<{ eventId: string }>,
  apply: (e: PaymentEvent) => Promise<string>,
  log: Log,
): Promise<EventResult[]> {
  async function one(e: { eventId: string }): Promise<EventResult> {
    const { eventId } = e
    if (!eventCheck.Check(e)) {
      const [first] = eventCheck.Errors(e)
      const where = first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the event schema'
      return { eventId, status: 400, error: 'INVALID_PARAMS', message: `事件无效: ${where}` }
    }
    try {
      return { eventId, outcome: await apply(e) }
    } catch (err) {
      if (err instanceof AppError) return { eventId, status: err.status, error: err.error, message: err.message }
      if (databaseUnavailable(err)) {
        log.warn({ eventId, err: { message: (err as Error).message } }, 'event not applied: database unavailable')
        return { eventId, status: 503, error: 'SERVICE_UNAVAILABLE', message: '服务暂时不可用，请稍后重试' }
      }
      log.error({ eventId, err }, 'event not applied')
      return { eventId, status: 500, error: 'INTERNAL_ERROR', message: '服务器内部错误' }
    }
  }
  const results = new Array<EventResult>(events.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, events.length) }, async () => {
      while (next < events.length) {
        const k = next++
        results[k] = await one(events[k]!)
      }
    }),
  )
  return results
}
