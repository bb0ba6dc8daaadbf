/**
 * pay's events (payment and refund) are applied once by event id: the id is recorded in
 * `processed_events` inside the same transaction as the event's effect, so a redelivery — or two
 * deliveries racing — finds it there and changes nothing. This module is that table's only writer.
 */
import type { Sql } from '@paysys/db'

type Processed = { eventId: string; orderNo: string; type: string; outcome: string }

/** Records the event in the caller's transaction; false when it was recorded before (a duplicate). */
export async function recordEvent(tx: Sql, e: Processed): Promise<boolean> {
  const rows = await tx`insert into processed_events (event_id, order_no, type, outcome)
    values (${e.eventId}, ${e.orderNo}, ${e.type}, ${e.outcome}) on conflict do nothing returning event_id`
  return rows.length > 0
}

/** Records these events in the caller's transaction, in one statement; false when any was recorded before. */
export async function recordEvents(tx: Sql, es: readonly Processed[]): Promise<boolean> {
  if (es.length <= 1) return es.length === 0 || recordEvent(tx, es[0]!)
  const rows = await tx`insert into processed_events (event_id, order_no, type, outcome)
    select * from unnest(${es.map((e) => e.eventId)}::text[], ${es.map((e) => e.orderNo)}::text[], ${es.map((e) => e.type)}::text[],
                         ${es.map((e) => e.outcome)}::text[])
    on conflict do nothing returning event_id`
  return rows.length === es.length // an id twice in `es` is recorded once, so it counts as a duplicate too
}

/** Thrown inside a transaction to undo it when its event turns out to be a duplicate. */
export class DuplicateEvent extends Error {}
