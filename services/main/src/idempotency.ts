/**
 * `Idempotency-Key` for POSTs that create something. Used as a route preHandler after auth:
 * - first use of a key: the request runs; a 2xx answer is stored with a hash of the request;
 *   any other answer removes the key (nothing is remembered for a refused request);
 * - same key + same request: the stored answer is replayed (`idempotent-replayed: true`); while
 *   the first is still running, the second waits for it (up to a few seconds, then 409);
 * - same key + another request (other body or path): 409 IDEMPOTENCY_KEY_REUSED.
 * Keys are scoped per caller (user id, service key id, or guest) and kept 24 hours.
 */
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { currentUser } from './auth.ts'

export const IDEMPOTENCY_HEADER = 'idempotency-key'
const KEY_RE = /^[\x21-\x7e]{1,128}$/
const WAIT_STEP_MS = 100
const WAIT_MAX_MS = 10_000
/** A first request still "running" after this long has died with its process: its key is freed. */
const ABANDONED_AFTER_S = 120

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for creating POSTs (place it after the auth preHandler). */
    idempotent: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    idempotency?: { scope: string; key: string; replayed: boolean }
    /** Set by routes authenticated with a service key (scope of their idempotency keys). */
    serviceKeyId?: string
  }
}

/** Deeper bodies are refused before they are hashed (recursion would overflow the stack: a 500). */
const MAX_DEPTH = 64

/** JSON with sorted keys: two bodies that differ only in key order are the same request. */
export function stableJson(v: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new AppError(400, 'INVALID_PARAMS', '请求体嵌套过深')
  if (Array.isArray(v)) return `[${v.map((x) => stableJson(x, depth + 1)).join(',')}]`
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k], depth + 1)}`)
      .join(',')}}`
  }
  return JSON.stringify(v ?? null)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const idempotencyPlugin = fp<{ sql: Sql }>(
  async (app, { sql }) => {
    app.decorate('idempotent', async (req: FastifyRequest, reply: FastifyReply) => {
      const header = req.headers[IDEMPOTENCY_HEADER]
      if (header === undefined) return
      if (typeof header !== 'string' || !KEY_RE.test(header)) {
        throw new AppError(400, 'INVALID_PARAMS', 'Idempotency-Key 必须是 1-128 个可见 ASCII 字符')
      }
      const user = currentUser(req)
      const scope = user ? `user:${user.id}` : req.serviceKeyId ? `svc:${req.serviceKeyId}` : 'guest'
      const hash = createHash('sha256')
        .update(`${req.method} ${req.url}\n${stableJson(req.body)}`)
        .digest('hex')
      const deadline = Date.now() + WAIT_MAX_MS
      for (;;) {
        const inserted = await sql`
          insert into idempotency_keys (scope, key, request_hash) values (${scope}, ${header}, ${hash})
          on conflict do nothing returning 1 as fresh`
        if (inserted.length) {
          req.idempotency = { scope, key: header, replayed: false }
          return
        }
        const [row] = await sql<{ requestHash: string; statusCode: number | null; response: string | null; abandoned: boolean }[]>`
          select request_hash as "requestHash", status_code as "statusCode", response,
                 created_at < now() - make_interval(secs => ${ABANDONED_AFTER_S}) as abandoned
            from idempotency_keys where scope = ${scope} and key = ${header}`
        if (!row) continue // the first request failed meanwhile and freed the key
        if (row.requestHash !== hash) throw new AppError(409, 'IDEMPOTENCY_KEY_REUSED', '该 Idempotency-Key 已用于另一个请求')
        if (row.statusCode !== null && row.response !== null) {
          req.idempotency = { scope, key: header, replayed: true }
          reply.header('idempotent-replayed', 'true').code(row.statusCode).type('application/json; charset=utf-8')
          return reply.send(row.response)
        }
        if (row.abandoned) {
          await sql`delete from idempotency_keys where scope = ${scope} and key = ${header} and status_code is null`
          continue
        }
        if (Date.now() > deadline)
          throw new AppError(409, 'IDEMPOTENCY_KEY_IN_PROGRESS', '相同 Idempotency-Key 的请求仍在处理中，请稍后重试')
        await sleep(WAIT_STEP_MS)
      }
    })

    // The answer of a keyed request is kept (or its key freed) as it is sent: a hook on the routes that take keys
    // only (those with the `idempotent` preHandler), so the others' answers pass one hook fewer (the catalogue bench).
    const keep = (req: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, p?: unknown) => void) => {
      const idem = req.idempotency
      if (!idem || idem.replayed) return done(null, payload)
      req.idempotency = undefined
      const kept =
        reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string'
          ? sql`update idempotency_keys set status_code = ${reply.statusCode}, response = ${payload}
              where scope = ${idem.scope} and key = ${idem.key}`
          : sql`delete from idempotency_keys where scope = ${idem.scope} and key = ${idem.key} and status_code is null`
      kept.then(
        () => done(null, payload),
        (err: Error) => done(err),
      )
    }
    app.addHook('onRoute', (route) => {
      const pre = route.preHandler
      if (!(Array.isArray(pre) ? pre.includes(app.idempotent) : pre === app.idempotent)) return
      const own = route.onSend
      route.onSend = [...(own === undefined ? [] : Array.isArray(own) ? own : [own]), keep] as typeof route.onSend
    })
  },
  { name: 'idempotency' },
)

/** Forgets keys older than a day. */
export async function pruneIdempotencyKeys(sql: Sql): Promise<number> {
  const r = await sql`delete from idempotency_keys where created_at < now() - interval '24 hours'`
  return r.count
}
