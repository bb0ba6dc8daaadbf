/**
 * The rules around the credit balance that routes call: spending (by the user, or by a backend with a
 * service key naming the user) and an admin's correction. The ledger (ledger.ts) writes the rows.
 */
import type { FastifyBaseLogger } from 'fastify'
import { AppError } from '@paysys/contracts'
import type { Ledger, LedgerRow } from './ledger.ts'
import { EMAIL_RE, normaliseEmail, type UserRow, type UsersRepo } from './users.ts'

export function createCreditsService(deps: { users: UsersRepo; ledger: Ledger }) {
  const { users, ledger } = deps

  return {
    /**
     * Spends `credits` once per key. `by`: the signed-in user (who may only name themself) or a service
     * key (which must name the user by id or email). 409 for too few credits or a key reused for another spend.
     */
    async spend(
      by: { userId: number } | { serviceKeyId: string },
      b: { credits: number; description?: string; key: string | undefined; userId?: number; email?: string },
    ): Promise<{ row: LedgerRow; replayed: boolean; key: string }> {
      if (!b.key) throw new AppError(400, 'INVALID_PARAMS', '需要 idempotencyKey（或 Idempotency-Key 请求头）')
      let userId: number
      if ('serviceKeyId' in by) {
        const target =
          b.userId !== undefined ? await users.findById(b.userId) : b.email !== undefined ? await users.findByEmail(b.email) : undefined
        if (b.userId === undefined && b.email === undefined) throw new AppError(400, 'INVALID_PARAMS', '服务调用需要 userId 或 email')
        if (!target) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
        userId = target.id
      } else {
        const me = await users.findById(by.userId)
        if (!me) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
        const other = (b.userId !== undefined && b.userId !== me.id) || (b.email !== undefined && normaliseEmail(b.email) !== me.email)
        if (other) throw new AppError(403, 'FORBIDDEN', '只能消费自己的积分')
        userId = me.id
      }
      const description = b.description?.trim() || `消费 ${b.credits} 积分`
      const r = await ledger.consume(userId, b.credits, description, b.key)
      if (r.outcome === 'INSUFFICIENT') throw new AppError(409, 'INSUFFICIENT_CREDITS', `积分不足：需要 ${b.credits}，当前 ${r.balance}`)
      if (r.outcome === 'KEY_REUSED') throw new AppError(409, 'IDEMPOTENCY_KEY_REUSED', '该 idempotencyKey 已用于另一次消费')
      return { row: r.row, replayed: r.outcome === 'REPLAYED', key: b.key }
    },

    /** An admin's correction (an ADJUST row with the reason); never below zero (409). */
    async adjust(
      b: { userId?: number; email?: string; delta: number; reason: string },
      by: { adminId: number; log: FastifyBaseLogger },
    ): Promise<{ row: LedgerRow; user: UserRow }> {
      if (b.delta === 0) throw new AppError(400, 'INVALID_PARAMS', 'delta 不能为 0')
      if ((b.userId === undefined) === (b.email === undefined)) throw new AppError(400, 'INVALID_PARAMS', '需要 userId 或 email（二选一）')
      if (!b.reason.trim()) throw new AppError(400, 'INVALID_PARAMS', '需要调整原因 reason')
      let user: UserRow | undefined
      if (b.userId !== undefined) user = await users.findById(b.userId)
      else {
        if (!EMAIL_RE.test(normaliseEmail(b.email!))) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
        user = await users.findByEmail(b.email!)
      }
      if (!user) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
      const row = await ledger.adjust(user.id, b.delta, `管理员调整：${b.reason.trim()}`)
      if (!row) throw new AppError(409, 'INSUFFICIENT_CREDITS', `余额 ${user.creditBalance} 不足以扣减 ${-b.delta} 积分`)
      by.log.info({ userId: user.id, delta: b.delta, admin: by.adminId }, 'credits adjusted')
      return { row, user: { ...user, creditBalance: row.balanceAfter } }
    },
  }
}
export type CreditsService = ReturnType<typeof createCreditsService>
