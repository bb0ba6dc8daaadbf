/**
 * Stripe's merchant API in the sandbox, as Stripe documents it: form-encoded requests with bracket
 * notation (`line_items[0][price_data][currency]`), `Authorization: Bearer sk_test_…`, the
 * `Stripe-Version` header echoed, `Idempotency-Key` on POSTs (the first answer replayed for the same
 * parameters, `idempotency_error` for others), errors as `{error: {type, code, message, param}}` with
 * Stripe's HTTP statuses, lists with `has_more` / `starting_after`.
 *
 * - `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions[/:id]`, `POST /v1/checkout/sessions/:id/expire`
 * - `GET /v1/payment_intents/:id`, `GET /v1/payment_intents/search?query=metadata['out_trade_no']:'…'`
 * - `POST /v1/refunds`, `GET /v1/refunds/:id`
 * - `GET /v1/balance_transactions?created[gte]&created[lt]&expand[]=data.source`
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import type { DeliveryService, Q } from '../deliveries.ts'
import { httpUrl } from '../util.ts'
import type { StripeSandboxConfig } from './config.ts'
import { queueEvent } from './events.ts'
import {
  SANDBOX_API_VERSION,
  balanceTransactionObject,
  chargeObject,
  listObject,
  paymentIntentObject,
  refundObject,
  sessionObject,
} from './objects.ts'
import {
  createRefund,
  expireSession,
  findRefund,
  findSession,
  insertSession,
  refundedTotal,
  type BalanceTransactionRow,
  type SessionRow,
} from './store.ts'

export interface StripeContext {
  config: SandboxConfig
  stripe: StripeSandboxConfig
  sql: Sql
  deliveries: DeliveryService
}

type Form = Record<string, string>

/** A Stripe error answer. */
class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message)
  }
}
const invalid = (message: string, param?: string, code = 'parameter_invalid') =>
  new StripeApiError(400, 'invalid_request_error', message, code, param)
const missing = (kind: string, id: string, param = 'id') =>
  new StripeApiError(404, 'invalid_request_error', `No such ${kind}: '${id}'`, 'resource_missing', param)

function send(req: FastifyRequest, reply: FastifyReply, status: number, body: unknown, replayed = false): FastifyReply {
  const version = req.headers['stripe-version']
  reply
    .status(status)
    .header('content-type', 'application/json')
    .header('request-id', `req_${createHash('sha1').update(String(req.id)).digest('hex').slice(0, 14)}`)
    .header('stripe-version', typeof version === 'string' ? version : SANDBOX_API_VERSION)
  if (replayed) reply.header('idempotent-replayed', 'true')
  return reply.send(typeof body === 'string' ? body : JSON.stringify(body, null, 2))
}

function errorBody(e: StripeApiError) {
  return { error: { type: e.type, ...(e.code ? { code: e.code } : {}), message: e.message, ...(e.param ? { param: e.param } : {}) } }
}

/** The request's parameters (form body or query string), every value a string: arrays are not in this API's requests. */
function params(input: unknown): Form {
  if (input === undefined || input === null || input === '') return {}
  if (typeof input !== 'object') throw invalid('Invalid request body: expected application/x-www-form-urlencoded')
  const out: Form = {}
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    if (typeof v !== 'string') throw invalid(`Invalid value for ${k}: expected a single value`, k)
    out[k] = v
  }
  return out
}

function checkKnown(p: Form, allowed: RegExp[]) {
  for (const k of Object.keys(p))
    if (!allowed.some((re) => re.test(k))) throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown')
}

function integer(p: Form, key: string, opts: { min?: number; max?: number } = {}): number | null {
  const v = p[key]
  if (v === undefined) return null
  if (!/^-?\d{1,15}$/.test(v)) throw invalid(`Invalid integer: ${v}`, key)
  const n = Number(v)
  if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max))
    throw invalid(`Invalid ${key}: ${v} is out of range`, key)
  return n
}

