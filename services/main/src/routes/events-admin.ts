/**
 * `/api/admin/events*`: pay's outbox (the events pay pushes to main) for people. A DEAD event is
 * one main never acknowledged in 24 h of retries; once main can take it, an admin resends it. The
 * events live in pay; these routes check the admin (registered inside adminRoutes, whose hook does)
 * and forward over the signed service API. Pay unreachable: 503.
 */
import { Type } from 'typebox'
import { errorResponses, Nullable, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { MainApp } from '../deps.ts'
import { USER } from './schemas.ts'

const ADMIN = { tags: ['admin'], security: USER }
const Event = OpenObject({
  eventId: Type.String(),
  type: Type.String({ description: 'PAYMENT_SUCCEEDED | REFUND_SUCCEEDED' }),
  status: Type.String({ description: 'PENDING | DELIVERED | DEAD' }),
  orderNo: Nullable(Type.String()),
  outTradeNo: Nullable(Type.String()),
  attempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
})

export async function eventAdminRoutes(app: MainApp) {
  const { pay } = app.deps

  app.get(
    '/api/admin/events',
    {
      schema: {
        ...ADMIN,
        summary: "Events pay pushes to main (pay's outbox), newest first; status=DEAD lists the ones given up",
        querystring: Type.Object(
          {
            status: Type.Optional(Type.Union([Type.Literal('PENDING'), Type.Literal('DELIVERED'), Type.Literal('DEAD')])),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
            offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 9_999_999 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: OkEnvelope(
            OpenObject({ content: Type.Array(Event), totalElements: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }),
          ),
          ...errorResponses(400, 401, 403, 502, 503),
        },
      },
    },
    async (req) => {
      const q: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) q[k] = String(v)
      return ok(await pay.listEvents(q, req.id)) as never // pay's answer, passed through
    },
  )

  app.post(
    '/api/admin/events/:eventId/resend',
    {
      schema: {
        ...ADMIN,
        summary: 'Resend a DEAD event: pay retries it at once and for another 24 h; 409 CONFLICT when it is not DEAD',
        params: Type.Object({ eventId: Type.String({ format: 'uuid' }) }),
        response: { 200: OkEnvelope(Event), ...errorResponses(400, 401, 403, 404, 409, 502, 503) },
      },
    },
    async (req) => {
      const event = await pay.resendEvent(req.params.eventId, req.id)
      req.log.warn({ eventId: req.params.eventId, admin: req.user.id }, 'dead event resent by an admin')
      return ok(event) as never
    },
  )
}
