/** `/api/admin/users/:id` and `/api/admin/credits/adjust`: accounts and balance corrections. */
import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { MainApp } from '../../deps.ts'
import { presentLedgerRow } from '../../ledger.ts'
import { presentUser } from '../../users.ts'
import { LedgerRowSchema, UserSchema } from '../schemas.ts'
import { ADMIN, IdParams, Text } from './common.ts'

const adminUserSchema = {
  ...ADMIN,
  summary: 'One user',
  params: IdParams,
  response: { 200: OkEnvelope(UserSchema), ...errorResponses(400, 401, 403, 404) },
}

export async function adminUserRoutes(app: MainApp) {
  const { users } = app.deps

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
      const { row, user } = await app.deps.credits.adjust(req.body, { adminId: req.user.id, log: req.log })
      return ok({ entry: presentLedgerRow(row), balance: row.balanceAfter, user: presentUser(user) }, '积分已调整')
    },
  )

  app.get('/api/admin/users/:id', { schema: adminUserSchema }, async (req) => {
    const user = await users.findById(Number(req.params.id))
    if (!user) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
    return ok(presentUser(user))
  })
}
