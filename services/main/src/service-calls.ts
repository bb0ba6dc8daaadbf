/** Signed calls from our other services (pay's events) and from backends holding a service key. */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Sql } from '@paysys/db'
import { HEADER_KEY_ID, verifyServiceRequest } from '@paysys/service-auth'

/** Nonces of signed calls seen (replay protection): false when this one was seen before. */
export function createNonceStore(sql: Sql) {
  return {
    async remember(keyId: string, nonce: string): Promise<boolean> {
      return (
        (await sql`insert into service_nonces (key_id, nonce) values (${keyId}, ${nonce}) on conflict do nothing returning 1`).length === 1
      )
    },
  }
}
export type NonceStore = ReturnType<typeof createNonceStore>

/** True when the request carries service-signature headers (it then must verify). */
export function isServiceCall(req: FastifyRequest): boolean {
  return req.headers[HEADER_KEY_ID] !== undefined
}

/** Verifies the HMAC signature over the exact body received; 401 SERVICE_AUTH_FAILED otherwise. Returns the key id. */
export async function verifyServiceCall(app: FastifyInstance, req: FastifyRequest): Promise<string> {
  const { config, nonces } = app.deps
  const auth = await verifyServiceRequest({
    headers: req.headers,
    method: req.method,
    path: req.url,
    body: req.rawBody ?? '',
    keys: config.serviceKeys,
    rememberNonce: (keyId, nonce) => nonces.remember(keyId, nonce),
  })
  if (!auth.ok) throw new AppError(401, 'SERVICE_AUTH_FAILED', `服务签名校验失败: ${auth.reason}`)
  return auth.keyId
}