/** `prefix[key]=value` pairs → `{key: value}` (Stripe metadata: up to 50 keys, 40-character keys, 500-character values). */
/**
 * The payment methods the sandbox's Checkout offers, with the currencies Stripe documents for each
 * (docs.stripe.com/payments/alipay, /payments/wechat-pay: "Supported currencies"); cards take any.
 */
export const STRIPE_PAYMENT_METHOD_CURRENCIES: Readonly<Record<string, readonly string[] | null>> = {
  card: null,
  alipay: ['aud', 'cad', 'cny', 'eur', 'gbp', 'hkd', 'jpy', 'myr', 'nzd', 'sgd', 'usd'],
  wechat_pay: ['aud', 'cad', 'cny', 'eur', 'gbp', 'hkd', 'jpy', 'sgd', 'usd', 'dkk', 'nok', 'sek', 'chf'],
}

/**
 * `allowed_payment_method_types[n]` (the SDK's API version) or the older `payment_method_types[n]`, not
 * both (default `card`): each known, once, in the session's currency; `wechat_pay`
 * needs `payment_method_options[wechat_pay][client]` (Checkout: `web`).
 */
function paymentMethodTypes(p: Form, currency: string): string[] {
  const given = Object.keys(p)
    .map((k) => /^(allowed_)?payment_method_types\[(\d+)\]$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[2]) - Number(b[2]))
    .map((m) => ({ param: m[0], type: p[m[0]]!, allowed: m[1] !== undefined }))
  if (given.length === 0) return ['card']
  if (given.some((g) => g.allowed) && given.some((g) => !g.allowed))
    throw invalid(
      'You may only specify one of these parameters: allowed_payment_method_types, payment_method_types.',
      'payment_method_types',
    )
  const types: string[] = []
  for (const { param, type } of given) {
    const currencies = STRIPE_PAYMENT_METHOD_CURRENCIES[type]
    if (currencies === undefined)
      throw invalid(
        `Invalid payment_method_types: must be one of ${Object.keys(STRIPE_PAYMENT_METHOD_CURRENCIES).join(', ')}`,
        param,
        'payment_method_type_invalid',
      )
    if (types.includes(type)) throw invalid(`Duplicate payment_method_types: ${type}`, param)
    if (currencies && !currencies.includes(currency))
      throw invalid(
        `The currency provided (${currency}) is invalid for one or more payment method types on this Checkout Session: ${type} supports ${currencies.join(', ')}.`,
        param,
        'payment_method_currency_mismatch',
      )
    types.push(type)
  }
  const client = p['payment_method_options[wechat_pay][client]']
  if (types.includes('wechat_pay') && client !== 'web')
    throw invalid(
      client === undefined
        ? 'payment_method_options[wechat_pay][client] is required when wechat_pay is in payment_method_types.'
        : `Invalid payment_method_options[wechat_pay][client]: Checkout supports web only`,
      'payment_method_options[wechat_pay][client]',
      client === undefined ? 'parameter_missing' : 'parameter_invalid',
    )
  return types
}

function hash(p: Form, prefix: string): Record<string, string> {
  const out: Record<string, string> = {}
  const re = new RegExp(`^${prefix.replace(/[[\]]/g, '\\$&')}\\[([^\\]]{1,40})\\]$`)
  for (const [k, v] of Object.entries(p)) {
    const m = re.exec(k)
    if (!m) continue
    if (v.length > 500) throw invalid(`Metadata values can have up to 500 characters`, k)
    out[m[1]!] = v
  }
  if (Object.keys(out).length > 50) throw invalid('You can specify up to 50 metadata keys', prefix)
  return out
}

const listLimit = (p: Form) => integer(p, 'limit', { min: 1, max: 100 }) ?? 10

