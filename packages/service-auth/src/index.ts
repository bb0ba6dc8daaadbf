/**
 * Service-to-service request signing (main ↔ pay).
 *
 * signature = base64url(HMAC-SHA256(secret, METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n SHA256_HEX(BODY)))
 * sent as headers x-svc-key-id, x-svc-timestamp (unix seconds), x-svc-nonce, x-svc-signature.
 * Several keys may be valid at once (rotation); each nonce is accepted once within the window.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const HEADER_KEY_ID = 'x-svc-key-id'
export const HEADER_TIMESTAMP = 'x-svc-timestamp'
export const HEADER_NONCE = 'x-svc-nonce'
export const HEADER_SIGNATURE = 'x-svc-signature'
export const WINDOW_SECONDS = 300

export interface ServiceKey {
  id: string
  secret: string
}

/** Parses `id1:secret1,id2:secret2`. The first key is the one used for signing. */
export function parseServiceKeys(spec: string): ServiceKey[] {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':')
      if (i <= 0 || i === pair.length - 1) throw new Error('service key must look like id:secret')
      const key = { id: pair.slice(0, i), secret: pair.slice(i + 1) }
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(key.id)) throw new Error(`invalid service key id: ${key.id}`)
      if (key.secret.length < 16) throw new Error(`service key ${key.id} is shorter than 16 characters`)
      return key
    })
  if (keys.length === 0) throw new Error('at least one service key is required')
  return keys
}

function canonical(method: string, path: string, timestamp: string, nonce: string, body: string | Buffer): string {
  const bodyHash = createHash('sha256').update(body).digest('hex')
  return `${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${bodyHash}`
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url')
}

export function signServiceRequest(opts: {
  key: ServiceKey
  method: string
  path: string
  body?: string | Buffer
  now?: number
  nonce?: string
}): Record<string, string> {
  const timestamp = String(Math.floor((opts.now ?? Date.now()) / 1000))
  const nonce = opts.nonce ?? randomBytes(16).toString('base64url')
  const signature = hmac(opts.key.secret, canonical(opts.method, opts.path, timestamp, nonce, opts.body ?? ''))
  return {
    [HEADER_KEY_ID]: opts.key.id,
    [HEADER_TIMESTAMP]: timestamp,
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: signature,
  }
}

export type ServiceAuthFailure = 'MISSING_HEADERS' | 'UNKNOWN_KEY' | 'BAD_TIMESTAMP' | 'EXPIRED' | 'BAD_SIGNATURE' | 'REPLAYED_NONCE'

export type ServiceAuthResult = { ok: true; keyId: string } | { ok: false; reason: ServiceAuthFailure }

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * Verifies a signed request. `rememberNonce` must atomically record the nonce and return
 * false when it was already seen (e.g. INSERT … ON CONFLICT DO NOTHING). It is called only
 * after the signature checks out, so unauthenticated callers cannot fill the store.
 */
export async function verifyServiceRequest(opts: {
  headers: Record<string, string | string[] | undefined>
  method: string
  path: string
  body: string | Buffer
  keys: readonly ServiceKey[]
  rememberNonce: (keyId: string, nonce: string, timestamp: number) => Promise<boolean>
  now?: number
}): Promise<ServiceAuthResult> {
  const keyId = header(opts.headers, HEADER_KEY_ID)
  const ts = header(opts.headers, HEADER_TIMESTAMP)
  const nonce = header(opts.headers, HEADER_NONCE)
  const signature = header(opts.headers, HEADER_SIGNATURE)
  if (!keyId || !ts || !nonce || !signature) return { ok: false, reason: 'MISSING_HEADERS' }
  const key = opts.keys.find((k) => k.id === keyId)
  if (!key) return { ok: false, reason: 'UNKNOWN_KEY' }
  if (!/^\d{1,12}$/.test(ts) || nonce.length > 128) return { ok: false, reason: 'BAD_TIMESTAMP' }
  const nowSec = Math.floor((opts.now ?? Date.now()) / 1000)
  if (Math.abs(nowSec - Number(ts)) > WINDOW_SECONDS) return { ok: false, reason: 'EXPIRED' }
  const expected = Buffer.from(hmac(key.secret, canonical(opts.method, opts.path, ts, nonce, opts.body)))
  const given = Buffer.from(signature)
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'BAD_SIGNATURE' }
  if (!(await opts.rememberNonce(keyId, nonce, Number(ts)))) return { ok: false, reason: 'REPLAYED_NONCE' }
  return { ok: true, keyId }
}

export { createServiceClient, type ServiceClient, type ServiceResponse } from './client.ts'
