/**
 * Figures for the operator console on pay's signed service API (main's `/api/admin/console/*` and
 * `/api/admin/orders/:id/trail` are the way in for people). Read-only. Registered inside
 * serviceRoutes, so every request here is HMAC-verified first.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, Nullable, ok, OkEnvelope, OpenObject, ServiceAuthHeaders } from '@paysys/contracts'
import type { ConsoleQueries } from '../console.ts'

// Signed like every service route (x-svc-* headers, checked before validation).
const TAGS = { tags: ['console'], headers: ServiceAuthHeaders }
const Time = Type.String({ format: 'date-time' })

export const ConsoleHealthSchema = OpenObject({
  outbox: OpenObject({ pending: Type.Integer(), oldestPendingAgeSeconds: Nullable(Type.Integer()), dead: Type.Integer() }),
  verificationFailuresLastHour: Type.Integer({ description: 'notifies REJECTED in the last hour (all instances)' }),
  verificationFailuresByProvider: Type.Record(Type.String(), Type.Integer()),
  reconciliations: Type.Array(
    OpenObject({
      provider: Type.String(),
      enabled: Type.Boolean(),
      openDifferences: Type.Integer({ description: 'OPEN differences of every day' }),
      lastRun: Nullable(
        OpenObject({
          id: Type.Integer(),
          billDay: Type.String(),
          status: Type.String(),
          differences: Type.Integer(),
          repaired: Type.Integer(),
          error: Nullable(Type.String()),
          startedAt: Time,
          finishedAt: Nullable(Time),
        }),
      ),
    }),
  ),
})

export const OrderTrailSchema = OpenObject({
  orderNo: Type.String(),
  attempts: Type.Array(
    OpenObject({
      id: Type.String(),
      outTradeNo: Type.String(),
      provider: Type.String(),
      channel: Type.String(),
      amount: Type.Integer({ description: 'fen' }),
      status: Type.String(),
      tradeNo: Nullable(Type.String()),
      paidVia: Nullable(Type.String()),
      createdAt: Time,
      paidAt: Nullable(Time),
      closedAt: Nullable(Time),
    }),
  ),
  notifies: Type.Array(
    OpenObject({
      id: Type.Integer(),
      provider: Type.String(),
      outTradeNo: Type.String(),
      verdict: Type.String({ description: 'ACCEPTED | DUPLICATE | IGNORED | REJECTED' }),
      reason: Nullable(Type.String()),
      receivedAt: Time,
    }),
  ),
  events: Type.Array(
    OpenObject({
      eventId: Type.String(),
      type: Type.String(),
      status: Type.String(),
      attempts: Type.Integer(),
      lastError: Nullable(Type.String()),
      refundNo: Nullable(Type.String()),
      createdAt: Time,
      deliveredAt: Nullable(Time),
    }),
  ),
  refunds: Type.Array(
    OpenObject({
      refundNo: Type.String(),
      provider: Type.String(),
      amount: Type.Integer({ description: 'fen' }),
      status: Type.String(),
      failureReason: Nullable(Type.String()),
      createdAt: Time,
      refundedAt: Nullable(Time),
    }),
  ),
})

export const consoleRoutes: FastifyPluginAsyncTypebox<{ queries: ConsoleQueries }> = async (app, { queries }) => {
  app.get(
    '/api/pay/console/health',
    {
      schema: {
        ...TAGS,
        summary: 'Outbox backlog and dead events, last reconciliation per provider, verification failures in the last hour',
        response: { 200: OkEnvelope(ConsoleHealthSchema), ...errorResponses(401) },
      },
    },
    async () => ok(await queries.health()),
  )

  app.get(
    '/api/pay/console/orders/:orderNo/trail',
    {
      schema: {
        ...TAGS,
        summary: "An order's payment attempts, notifies (verdicts, no bodies), events for main and refunds, oldest first",
        params: Type.Object({ orderNo: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) }),
        response: { 200: OkEnvelope(OrderTrailSchema), ...errorResponses(400, 401) },
      },
    },
    async (req) => ok(await queries.orderTrail(req.params.orderNo)),
  )
}
