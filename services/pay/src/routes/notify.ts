/**
 * Provider notifications. Every request is logged in notify_log with its verdict, whatever it
 * contains; bad input is answered with the provider's `failure` body, never a 500.
 */
import { Type } from 'typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, OpenObject } from '@paysys/contracts'
import type { PaymentFlows } from '../flows.ts'
import type { ProviderName } from '../providers/types.ts'

// ---- OpenAPI (/docs): what each provider sends and what it gets back ----
// Documentation only, never validated (`validatorCompiler: documentOnly`): every notification,
// whatever it contains, must reach the handler and be logged with its verdict; a schema check
// would answer before that. Replies are strings, which fastify sends as they are.

const documentOnly = () => () => true
const Text = (description: string) => ({ description, content: { 'text/plain': { schema: Type.String() } } })
const Field = (description?: string) => Type.String(description ? { description } : {})
const Optional = (description?: string) => Type.Optional(Field(description))

const AlipayNotifyForm = OpenObject(
  {
    notify_id: Field(),
    notify_time: Field(),
    notify_type: Field('trade_status_sync'),
    app_id: Field('must be ours (ALIPAY_APP_ID)'),
    out_trade_no: Field('our merchant trade number'),
    trade_no: Field("Alipay's trade number"),
    trade_status: Field('WAIT_BUYER_PAY | TRADE_SUCCESS | TRADE_FINISHED | TRADE_CLOSED'),
    total_amount: Field('yuan, "25.00"; must equal the attempt amount'),
    receipt_amount: Optional(),
    buyer_pay_amount: Optional(),
    gmt_payment: Optional(),
    charset: Optional(),
    version: Optional(),
    sign_type: Field('RSA2'),
    sign: Field('RSA2 (SHA256withRSA) over the sorted parameters, with the platform key'),
  },
  { description: 'form fields, as Alipay posts them' },
)
const alipaySchema = {
  tags: ['notify'],
  summary: 'Alipay asynchronous notification (form POST; RSA2 checkNotifySignV2, app_id, out_trade_no, total_amount)',
  body: { content: { 'application/x-www-form-urlencoded': { schema: AlipayNotifyForm } } },
  response: {
    200: Text('`success`: verified and recorded (or already recorded), Alipay stops · `failure`: rejected (logged), Alipay retries'),
    ...errorResponses(413),
    503: Text('`failure`: not processed now (our failure, or Alipay not configured); Alipay retries'),
  },
}

const WechatNotifyBody = OpenObject(
  {
    id: Field(),
    create_time: Field(),
    event_type: Field('TRANSACTION.SUCCESS'),
    resource_type: Field('encrypt-resource'),
    summary: Optional(),
    resource: OpenObject(
      {
        algorithm: Field('AEAD_AES_256_GCM'),
        ciphertext: Field('base64; decrypted with the APIv3 key, tag checked'),
        associated_data: Optional(),
        nonce: Field(),
        original_type: Optional('transaction'),
      },
      { description: 'the transaction, encrypted' },
    ),
  },
  { description: 'the signed JSON notification' },
)
const WechatFail = OpenObject({ code: Field('FAIL'), message: Field() })
const wechatSchema = {
  tags: ['notify'],
  summary: 'WeChat Pay v3 notification (signature over the raw body, AES-256-GCM resource, mchid/appid/amount)',
  headers: OpenObject({
    'wechatpay-serial': Field('must be the platform certificate serial'),
    'wechatpay-timestamp': Field('unix seconds, within 5 minutes'),
    'wechatpay-nonce': Field(),
    'wechatpay-signature': Field('base64 SHA256withRSA over `timestamp\\nnonce\\nbody\\n`'),
  }),
  body: { content: { 'application/json': { schema: WechatNotifyBody } } },
  response: {
    204: Type.Null({ description: 'verified: recorded, or ignored when trade_state is not SUCCESS' }),
    400: { description: 'rejected (logged): WeChat retries', content: { 'application/json': { schema: WechatFail } } },
    ...errorResponses(413),
    503: {
      description: 'not processed now (our failure, or WeChat Pay not configured); WeChat retries',
      content: { 'application/json': { schema: WechatFail }, 'text/plain': { schema: Type.String() } },
    },
  },
}

const EpayParams = OpenObject(
  {
    pid: Field('must be ours (EPAY_PID)'),
    trade_no: Field("Epay's trade number"),
    out_trade_no: Field('our merchant trade number'),
    type: Field('alipay | wxpay | qqpay | bank'),
    name: Optional(),
    money: Field('yuan, "9.9"; compared numerically with the attempt amount'),
    trade_status: Field('TRADE_SUCCESS'),
    param: Optional(),
    sign: Field('MD5 over the sorted parameters and the merchant key'),
    sign_type: Field('MD5'),
  },
  { description: 'Epay notification parameters' },
)
const epayResponse = {
  200: Text('`success`: verified and recorded, Epay stops · `fail`: rejected (logged), Epay retries'),
  503: Text('`failure`: not processed now (our failure, or Epay not configured); Epay retries'),
}
const epayGetSchema = {
  tags: ['notify'],
  summary: 'Epay notification (GET; MD5 over the query, pid, money, and by default a confirming act=order query)',
  querystring: EpayParams,
  response: { ...epayResponse, ...errorResponses('4xx') },
}
const epayPostSchema = {
  tags: ['notify'],
  summary: 'Epay notification, as a POSTed form',
  body: { content: { 'application/x-www-form-urlencoded': { schema: EpayParams } } },
  response: { ...epayResponse, ...errorResponses(413) },
}

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

  app.post('/api/pay/notify/alipay', { schema: alipaySchema, validatorCompiler: documentOnly }, handle('ALIPAY'))
  // Seed 003's notify URL: Alipay is the only form-POST provider.
  app.post('/api/pay/notify', { schema: alipaySchema, validatorCompiler: documentOnly }, handle('ALIPAY'))
  app.post('/api/pay/notify/wechat', { schema: wechatSchema, validatorCompiler: documentOnly }, handle('WECHAT_PAY'))
  app.get('/api/pay/notify/epay', { schema: epayGetSchema, validatorCompiler: documentOnly }, handle('EPAY'))
  app.post('/api/pay/notify/epay', { schema: epayPostSchema, validatorCompiler: documentOnly }, handle('EPAY'))
}
