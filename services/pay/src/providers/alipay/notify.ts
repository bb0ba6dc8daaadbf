/** OpenAPI description (/docs) of Alipay's notification: what it sends and what it gets back. */
import { errorResponses, Field, OpenObject, Optional, Text } from '../notify-docs.ts'
import type { NotifyAcknowledgement } from '../types.ts'

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
export const alipayNotifySchema = {
  tags: ['notify'],
  summary: 'Alipay asynchronous notification (form POST; RSA2 checkNotifySignV2, app_id, out_trade_no, total_amount)',
  body: { content: { 'application/x-www-form-urlencoded': { schema: AlipayNotifyForm } } },
  response: {
    200: Text('`success`: verified and recorded (or already recorded), Alipay stops · `failure`: rejected (logged), Alipay retries'),
    ...errorResponses(413),
    503: Text('`failure`: not processed now (our failure, or Alipay not configured); Alipay retries'),
  },
}

/** What the provider is answered: `success` stops its retries, `failure` asks it to retry. */
export const alipayAcknowledge: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement } = {
  success: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'success' },
  failure: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'failure' },
}
