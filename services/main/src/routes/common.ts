/** Shared route pieces: paging (seed 000 page/size, seed 001 skip/limit) and ids. */
import { Type } from 'typebox'
import { AppError } from '@paysys/contracts'
import { parseYuan } from '@paysys/money'

export const Paging = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
  size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
})

/** `page`/`size` (0-based), or seed 001's `skip`/`limit`. */
export function paging(q: { page?: number; size?: number; skip?: number; limit?: number }, defaultSize = 10) {
  const size = q.size ?? q.limit ?? defaultSize
  const offset = q.skip ?? (q.page ?? 0) * size
  return { size, offset, limit: size, page: Math.floor(offset / size) }
}

export function pageOf<T>(content: T[], total: number, p: { size: number; page: number }) {
  return { content, totalElements: total, totalPages: Math.ceil(total / p.size), page: p.page, size: p.size }
}

/** A positive integer id given in a path (numeric ids only). */
export const NumericId = Type.String({ pattern: '^[1-9][0-9]{0,14}$' })

/** Yuan from the API (JSON number or string, ≤ 2 decimals, > 0) → fen; anything else is a 400. */
export function yuanToFen(value: unknown, what: string, opts: { allowZero?: boolean } = {}): number {
  let fen: number
  try {
    if (typeof value !== 'number' && typeof value !== 'string') throw new Error('not an amount')
    fen = parseYuan(value)
  } catch {
    throw new AppError(400, 'INVALID_PARAMS', `${what} 必须是不超过两位小数的非负金额（元）`)
  }
  if (fen === 0 && !opts.allowZero) throw new AppError(400, 'INVALID_PARAMS', `${what} 必须大于 0`)
  return fen
}

/** A yuan amount: checked by `yuanToFen` (not by the coercing validator, which would read `true` as 1). */
export const Yuan = Type.Unknown({ description: 'yuan, a JSON number or decimal string with at most 2 decimals' })
