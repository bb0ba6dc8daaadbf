/** `/api/admin/stats/daily`: daily figures (stats.ts computes them). */
import { Type } from 'typebox'
import { errorResponses, ok, OkEnvelope } from '@paysys/contracts'
import type { MainApp } from '../../deps.ts'
import { DailyStatsSchema } from '../schemas.ts'
import { ADMIN } from './common.ts'

export async function adminStatsRoutes(app: MainApp) {
  app.get(
    '/api/admin/stats/daily',
    {
      schema: {
        ...ADMIN,
        summary: 'Daily figures (Asia/Shanghai days; default the last 7; at most 366)',
        response: { 200: OkEnvelope(DailyStatsSchema), ...errorResponses(400, 401, 403) },
        querystring: Type.Object({
          from: Type.Optional(Type.String({ maxLength: 10 })),
          to: Type.Optional(Type.String({ maxLength: 10 })),
        }),
      },
    },
    async (req) => ok(await app.deps.stats.daily(req.query)),
  )
}
