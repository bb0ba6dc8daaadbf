/**
 * `/api/admin/console/*` and the order trail: what the operator console (services/web, `/admin`)
 * needs beyond the resource routes — health tiles, an order's story in time order, a refund's
 * claw-back before it is confirmed, users by email with their ledger. Read-only; registered inside
 * adminRoutes, whose hook checks the admin role in the database on every request. Pay's part comes
 * over the signed service API; pay being down leaves main's part readable (`payError`).
 */
import { Type } from 'typebox'
import { AppError, errorResponses, Nullable, ok, OkEnvelope, OpenObject, PageSchema } from '@paysys/contracts'
import type { MainApp } from '../deps.ts'
import { orderTimeline, type PayTrail } from '../admin-console.ts'
import { presentOrder } from '../present.ts'
import { presentRefund } from '../refunds.ts'
import { presentUser } from '../users.ts'
import { NumericId, Paging, pageOf, paging, yuanToFen } from './common.ts'
import { LedgerRowSchema, OrderProperties, RefundSchema, USER, UserSchema } from './schemas.ts'

const ADMIN = { tags: ['admin'], security: USER }
const IdParams = Type.Object({ id: NumericId })
const Time = Type.String({ format: 'date-time' })

const HealthSchema = OpenObject({
  outbox: Nullable(OpenObject({ pending: Type.Integer(), oldestPendingAgeSeconds: Nullable(Type.Integer()), dead: Type.Integer() })),
  verificationFailuresLastHour: Nullable(Type.Integer()),
  verificationFailuresByProvider: Type.Record(Type.String(), Type.Integer()),
  reconciliations: Type.Array(
    OpenObject({
      provider: Type.String(),
      enabled: Type.Boolean(),
      openDifferences: Type.Integer(),
      lastRun: Nullable(
        OpenObject({
          id: Type.Integer(),
          billDay: Type.String(),
          status: Type.String(),
          differences: Type.Integer(),
          finishedAt: Nullable(Time),
        }),
      ),
    }),
  ),
  refundsPending: Type.Integer({ description: "main's refunds not yet confirmed by the provider" }),
  ordersPendingPayment: Type.Integer(),
  payError: Nullable(Type.String({ description: 'set when pay could not be asked: its figures are null' })),
})

const TimelineEntrySchema = OpenObject({
  at: Time,
  source: Type.String({ description: 'order | attempt | notify | event | refund | ledger' }),
  title: Type.String(),
  detail: Type.String(),
  status: Nullable(Type.String()),
})
const TrailSchema = OpenObject({
  order: OpenObject({ ...OrderProperties, userId: Type.Integer() }),
  user: Nullable(UserSchema),
  refunds: Type.Array(RefundSchema),
  ledger: Type.Array(LedgerRowSchema),
  pay: Nullable(
    OpenObject({
      attempts: Type.Array(OpenObject({})),
      notifies: Type.Array(OpenObject({})),
      events: Type.Array(OpenObject({})),
      refunds: Type.Array(OpenObject({})),
    }),
  ),
  payError: Nullable(Type.String()),
  timeline: Type.Array(TimelineEntrySchema),
})
const PreviewSchema = OpenObject({
  refundable: Type.Boolean(),
  reason: Nullable(Type.String()),
  paid: Type.Number({ description: 'yuan paid' }),
  reserved: Type.Number({ description: 'yuan refunded or being refunded' }),
  left: Type.Number({ description: 'yuan still refundable' }),
  amount: Type.Number({ description: 'yuan this refund would be' }),
  clawBack: Type.Integer({ description: 'credits this refund takes back' }),
  balance: Type.Integer({ description: "the buyer's balance now" }),
  creditsAlreadySpent: Type.Boolean({ description: 'the balance is below clawBack: only a forced refund goes through' }),
  forcedClawBack: Type.Integer({ description: 'what a forced refund would take (never below zero)' }),
  creditsReturned: Type.Integer({ description: 'a goods order paid with credits: credits given back' }),
})

const fenToYuan = (fen: number) => Math.round(fen) / 100

