/**
 * Provider notifications. Every request is logged in notify_log with its verdict, whatever it
 * contains; bad input is answered with the provider's `failure` body, never a 500.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { PaymentFlows } from '../flows.ts'
import type { ProviderName } from '../providers/types.ts'

export const notifyRoutes: FastifyPluginAsyncTypebox<{ flows: PaymentFlows }> = async (app, { flows }) => {
  // Keep the raw text of any content type: the provider adapter decides what it accepts.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body))

  // Epay notifies with a GET: the signed parameters are the raw query string (a POSTed form also works).
  const queryAsBody: ReadonlySet<ProviderName> = new Set(['EPAY'])

  const handle = (provider: ProviderName) => async (req: FastifyRequest, reply: FastifyReply) => {
    let rawBody = typeof req.body === 'string' ? req.body : ''
    if (rawBody === '' && queryAsBody.has(provider) && req.url.includes('?')) rawBody = req.url.slice(req.url.indexOf('?') + 1)
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

  app.post('/api/pay/notify/alipay', handle('ALIPAY'))
  // Seed 003's notify URL: Alipay is the only form-POST provider.
  app.post('/api/pay/notify', handle('ALIPAY'))
  app.post('/api/pay/notify/wechat', handle('WECHAT_PAY'))
  app.get('/api/pay/notify/epay', handle('EPAY'))
  app.post('/api/pay/notify/epay', handle('EPAY'))
}
