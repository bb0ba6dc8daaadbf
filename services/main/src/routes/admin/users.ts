/** `/api/admin/users/:id` and `/api/admin/credits/adjust`: accounts and balance corrections. */
import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { MainApp } from '../../deps.ts'
import { presentLedgerRow } from '../../ledger.ts'
import { EMAIL_RE, normaliseEmail, presentUser, type UserRow } from '../../users.ts'
import { LedgerRowSchema, UserSchema } from '../schemas.ts'
import { ADMIN, IdParams, Text } from './common.ts'

const adminUserSchema = {
  ...ADMIN,
  summary: 'One user',
  params: IdParams,
  response: { 200: OkEnvelope(UserSchema), ...errorResponses(400, 401, 403, 404) },
}

export async function adminUserRoutes(app: MainApp) {
  const { users, ledger } = app.deps

  app.post(
    '/api/admin/credits/adjust',
    {
      preHandler: app.idempotent,
      schema: {
        ...ADMIN,
        summary: 'Adjust a balance (an ADJUST ledger row); never below zero',
        response: {
          200: OkEnvelope(OpenObject({ entry: LedgerRowSchema, balance: Type.Integer(), user: UserSchema }), '积分已调整'),
          ...errorResponses(400, 401, 403, 404, 409),
        },
        body: Type.Object(
          {
            userId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
            email: Type.Optional(Type.String({ maxLength: 254 })),
            delta: Type.Integer({ minimum: -100_000_000, maximum: 100_000_000 }),
            reason: Text(256, 1),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const b = req.body
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
      req.log.info({ userId: user.id, delta: b.delta, admin: req.user.id }, 'credits adjusted')
      return ok(
        { entry: presentLedgerRow(row), balance: row.balanceAfter, user: presentUser({ ...user, creditBalance: row.balanceAfter }) },
        '积分已调整',
      )
    },
  )

  app.get('/api/admin/users/:id', { schema: adminUserSchema }, async (req) => {
    const user = await users.findById(Number(req.params.id))
    if (!user) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
    return ok(presentUser(user))
  })
}
