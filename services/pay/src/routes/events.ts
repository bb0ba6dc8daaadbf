/**
 * The outbox on pay's signed service API, for operators (main's admin API is the way in for people:
 * `/api/admin/events*`): list events (DEAD ones need a person), and resend a DEAD one once main can
 * take it. Registered inside serviceRoutes, so every request here is HMAC-verified first.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError, errorResponses, Nullable, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { OutboxAdmin } from '../outbox.ts'

const Status = Type.Union([Type.Literal('PENDING'), Type.Literal('DELIVERED'), Type.Literal('DEAD')])
const TAGS = { tags: ['events'] }

export const EventSchema = OpenObject({
  eventId: Type.String(),
  type: Type.String({ description: 'PAYMENT_SUCCEEDED | REFUND_SUCCEEDED' }),
  status: Type.String({ description: 'PENDING | DELIVERED | DEAD' }),
  orderNo: Nullable(Type.String()),
  outTradeNo: Nullable(Type.String({ description: 'the provider trade number (payment events)' })),
  refundNo: Nullable(Type.String({ description: 'refund events' })),
  attempts: Type.Integer({ description: 'deliveries tried so far' }),
  lastError: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  nextAttemptAt: Type.String({ format: 'date-time' }),
  deliveredAt: Nullable(Type.String({ format: 'date-time' })),
  resentAt: Nullable(Type.String({ format: 'date-time' })),
})

export const eventRoutes: FastifyPluginAsyncTypebox<{
  outbox: OutboxAdmin
  /** Queues the delivery of a resent event (absent, or a no-op, when the push is off). */
  onEventQueued?: (eventId: string) => void
}> = async (app, { outbox, onEventQueued }) => {
  app.get(
    '/api/pay/events',
    {
      schema: {
        ...TAGS,
        summary: 'Events for main (the outbox), newest first, optionally of one status',
        querystring: Type.Object(
          {
            status: Type.Optional(Status),
            limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9]\\d|100)$', description: '1-100, default 20' })),
            offset: Type.Optional(Type.String({ pattern: '^\\d{1,7}$', description: 'default 0' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: OkEnvelope(
            OpenObject({ content: Type.Array(EventSchema), totalElements: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }),
          ),
          ...errorResponses(400, 401),
        },
      },
    },
    async (req) =>
      ok(await outbox.list({ status: req.query.status, limit: Number(req.query.limit ?? 20), offset: Number(req.query.offset ?? 0) })),
  )

  app.post(
    '/api/pay/events/:eventId/resend',
    {
      schema: {
        ...TAGS,
        summary: 'Resend a DEAD event: PENDING again, due now, retried for another 24 h (attempts kept); 409 CONFLICT when not DEAD',
        params: Type.Object({
          eventId: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
        }),
        response: { 200: OkEnvelope(EventSchema), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (req) => {
      const result = await outbox.resend(req.params.eventId)
      if (result.kind === 'NOT_FOUND') throw new AppError(404, 'NOT_FOUND', `事件不存在: ${req.params.eventId}`)
      if (result.kind === 'NOT_DEAD') throw new AppError(409, 'CONFLICT', `只有 DEAD 的事件可以重发（当前 ${result.status}）`)
      req.log.warn({ eventId: result.event.eventId, attempts: result.event.attempts }, 'dead event resent')
      onEventQueued?.(result.event.eventId)
      return ok(result.event, '已重新加入投递队列')
    },
  )
}
