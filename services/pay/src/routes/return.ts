/**
 * The browser comes back from the provider's cashier: send it to the order page of the frontend.
 * Only ever to FRONTEND_URL: nothing in the query picks the destination, the order id comes from
 * our own records. The return parameters are not trusted for state (notify/query do that).
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '@paysys/contracts'
import { ORDER_NO_RE } from '../flows.ts'
import type { PaymentsRepo } from '../payments.ts'

const ReturnQuery = Type.Object({ out_trade_no: Type.Optional(Type.Unknown()) }, { additionalProperties: true })

// OpenAPI (/docs). The provider's return parameters are accepted as they come (and trusted for nothing).
const returnSchema = {
  tags: ['browser'],
  summary: 'The browser back from the cashier: 302 to FRONTEND_URL/order/{orderId} (never another host)',
  querystring: ReturnQuery,
  response: {
    // No body: `send()`.
    302: Type.Unsafe<unknown>(
      Type.Null({
        description: 'to FRONTEND_URL/order/{orderId}; FRONTEND_URL/order/unknown?error=ORDER_NOT_FOUND for an unknown trade',
        headers: { location: Type.String({ description: 'always under FRONTEND_URL' }) },
      }),
    ),
    ...errorResponses('4xx'),
  },
}

export const returnRoutes: FastifyPluginAsyncTypebox<{
  repo: Pick<PaymentsRepo, 'findByOutTradeNo'>
  frontendUrl: string
  /** Provider-specific return paths (the modules' `returnPaths`), besides /api/pay/return. */
  extraPaths?: readonly string[]
}> = async (app, { repo, frontendUrl, extraPaths = [] }) => {
  const notFound = `${frontendUrl}/order/unknown?error=ORDER_NOT_FOUND`

  async function destination(outTradeNo: unknown): Promise<string> {
    if (typeof outTradeNo !== 'string' || !ORDER_NO_RE.test(outTradeNo)) return notFound
    const [attempt] = await repo.findByOutTradeNo(outTradeNo)
    return attempt ? `${frontendUrl}/order/${encodeURIComponent(String(attempt.orderId))}` : notFound
  }

  for (const path of ['/api/pay/return', ...extraPaths]) {
    app.get(path, { schema: returnSchema }, async (req, reply) => {
      let location: string
      try {
        location = await destination(req.query.out_trade_no)
      } catch (err) {
        // A person is waiting: send them to the frontend, which polls main for the result.
        req.log.error({ err }, 'return lookup failed')
        location = `${frontendUrl}/order/unknown?error=SERVICE_UNAVAILABLE`
      }
      return reply.status(302).header('cache-control', 'no-store').header('location', location).send()
    })
  }
}