export async function adminConsoleRoutes(app: MainApp) {
  const { orders, refunds, users, pay, adminConsole: admin } = app.deps

  async function orderById(id: string) {
    const o = await orders.findById(Number(id))
    if (!o) throw new AppError(404, 'ORDER_NOT_FOUND', '订单不存在')
    return o
  }

  app.get(
    '/api/admin/console/health',
    {
      schema: {
        ...ADMIN,
        summary:
          'Health tiles: outbox backlog and dead events, last reconciliation per provider, verification failures (1 h), pending refunds',
        response: { 200: OkEnvelope(HealthSchema), ...errorResponses(401, 403) },
      },
    },
    async (req) => {
      const [local, fromPay] = await Promise.all([
        admin.localHealth(),
        pay.consoleHealth(req.id).then(
          (h) => ({ ok: true as const, h: h as Record<string, unknown> }),
          (err: Error) => ({ ok: false as const, error: err.message }),
        ),
      ])
      const base = local
      if (!fromPay.ok) {
        return ok({
          outbox: null,
          verificationFailuresLastHour: null,
          verificationFailuresByProvider: {},
          reconciliations: [],
          ...base,
          payError: fromPay.error,
        })
      }
      return ok({ ...fromPay.h, ...base, payError: null }) as never
    },
  )

  app.get(
    '/api/admin/orders/:id/trail',
    {
      schema: {
        ...ADMIN,
        summary: "One order with its buyer, refunds, ledger rows, pay's attempts / notifies / events, and all of it in time order",
        params: IdParams,
        response: { 200: OkEnvelope(TrailSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const o = await orderById(req.params.id)
      const [user, refundRows, ledger, fromPay] = await Promise.all([
        users.findById(o.userId),
        refunds.listForOrder(o.id),
        admin.orderLedger(o.id),
        pay.orderTrail(o.orderNo, req.id).then(
          (t) => ({ trail: t as PayTrail, error: null }),
          (err: Error) => ({ trail: null, error: err.message }),
        ),
      ])
      return ok({
        order: { ...presentOrder(o), userId: o.userId },
        user: user ? presentUser(user) : null,
        refunds: refundRows.map(presentRefund),
        ledger,
        pay: fromPay.trail,
        payError: fromPay.error,
        timeline: orderTimeline(o, refundRows, ledger, fromPay.trail),
      })
    },
  )

  app.get(
    '/api/admin/orders/:id/refund-preview',
    {
      schema: {
        ...ADMIN,
        summary: 'What a refund of `amount` (default: all that is left) would do: credits clawed back, whether they are already spent',
        params: IdParams,
        querystring: Type.Object({ amount: Type.Optional(Type.String({ maxLength: 20 })) }, { additionalProperties: false }),
        response: { 200: OkEnvelope(PreviewSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const o = await orderById(req.params.id)
      const amountFen = req.query.amount === undefined ? undefined : yuanToFen(req.query.amount, 'amount')
      const p = await admin.refundPreview(o, amountFen)
      return ok({
        refundable: p.refundable,
        reason: p.reason,
        paid: fenToYuan(p.paidFen),
        reserved: fenToYuan(p.reservedFen),
        left: fenToYuan(p.leftFen),
        amount: fenToYuan(p.amountFen),
        clawBack: p.clawBack,
        balance: p.balance,
        creditsAlreadySpent: p.creditsAlreadySpent,
        forcedClawBack: p.forcedClawBack,
        creditsReturned: p.creditsReturned,
      })
    },
  )

  app.get(
    '/api/admin/users',
    {
      schema: {
        ...ADMIN,
        summary: 'Find users: email contains q (case-insensitive), or id = q; newest first',
        querystring: Type.Object({ ...Paging.properties, q: Type.Optional(Type.String({ maxLength: 254 })) }),
        response: { 200: OkEnvelope(PageSchema(UserSchema)), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const p = paging(req.query, 20)
      const { rows, total } = await admin.searchUsers(req.query.q, p)
      return ok(pageOf(rows, total, p))
    },
  )

  app.get(
    '/api/admin/users/:id/ledger',
    {
      schema: {
        ...ADMIN,
        summary: "A user's credit ledger, newest first",
        params: IdParams,
        querystring: Paging,
        response: { 200: OkEnvelope(PageSchema(LedgerRowSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const user = await users.findById(Number(req.params.id))
      if (!user) throw new AppError(404, 'USER_NOT_FOUND', '用户不存在')
      const p = paging(req.query, 20)
      const { rows, total } = await admin.userLedger(user.id, p)
      return ok(pageOf(rows, total, p))
    },
  )
}
