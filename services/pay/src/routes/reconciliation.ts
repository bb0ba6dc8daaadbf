/**
 * Reconciliation (对账) on pay's signed service API; main's admin API is the way in for people
 * (`/api/admin/reconciliations*`). Registered inside serviceRoutes, so every request here is
 * HMAC-verified first.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError, errorResponses, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { Reconciler } from '../reconciliation/engine.ts'
import { PROVIDERS } from '../providers/index.ts'

const Provider = Type.Union(PROVIDERS.map((p) => Type.Literal(p)))
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'Bill day, yyyy-MM-dd (China time)' })
const RunSchema = OpenObject({
  id: Type.Integer(),
  provider: Type.String(),
  billDay: Type.String(),
  status: Type.String({ description: 'RUNNING | SUCCEEDED | FAILED' }),
  differences: Type.Integer(),
  byClass: Type.Record(Type.String(), Type.Integer()),
})
const TAGS = { tags: ['reconciliation'] }
/** Path ids arrive as strings (the service API validates strictly, without coercion). */
const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9]\\d{0,14}$' }) })

export const reconciliationRoutes: FastifyPluginAsyncTypebox<{
  reconciler: Reconciler
  /** Queues a run on the job queue (retried with backoff when it fails); absent when jobs are off. */
  enqueue?: () => ((provider: string, day: string) => Promise<string | null>) | undefined
}> = async (app, { reconciler, enqueue }) => {
  app.get(
    '/api/pay/reconciliations',
    {
      schema: {
        ...TAGS,
        summary: 'Reconciliation runs, newest first',
        querystring: Type.Object(
          {
            provider: Type.Optional(Provider),
            day: Type.Optional(Day),
            page: Type.Optional(Type.String({ pattern: '^\\d{1,6}$', description: '0-based, default 0' })),
            size: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9]\\d|100)$', description: '1-100, default 20' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: OkEnvelope(OpenObject({ content: Type.Array(RunSchema), totalElements: Type.Integer() })),
          ...errorResponses(400, 401),
        },
      },
    },
    async (req) =>
      ok(
        await reconciler.listRuns({
          provider: req.query.provider,
          day: req.query.day,
          page: Number(req.query.page ?? 0),
          size: Number(req.query.size ?? 20),
        }),
      ),
  )

  app.post(
    '/api/pay/reconciliations',
    {
      schema: {
        ...TAGS,
        summary: 'Reconcile one provider day: now (waits for the run), or queued with `async: true` (retried until the bill verifies)',
        body: Type.Object({ provider: Provider, day: Day, async: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: {
          200: OkEnvelope(RunSchema),
          202: OkEnvelope(OpenObject({ queued: Type.Boolean(), jobId: Type.Union([Type.String(), Type.Null()]) })),
          ...errorResponses(400, 401, 409, 422, 502, 503),
        },
      },
    },
    async (req, reply) => {
      if (!req.body.async) return ok(await reconciler.run(req.body.provider, req.body.day, 'MANUAL'))
      const send = enqueue?.()
      if (!send) throw new AppError(503, 'SERVICE_UNAVAILABLE', '对账任务队列未启用（RECONCILE_JOBS_ENABLED=false）')
      reconciler.assertRunnable(req.body.provider, req.body.day)
      const jobId = await send(req.body.provider, req.body.day)
      return reply.code(202).send(ok({ queued: true, jobId }, '已加入对账队列'))
    },
  )

  app.get(
    '/api/pay/reconciliations/:id',
    {
      schema: {
        ...TAGS,
        summary: 'One run with the differences of its day',
        params: IdParams,
        response: { 200: OkEnvelope(RunSchema), ...errorResponses(400, 401, 404) },
      },
    },
    async (req) => ok(await reconciler.getRun(Number(req.params.id))),
  )

  app.post(
    '/api/pay/reconciliations/differences/:id/resolve',
    {
      schema: {
        ...TAGS,
        summary: 'Mark an open difference resolved, with a note',
        params: IdParams,
        body: Type.Object(
          { note: Type.String({ minLength: 1, maxLength: 1000 }), resolvedBy: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: OkEnvelope(OpenObject({ id: Type.Integer(), status: Type.String() })), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (req) => ok(await reconciler.resolve(Number(req.params.id), req.body.note, req.body.resolvedBy)),
  )
}
