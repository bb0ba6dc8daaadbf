/**
 * `/api/admin/reconciliations*`: the people's way into reconciliation against provider bills (对账).
 * The runs and differences live in pay (which holds the provider keys and the payment attempts);
 * these routes check the admin (registered inside adminRoutes, whose hook does) and forward over
 * the signed service API.
 */
import { Type } from 'typebox'
import { errorResponses, ok, OkEnvelope, OpenObject } from '@paysys/contracts'
import type { MainApp } from '../deps.ts'
import { USER } from './schemas.ts'

const ADMIN = { tags: ['admin'], security: USER }
/** A provider code as pay names it; pay refuses one it does not have. */
const Provider = Type.String({ pattern: '^[A-Z][A-Z0-9_]{1,31}$' })
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'Bill day, yyyy-MM-dd (China time)' })
const Id = Type.Object({ id: Type.String({ pattern: '^[1-9]\\d{0,14}$' }) })
const Run = OpenObject({
  id: Type.Integer(),
  provider: Type.String(),
  billDay: Type.String(),
  status: Type.String({ description: 'RUNNING | SUCCEEDED | FAILED' }),
  error: Type.Union([Type.String(), Type.Null()]),
  billRows: Type.Integer(),
  matched: Type.Integer(),
  differences: Type.Integer(),
  repaired: Type.Integer(),
  byClass: Type.Record(Type.String(), Type.Integer()),
})

export async function reconciliationAdminRoutes(app: MainApp) {
  const { pay } = app.deps

  app.get(
    '/api/admin/reconciliations',
    {
      schema: {
        ...ADMIN,
        summary: 'Reconciliation runs (counts and totals in fen), newest first',
        querystring: Type.Object(
          {
            provider: Type.Optional(Provider),
            day: Type.Optional(Day),
            page: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
            size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: OkEnvelope(OpenObject({ content: Type.Array(Run), totalElements: Type.Integer(), totalPages: Type.Integer() })),
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (req) => {
      const q: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) q[k] = String(v)
      return ok(await pay.reconciliations(q, req.id)) as never // pay's answer, passed through
    },
  )

  app.post(
    '/api/admin/reconciliations',
    {
      schema: {
        ...ADMIN,
        summary:
          'Reconcile one provider day now (a bill that cannot be had or does not verify is 502 BILL_UNAVAILABLE, stored as a FAILED run), or with `async: true` queue it on the job queue, which retries with backoff until the bill verifies (202)',
        body: Type.Object({ provider: Provider, day: Day, async: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: {
          200: OkEnvelope(Run),
          202: OkEnvelope(OpenObject({ queued: Type.Boolean(), jobId: Type.Union([Type.String(), Type.Null()]) })),
          ...errorResponses(400, 401, 403, 409, 422, 502, 503),
        },
      },
    },
    async (req, reply) => {
      const data = await pay.runReconciliation(req.body, req.id)
      return reply.code(req.body.async ? 202 : 200).send(ok(data) as never)
    },
  )

  app.get(
    '/api/admin/reconciliations/:id',
    {
      schema: {
        ...ADMIN,
        summary: 'One run with the differences of its day (differenceList)',
        params: Id,
        response: {
          200: OkEnvelope(OpenObject({ ...Run.properties, differenceList: Type.Array(OpenObject({ id: Type.Integer() })) })),
          ...errorResponses(400, 401, 403, 404, 503),
        },
      },
    },
    async (req) => ok(await pay.reconciliation(req.params.id, req.id)) as never,
  )

  app.post(
    '/api/admin/reconciliations/differences/:id/resolve',
    {
      schema: {
        ...ADMIN,
        summary: 'Mark an open difference resolved with a note (who resolved it is recorded)',
        params: Id,
        body: Type.Object({ note: Type.String({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false }),
        response: {
          200: OkEnvelope(OpenObject({ id: Type.Integer(), status: Type.String() })),
          ...errorResponses(400, 401, 403, 404, 409, 503),
        },
      },
    },
    async (req) =>
      ok(await pay.resolveDifference(req.params.id, { note: req.body.note, resolvedBy: `admin:${req.user.id}` }, req.id)) as never,
  )
}
