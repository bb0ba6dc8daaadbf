/**
 * Nonce store for signed service requests: each (key id, nonce) is accepted once. Rows older than
 * twice the signing window can never be replayed successfully (the timestamp check fails first),
 * so they are pruned from time to time.
 */
import type { Sql } from '@paysys/db'
import { WINDOW_SECONDS } from '@paysys/service-auth'

const PRUNE_EVERY_MS = 10 * 60_000

export function createNonceStore(sql: Sql, log?: { warn(obj: object, msg: string): void }) {
  let lastPrune = Date.now()

  async function prune(): Promise<number> {
    const rows = await sql`delete from service_nonces where seen_at < now() - make_interval(secs => ${WINDOW_SECONDS * 2})`
    return rows.count
  }

  return {
    prune,
    /** True when the nonce was new (and is now remembered); false on a replay. */
    async remember(keyId: string, nonce: string): Promise<boolean> {
      const rows = await sql`
        insert into service_nonces (key_id, nonce) values (${keyId}, ${nonce})
        on conflict do nothing returning 1 as fresh`
      if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = Date.now()
        prune().catch((err: Error) => log?.warn({ err: { message: err.message } }, 'nonce prune failed'))
      }
      return rows.length === 1
    },
  }
}

export type NonceStore = ReturnType<typeof createNonceStore>
