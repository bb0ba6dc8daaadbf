import { Agent, request } from 'undici'
import { signServiceRequest, type ServiceKey } from './index.ts'

export interface ServiceResponse<T = unknown> {
  status: number
  body: T
}

/** A small HTTP client that signs every request to a peer service. */
export function createServiceClient(opts: { baseUrl: string; key: ServiceKey; timeoutMs?: number }) {
  const base = new URL(opts.baseUrl)
  const dispatcher = new Agent({
    connections: 64,
    headersTimeout: opts.timeoutMs ?? 10_000,
    bodyTimeout: opts.timeoutMs ?? 10_000,
    connectTimeout: Math.min(opts.timeoutMs ?? 10_000, 5_000),
  })
  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    payload?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<ServiceResponse<T>> {
    const body = payload === undefined ? '' : JSON.stringify(payload)
    const headers: Record<string, string> = {
      ...extraHeaders,
      ...signServiceRequest({ key: opts.key, method, path, body }),
    }
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const res = await request(new URL(path, base), { method, headers, body: payload === undefined ? undefined : body, dispatcher })
    const text = await res.body.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      /* non-JSON answer: keep the text */
    }
    return { status: res.statusCode, body: parsed as T }
  }
  return {
    get: <T>(path: string, headers?: Record<string, string>) => call<T>('GET', path, undefined, headers),
    post: <T>(path: string, payload: unknown, headers?: Record<string, string>) => call<T>('POST', path, payload, headers),
    close: () => dispatcher.close(),
  }
}
export type ServiceClient = ReturnType<typeof createServiceClient>
