/** Epay's HTTP: one call answering JSON (V1 and V2 alike), via undici. */
import { request } from 'undici'
import { ProviderError } from '../types.ts'

const FORM = 'application/x-www-form-urlencoded; charset=utf-8'

/**
 * One HTTP call answering JSON. The URL may carry the key (api.php): never put it in errors. Network
 * failures, non-200 answers and bodies that are not JSON are ProviderErrors (retryable).
 */
export async function epayCallJson(
  timeoutMs: number,
  what: string,
  url: string,
  init: { method: 'GET' | 'POST'; form?: Record<string, string> },
): Promise<unknown> {
  let text: string
  let status: number
  try {
    const res = await request(url, {
      method: init.method,
      headers: init.form ? { 'content-type': FORM } : {},
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    status = res.statusCode
    text = await res.body.text()
  } catch (err) {
    const e = err as Error & { code?: string }
    throw new ProviderError(`易支付请求失败 (${what}): ${e.code ?? e.name}`, 'EPAY', { name: e.name, code: e.code })
  }
  if (status !== 200) throw new ProviderError(`易支付请求失败 (${what}): HTTP ${status}`, 'EPAY', { status, body: text.slice(0, 500) })
  try {
    // Some Epay sites prefix a UTF-8 BOM.
    return JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch {
    throw new ProviderError(`易支付返回的不是 JSON (${what})`, 'EPAY', { status, body: text.slice(0, 500) })
  }
}
