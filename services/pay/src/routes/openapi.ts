/** pay's OpenAPI document (/docs): info, and the tags of its routes. Route schemas are next to each route. */
import type { OpenApiOptions } from '@paysys/server-kit'

export const PAY_OPENAPI: OpenApiOptions = {
  title: 'paysys pay — payment gateway',
  version: '1.0.0',
  description:
    'The service API (tag service) is called by main only: every request is signed with a SERVICE_KEYS key — headers ' +
    'x-svc-key-id, x-svc-timestamp (unix s, ±300 s), x-svc-nonce (accepted once) and x-svc-signature = HMAC-SHA256 over ' +
    'method, path, timestamp, nonce and the SHA-256 of the body (@paysys/service-auth); a bad signature is 401 SERVICE_AUTH_FAILED. ' +
    'It answers `{code, message, data, timestamp}` envelopes (errors add `error`); amounts are integer fen. ' +
    'The notify routes are called by the providers and answer what each provider expects; the return routes redirect the browser.',
  tags: [
    { name: 'service', description: 'signed calls from main (amounts in fen)' },
    { name: 'reconciliation', description: 'bill reconciliation (signed calls from main)' },
    { name: 'notify', description: 'provider notifications' },
    { name: 'browser', description: 'the buyer back from the cashier' },
  ],
}