/** `created[gte|gt|lte|lt]` → SQL bounds (unix seconds). */
function createdRange(p: Form): { gte: number | null; gt: number | null; lte: number | null; lt: number | null } {
  if (p.created !== undefined) {
    const exact = integer(p, 'created')
    return { gte: exact, gt: null, lte: exact, lt: null }
  }
  return { gte: integer(p, 'created[gte]'), gt: integer(p, 'created[gt]'), lte: integer(p, 'created[lte]'), lt: integer(p, 'created[lt]') }
}

export function registerStripeApi(app: FastifyInstance, ctx: StripeContext) {
  const { sql, stripe } = ctx
  const events = { webhookUrl: stripe.webhookUrl, webhookSecret: stripe.webhookSecret }

  function authorize(req: FastifyRequest) {
    const auth = req.headers.authorization
    if (typeof auth !== 'string' || !auth.startsWith('Bearer '))
      throw new StripeApiError(
        401,
        'invalid_request_error',
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
      )
    const key = auth.slice(7).trim()
    if (key !== stripe.secretKey)
      throw new StripeApiError(
        401,
        'invalid_request_error',
        `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(4)}${key.slice(-4)}`,
        'api_key_invalid',
      )
  }

  /** A route: authorised, its errors answered the Stripe way, POSTs idempotent by `Idempotency-Key`. */
  function route(method: 'GET' | 'POST', url: string, handler: (req: FastifyRequest, p: Form) => Promise<unknown>) {
    app.route({
      method,
      url,
      handler: async (req, reply) => {
        try {
          authorize(req)
          const p = params(method === 'GET' ? req.query : req.body)
          const key = req.headers['idempotency-key']
          if (method === 'POST' && typeof key === 'string' && key.length > 0)
            return await idempotent(req, reply, url, key, p, () => handler(req, p))
          return send(req, reply, 200, await handler(req, p))
        } catch (err) {
          if (err instanceof StripeApiError) return send(req, reply, err.status, errorBody(err))
          throw err
        }
      },
    })
  }

  async function idempotent(req: FastifyRequest, reply: FastifyReply, routeUrl: string, key: string, p: Form, run: () => Promise<unknown>) {
    if (key.length > 255) throw invalid('Idempotency-Key must be at most 255 characters', 'idempotency_key')
    const target = `${routeUrl} ${JSON.stringify(req.params)}`
    const paramsHash = createHash('sha256')
      .update(JSON.stringify(Object.entries(p).sort(([a], [b]) => (a < b ? -1 : 1))))
      .digest('hex')
    await sql`delete from stripe_idempotency where key = ${key} and created_at < now() - interval '24 hours'`
    const claimed = await sql`
      insert into stripe_idempotency (key, route, params_hash) values (${key}, ${target}, ${paramsHash}) on conflict do nothing returning key`
    if (claimed.length === 0) {
      const [prior] = await sql<{ route: string; params_hash: string; status: number | null; body: string | null }[]>`
        select route, params_hash, status, body from stripe_idempotency where key = ${key}`
      if (!prior || prior.route !== target || prior.params_hash !== paramsHash)
        throw new StripeApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        )
      if (prior.status === null)
        throw new StripeApiError(
          409,
          'idempotency_error',
          'There is currently another in-progress request using this Idempotent Key.',
          'idempotency_key_in_use',
        )
      return send(req, reply, prior.status, prior.body ?? '{}', true)
    }
    let status = 200
    let body: unknown
    try {
      body = await run()
    } catch (err) {
      if (!(err instanceof StripeApiError) || err.status >= 500) {
        await sql`delete from stripe_idempotency where key = ${key}`
        throw err
      }
      status = err.status
      body = errorBody(err)
    }
    const text = JSON.stringify(body, null, 2)
    await sql`update stripe_idempotency set status = ${status}, body = ${text} where key = ${key}`
    return send(req, reply, status, text)
  }

  const session = async (id: string) => {
    const s = /^cs_[A-Za-z0-9_]{1,80}$/.test(id) ? await findSession(sql, { id }) : null
    if (!s) throw missing('checkout.session', id)
    return s
  }
  const sessionOfIntent = async (id: string, param = 'id') => {
    const s = /^pi_[A-Za-z0-9]{1,64}$/.test(id) ? await findSession(sql, { paymentIntent: id }) : null
    if (!s) throw missing('payment_intent', id, param)
    return s
  }
  const view = (s: SessionRow) => sessionObject(s, ctx.config.publicUrl)

  route('POST', '/v1/checkout/sessions', async (_req, p) => {
    checkKnown(p, [
      /^(mode|client_reference_id|success_url|cancel_url|expires_at|currency|locale|customer_email)$/,
      /^metadata\[[^\]]+\]$/,
      /^line_items\[0\]\[(quantity|price_data\]\[(currency|unit_amount|product_data\]\[(name|description)))\]$/,
      /^payment_intent_data\[(description|metadata\]\[[^\]]+)\]$/,
      /^(allowed_)?payment_method_types\[\d+\]$/,
      /^payment_method_options\[wechat_pay\]\[(client|app_id)\]$/,
    ])
    if (!p.mode) throw invalid('Missing required param: mode.', 'mode', 'parameter_missing')
    if (p.mode !== 'payment') throw invalid(`Invalid mode: the sandbox supports payment only`, 'mode')
    const currency = p['line_items[0][price_data][currency]']
    const unitAmount = integer(p, 'line_items[0][price_data][unit_amount]', { min: 1, max: 99_999_999 })
    const quantity = integer(p, 'line_items[0][quantity]', { min: 1, max: 999_999 })
    const name = p['line_items[0][price_data][product_data][name]']
    if (!currency || unitAmount === null || quantity === null || !name)
      throw invalid(
        'line_items[0] needs quantity, price_data[currency], price_data[unit_amount] and price_data[product_data][name]',
        'line_items',
        'parameter_missing',
      )
    if (!/^[a-z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${currency}`, 'line_items[0][price_data][currency]')
    const methodTypes = paymentMethodTypes(p, currency)
    const successUrl = p.success_url === undefined ? null : httpUrl(p.success_url)
    if (!successUrl) throw invalid('Not a valid URL', 'success_url', p.success_url === undefined ? 'parameter_missing' : 'url_invalid')
    const cancelUrl = p.cancel_url === undefined ? null : httpUrl(p.cancel_url)
    if (p.cancel_url !== undefined && !cancelUrl) throw invalid('Not a valid URL', 'cancel_url', 'url_invalid')
    if (p.client_reference_id !== undefined && (p.client_reference_id.length === 0 || p.client_reference_id.length > 200))
      throw invalid('client_reference_id must be 1 to 200 characters', 'client_reference_id')
    const now = Math.floor(Date.now() / 1000)
    const expiresAt = integer(p, 'expires_at') ?? now + 86_400
    // Stripe: at least 30 minutes and at most 24 hours after the session is created.
    if (expiresAt < now + 1800 - 5)
      throw invalid('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', 'expires_at')
    if (expiresAt > now + 86_400 + 5)
      throw invalid('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', 'expires_at')
    const s = await insertSession(sql, {
      clientReferenceId: p.client_reference_id ?? null,
      amountTotal: unitAmount * quantity,
      currency,
      productName: name,
      successUrl,
      cancelUrl,
      metadata: hash(p, 'metadata'),
      piMetadata: hash(p, 'payment_intent_data[metadata]'),
      piDescription: p['payment_intent_data[description]'] ?? null,
      paymentMethodTypes: methodTypes,
      wechatPayClient: methodTypes.includes('wechat_pay') ? p['payment_method_options[wechat_pay][client]']! : null,
      expiresAt: new Date(expiresAt * 1000),
    })
    return view(s)
  })

  route('GET', '/v1/checkout/sessions/:id', async (req) => view(await session((req.params as { id: string }).id)))

  route('GET', '/v1/checkout/sessions', async (_req, p) => {
    checkKnown(p, [
      /^(limit|starting_after|ending_before|status|payment_intent|created)$/,
      /^created\[(gte|gt|lte|lt)\]$/,
      /^expand\[\d+\]$/,
    ])
    const limit = listLimit(p)
    const c = createdRange(p)
    const after = p.starting_after ? await session(p.starting_after) : null
    const rows = await sql<SessionRow[]>`
      select * from stripe_sessions
       where (${p.status ?? null}::text is null or status = ${p.status ?? null})
         and (${p.payment_intent ?? null}::text is null or payment_intent = ${p.payment_intent ?? null})
         and (${c.gte}::bigint is null or created_at >= to_timestamp(${c.gte}))
         and (${c.gt}::bigint is null or created_at >= to_timestamp(${c.gt} + 1))
         and (${c.lte}::bigint is null or created_at < to_timestamp(${c.lte} + 1))
         and (${c.lt}::bigint is null or created_at < to_timestamp(${c.lt}))
         and (${after?.id ?? null}::text is null or (created_at, id) < (${after?.created_at ?? null}::timestamptz, ${after?.id ?? null}::text))
       order by created_at desc, id desc
       limit ${limit + 1}`
    return listObject('/v1/checkout/sessions', rows.slice(0, limit).map(view), rows.length > limit)
  })

  route('POST', '/v1/checkout/sessions/:id/expire', async (req, p) => {
    checkKnown(p, [/^expand\[\d+\]$/])
    const s = await session((req.params as { id: string }).id)
    const expired = await expireSession(sql, s.id, (tx, e) =>
      queueEvent(tx, ctx.deliveries, events, e.client_reference_id, 'checkout.session.expired', view(e)),
    )
    if (!expired) {
      const now = (await findSession(sql, { id: s.id }))!
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${now.status}".`,
        undefined,
        'checkout_session_not_open',
      )
    }
    ctx.deliveries.kick()
    return view(expired)
  })

  route('GET', '/v1/payment_intents/search', async (_req, p) => {
    checkKnown(p, [/^(query|limit|page)$/])
    const m = /^metadata\['([A-Za-z0-9_]{1,40})'\]:'([^'\\]{1,500})'$/.exec(p.query ?? '')
    if (!m) throw invalid("The sandbox searches by one metadata field only: metadata['key']:'value'", 'query')
    const limit = listLimit(p)
    const rows = await sql<SessionRow[]>`
      select * from stripe_sessions where payment_intent is not null and pi_metadata ->> ${m[1]!} = ${m[2]!}
      order by paid_at desc limit ${limit + 1}`
    return {
      object: 'search_result',
      data: rows.slice(0, limit).map(paymentIntentObject),
      has_more: rows.length > limit,
      next_page: null,
      url: '/v1/payment_intents/search',
    }
  })

  route('GET', '/v1/payment_intents/:id', async (req) => paymentIntentObject(await sessionOfIntent((req.params as { id: string }).id)))

  route('POST', '/v1/refunds', async (_req, p) => {
    checkKnown(p, [/^(payment_intent|charge|amount|reason)$/, /^metadata\[[^\]]+\]$/, /^expand\[\d+\]$/])
    let pi = p.payment_intent
    if (!pi && p.charge) pi = (await findSession(sql, { charge: p.charge }))?.payment_intent ?? undefined
    if (!pi) {
      if (p.charge) throw missing('charge', p.charge, 'charge')
      throw invalid(
        'One of the following params should be provided for this request: payment_intent or charge.',
        undefined,
        'parameter_missing',
      )
    }
    await sessionOfIntent(pi, 'payment_intent')
    const reason = p.reason ?? null
    if (reason !== null && !['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason))
      throw invalid(`Invalid reason: ${reason}`, 'reason')
    const amount = integer(p, 'amount', { min: 1 })
    const r = await createRefund(sql, pi, amount, { reason, metadata: hash(p, 'metadata') }, async (tx, done) => {
      const bt = await balanceTransactionOf(tx, done.session.charge!)
      await queueEvent(
        tx,
        ctx.deliveries,
        events,
        done.session.client_reference_id,
        'charge.refunded',
        chargeObject(done.session, done.refunded, bt),
      )
    })
    if (!r.ok) {
      if (r.code === 'resource_missing') throw missing('payment_intent', pi, 'payment_intent')
      if (r.code === 'charge_already_refunded')
        throw invalid(`Charge ${pi} has already been refunded.`, undefined, 'charge_already_refunded')
      if (r.code === 'amount_too_large')
        throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${r.left})`, 'amount', 'amount_too_large')
      throw invalid(`This PaymentIntent's status does not allow refunds.`, 'payment_intent', 'payment_intent_unexpected_state')
    }
    ctx.deliveries.kick()
    return refundObject(r.refund, await balanceTransactionOf(sql, r.refund.id))
  })

  route('GET', '/v1/refunds/:id', async (req) => {
    const id = (req.params as { id: string }).id
    const r = /^re_[A-Za-z0-9]{1,64}$/.test(id) ? await findRefund(sql, id) : null
    if (!r) throw missing('refund', id)
    return refundObject(r, await balanceTransactionOf(sql, r.id))
  })

  route('GET', '/v1/balance_transactions', async (_req, p) => {
    checkKnown(p, [
      /^(limit|starting_after|ending_before|type|currency|payout|source|created)$/,
      /^created\[(gte|gt|lte|lt)\]$/,
      /^expand\[\d+\]$/,
    ])
    const limit = listLimit(p)
    const c = createdRange(p)
    const expandSource = Object.entries(p).some(([k, v]) => /^expand\[\d+\]$/.test(k) && v === 'data.source')
    let afterSeq: number | null = null
    if (p.starting_after) {
      const [row] = await sql<{ seq: number }[]>`select seq from stripe_balance_transactions where id = ${p.starting_after}`
      if (!row) throw missing('balance_transaction', p.starting_after, 'starting_after')
      afterSeq = Number(row.seq)
    }
    const rows = await sql<BalanceTransactionRow[]>`
      select * from stripe_balance_transactions
       where (${p.type ?? null}::text is null or type = ${p.type ?? null})
         and (${c.gte}::bigint is null or created_at >= to_timestamp(${c.gte}))
         and (${c.gt}::bigint is null or created_at >= to_timestamp(${c.gt} + 1))
         and (${c.lte}::bigint is null or created_at < to_timestamp(${c.lte} + 1))
         and (${c.lt}::bigint is null or created_at < to_timestamp(${c.lt}))
         and (${afterSeq}::bigint is null or seq < ${afterSeq})
       order by seq desc
       limit ${limit + 1}`
    const data = []
    for (const bt of rows.slice(0, limit)) data.push(balanceTransactionObject(bt, expandSource ? await sourceObject(bt) : bt.source))
    return listObject('/v1/balance_transactions', data, rows.length > limit)
  })

  async function sourceObject(bt: BalanceTransactionRow): Promise<unknown> {
    if (bt.type === 'refund') {
      const r = await findRefund(sql, bt.source)
      return r ? refundObject(r, bt.id) : bt.source
    }
    const s = await findSession(sql, { charge: bt.source })
    return s ? chargeObject(s, await refundedTotal(sql, s.id), bt.id) : bt.source
  }
}

/** The balance transaction of a charge or refund. */
async function balanceTransactionOf(sql: Q, source: string): Promise<string | null> {
  const rows = await sql<{ id: string }[]>`select id from stripe_balance_transactions where source = ${source} limit 1`
  return rows[0]?.id ?? null
}
