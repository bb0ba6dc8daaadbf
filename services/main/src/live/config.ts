import type { createEnvReader } from '@paysys/config'

/** Live order status streams (SSE and WebSocket), read with main's other settings. */
export interface LiveConfig {
  /** Open streams one instance holds at most (LIVE_MAX_STREAMS); more are refused with 429. */
  maxStreams: number
  /** Open streams per user (guests: per order's owner account) on one instance (LIVE_MAX_STREAMS_PER_USER). */
  maxStreamsPerUser: number
  /** A heartbeat message this often on a quiet stream (LIVE_HEARTBEAT_MS), so proxies keep it open and clients see it is alive. */
  heartbeatMs: number
  /** A stream that carried no state change for this long is ended (`end`, reason `idle`); the client may reopen it (LIVE_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number
  /** How long a stream ticket can be used (LIVE_TICKET_TTL_SECONDS); it is single-use either way. */
  ticketTtlSeconds: number
  /** Tickets per minute per client IP (LIVE_TICKETS_PER_MINUTE; 0 = no limit). */
  ticketsPerMinute: number
}

export function readLiveConfig(r: ReturnType<typeof createEnvReader>): LiveConfig {
  return {
    maxStreams: r.int('LIVE_MAX_STREAMS', 10_000, 1, 1_000_000),
    maxStreamsPerUser: r.int('LIVE_MAX_STREAMS_PER_USER', 8, 1, 1_000_000),
    heartbeatMs: r.int('LIVE_HEARTBEAT_MS', 15_000, 50, 300_000),
    idleTimeoutMs: r.int('LIVE_IDLE_TIMEOUT_MS', 10 * 60_000, 100, 24 * 3_600_000),
    ticketTtlSeconds: r.int('LIVE_TICKET_TTL_SECONDS', 60, 1, 3600),
    ticketsPerMinute: r.int('LIVE_TICKETS_PER_MINUTE', 120, 0, 1_000_000),
  }
}
