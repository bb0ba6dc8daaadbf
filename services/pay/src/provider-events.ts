/**
 * Provider events processed (table provider_events; this module is its one owner). A provider that names
 * its notifications (`NotificationVerdict.event`) has each event processed once by its id: the id is
 * claimed in the same transaction as the state change the event causes (payments.ts), or on its own when
 * the event causes none, so a replayed event (the same id, also after a restart) is a DUPLICATE that
 * changes nothing. Concurrent deliveries of one event serialise on the primary key: one claims it.
 * Ids are kept PROVIDER_EVENT_RETENTION_DAYS (providers resend an event for days, not weeks: Stripe for up
 * to three), then pruned by the stale-attempt sweep (requery.ts).
 */
import type { Sql } from '@paysys/db'
import type { TransactionSql } from 'postgres'

/** A provider's own event, as its notification names it. */
export interface ProviderEventRef {
  provider: string
  id: string
  type: string | null
  outTradeNo: string | null
}

/** Records the event as processed; false when it already was (a replay, or a concurrent delivery that won). */
export async function claimProviderEvent(tx: Sql | TransactionSql, e: ProviderEventRef): Promise<boolean> {
  const rows = await tx`
    insert into provider_events (provider, event_id, event_type, out_trade_no)
    values (${e.provider}, ${e.id}, ${e.type?.slice(0, 100) ?? null}, ${e.outTradeNo?.slice(0, 128) ?? null})
    on conflict do nothing returning 1 as claimed`
  return rows.length === 1
}

/** True when the event was processed before. */
export async function providerEventProcessed(sql: Sql, e: Pick<ProviderEventRef, 'provider' | 'id'>): Promise<boolean> {
  const rows = await sql`select 1 from provider_events where provider = ${e.provider} and event_id = ${e.id}`
  return rows.length > 0
}

/** How long a processed event's id is remembered. */
export const PROVIDER_EVENT_RETENTION_DAYS = 35

/** Forgets the events processed more than `days` ago; returns how many rows went. */
export async function pruneProviderEvents(sql: Sql, days = PROVIDER_EVENT_RETENTION_DAYS): Promise<number> {
  const rows = await sql`delete from provider_events where processed_at < now() - make_interval(days => ${days})`
  return rows.count
}
