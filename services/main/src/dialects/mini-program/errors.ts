/**
 * Seed 001's backend is FastAPI: errors are `{"detail": "…"}` with the status codes of its table
 * (400 bad request, 401, 403, 404; 429 and 5xx as they come). main's own refusals keep their status,
 * except that 409/422 (not in the seed's table) become 400. Registered in the dialect's plugin only.
 */
import type { FastifyError, FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { AppError } from '@paysys/contracts'
import { databaseUnavailable } from '@paysys/server-kit'

export const Detail = Type.Object({ detail: Type.String() }, { description: 'FastAPI error: {"detail": "…"}' })

const KEPT = new Set([400, 401, 403, 404, 413, 415, 429, 502, 503])

/** `{detail}` error responses for a route schema, as `errorResponses` gives the envelope ones. */
export function detailResponses(...codes: number[]) {
  return Object.fromEntries(codes.map((c) => [c, Detail]))
}

export function useDetailErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    const send = (status: number, detail: string) => reply.status(status).send({ detail })
    if (err instanceof AppError) {
      if (err.status >= 500) req.log.warn({ err: { message: err.message, code: err.error } }, 'request failed')
      return send(KEPT.has(err.status) ? err.status : err.status < 500 ? 400 : 503, err.message)
    }
    const fe = err as FastifyError
    if (fe.validation) return send(400, `请求参数无效: ${fe.message}`)
    const status = fe.statusCode ?? 500
    if (status >= 400 && status < 500) return send(KEPT.has(status) ? status : 400, `请求无效: ${fe.message}`)
    if (databaseUnavailable(err)) {
      req.log.warn({ err: { message: (err as Error).message } }, 'database unavailable')
      return reply.header('retry-after', '1').status(503).send({ detail: '服务暂时不可用，请稍后重试' })
    }
    req.log.error({ err }, 'unhandled error')
    return send(500, '服务器内部错误')
  })
}
