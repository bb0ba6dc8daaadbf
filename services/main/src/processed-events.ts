/**
 * pay's events (payment and refund) are applied once by event id: the id is recorded in
 * `processed_events` inside the same transaction as the event's effect, so a redelivery — or two
 * deliveries racing — finds it there and changes nothing. This module is that table's only writer.
 */
import type { Sql } from '@paysys/db'

/** Records the event in the caller's transaction; false when it was recorded before (a duplicate). */
export async function recordEvent(tx: Sql, e: { eventId: string; orderNo: string; type: string; outcome: string }): Promise<boolean> {
  const rows = await tx`insert into processed_events (event_id, order_no, type, outcome)
    values (${e.eventId}, ${e.orderNo}, ${e.type}, ${e.outcome}) on conflict do nothing returning event_id`
  return rows.length > 0
}

/** Thrown inside a transaction to undo it when its event turns out to be a duplicate. */
export class DuplicateEvent extends Error {}
