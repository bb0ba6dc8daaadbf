/** OpenAPI description (/docs) of WeChat Pay's notification: what it sends and what it gets back. */
import { errorResponses, Field, OpenObject, Optional, Type } from '../notify-docs.ts'
import type { NotifyAcknowledgement } from '../types.ts'

const WechatNotifyBody = OpenObject(
  {
    id: Field(),
    create_time: Field(),
    event_type: Field('TRANSACTION.SUCCESS; REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED for a refund'),
    resource_type: Field('encrypt-resource'),
    summary: Optional(),
    resource: OpenObject(
      {
        algorithm: Field('AEAD_AES_256_GCM'),
        ciphertext: Field('base64; decrypted with the APIv3 key, tag checked'),
        associated_data: Optional(),
        nonce: Field(),
        original_type: Optional('transaction, or refund for REFUND.*'),
      },
      { description: 'the transaction (or the refund), encrypted' },
    ),
  },
  { description: 'the signed JSON notification' },
)
const WechatFail = OpenObject({ code: Field('FAIL'), message: Field() })
export const wechatNotifySchema = {
  tags: ['notify'],
  summary: 'WeChat Pay v3 payment and refund notification (signature over the raw body, AES-256-GCM resource, mchid/appid/amount)',
  headers: OpenObject({
    'wechatpay-serial': Field('must be the platform certificate serial'),
    'wechatpay-timestamp': Field('unix seconds, within 5 minutes'),
    'wechatpay-nonce': Field(),
    'wechatpay-signature': Field('base64 SHA256withRSA over `timestamp\\nnonce\\nbody\\n`'),
  }),
  body: { content: { 'application/json': { schema: WechatNotifyBody } } },
  response: {
    204: Type.Null({
      description:
        'verified: recorded, or ignored when trade_state is not SUCCESS; a refund notify applied once (a duplicate changes nothing)',
    }),
    400: { description: 'rejected (logged): WeChat retries', content: { 'application/json': { schema: WechatFail } } },
    ...errorResponses(413),
    503: {
      description: 'not processed now (our failure, or WeChat Pay not configured); WeChat retries',
      content: { 'application/json': { schema: WechatFail }, 'text/plain': { schema: Type.String() } },
    },
  },
}

/** What the provider is answered: `success` stops its retries, `failure` asks it to retry. */
export const wechatAcknowledge: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement } = {
  success: { status: 204, contentType: 'application/json; charset=utf-8', body: '' },
  // 4xx/5xx with {code:"FAIL"} asks WeChat to retry (200 with FAIL would not).
  failure: {
    status: 400,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify({ code: 'FAIL', message: '通知未通过验证' }),
  },
}
