/**
 * Stream tickets: `EventSource` cannot send an Authorization header and a JWT in a URL ends up in
 * logs, so the page trades its bearer token (or, for a guest order, the orderNo) for a random ticket
 * that opens one stream of one order, once, within `ttlSeconds`. Only its SHA-256 is stored, in the
 * database, so the ticket works on whichever instance the connection reaches; consuming it is one
 * `DELETE … RETURNING`, so two connections racing with one ticket get one stream between them.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Sql } from '@paysys/db'

const hash = (ticket: string) => createHash('sha256').update(ticket).digest('hex')

export interface StreamTickets {
  issue(orderId: number, userId: number): Promise<{ ticket: string; expiresAt: Date }>
  /** The ticket's holder, if it is unused, unexpired and for this order; used either way. */
  consume(ticket: string, orderId: number): Promise<{ userId: number } | undefined>
}

export function createStreamTickets(sql: Sql, ttlSeconds: number): StreamTickets {
  return {
    async issue(orderId, userId) {
      const ticket = randomBytes(32).toString('base64url')
      // Expired tickets are removed as new ones are issued (index on expires_at).
      const [row] = await sql<{ expiresAt: Date }[]>`
        with pruned as (delete from live_tickets where expires_at < now() - interval '1 minute')
        insert into live_tickets (ticket_hash, order_id, user_id, expires_at)
        values (${hash(ticket)}, ${orderId}, ${userId}, now() + make_interval(secs => ${ttlSeconds}))
        returning expires_at as "expiresAt"`
      return { ticket, expiresAt: row!.expiresAt }
    },
    async consume(ticket, orderId) {
      const [row] = await sql<{ userId: number; orderId: number; fresh: boolean }[]>`
        delete from live_tickets where ticket_hash = ${hash(ticket)}
        returning user_id as "userId", order_id as "orderId", expires_at > now() as fresh`
      if (!row || !row.fresh || Number(row.orderId) !== orderId) return undefined
      return { userId: Number(row.userId) }
    },
  }
}
