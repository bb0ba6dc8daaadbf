/** OpenAPI description (/docs) of Epay's notification: what it sends and what it gets back. */
import { errorResponses, Field, OpenObject, Optional, Text } from '../notify-docs.ts'
import type { NotifyAcknowledgement } from '../types.ts'

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
export const epayGetNotifySchema = {
  tags: ['notify'],
  summary: 'Epay notification (GET; MD5 over the query, pid, money, and by default a confirming act=order query)',
  querystring: EpayParams,
  response: { ...epayResponse, ...errorResponses('4xx') },
}
export const epayPostNotifySchema = {
  tags: ['notify'],
  summary: 'Epay notification, as a POSTed form',
  body: { content: { 'application/x-www-form-urlencoded': { schema: EpayParams } } },
  response: { ...epayResponse, ...errorResponses(413) },
}

/** What the provider is answered: `success` stops its retries, `failure` asks it to retry. */
export const epayAcknowledge: { success: NotifyAcknowledgement; failure: NotifyAcknowledgement } = {
  // Epay stops retrying when the body contains `success`.
  success: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'success' },
  failure: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'fail' },
}
