/**
 * Provider notifications, one route per path a provider module declares (providers/index.ts). Every
 * request is logged in notify_log with its verdict, whatever it contains; bad input is answered with
 * the provider's `failure` body, never a 500.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { PaymentFlows } from '../flows.ts'
import type { AnyProviderModule, NotifyRoute } from '../providers/module.ts'

// The modules' schemas are documentation only (/docs), never validated: every notification, whatever
// it contains, must reach the handler and be logged with its verdict; a schema check would answer
// before that. Replies are strings, which fastify sends as they are.
const documentOnly = () => () => true

export const notifyRoutes: FastifyPluginAsyncTypebox<{ flows: PaymentFlows; modules: readonly AnyProviderModule[] }> = async (
  app,
  { flows, modules },
) => {
  // Keep the raw text of any content type: the provider adapter decides what it accepts.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body))

  const handle = (provider: string, route: NotifyRoute) => async (req: FastifyRequest, reply: FastifyReply) => {
    let rawBody = typeof req.body === 'string' ? req.body : ''
    // A GET notify: the signed parameters are the raw query string (a POSTed body wins when there is one).
    if (rawBody === '' && route.queryAsBody && req.url.includes('?')) rawBody = req.url.slice(req.url.indexOf('?') + 1)
    try {
      const { ack } = await flows.handleNotification(
        provider,
        { rawBody, contentType: req.headers['content-type'], headers: req.headers },
        req.ip ?? null,
      )
      return reply.status(ack.status).header('content-type', ack.contentType).send(ack.body)
    } catch (err) {
      // Only our own failure (e.g. the database) gets here; the provider will retry.
      req.log.error({ err }, 'notification not processed')
      return reply.status(503).header('content-type', 'text/plain; charset=utf-8').send('failure')
    }
  }

  for (const m of modules) {
    for (const route of m.notify.routes) {
      app.route({
        method: route.method,
        url: route.path,
        schema: route.schema,
        validatorCompiler: documentOnly,
        handler: handle(m.name, route),
      })
    }
  }
}
