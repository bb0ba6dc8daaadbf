/**
 * Alipay bills: `alipay.data.dataservice.bill.downloadurl.query` (a /gateway.do method, dispatched
 * from ./methods.ts, signed like the others) answers a link to the day's bill; the link serves the ZIP (no authentication: the
 * token in it is the secret, as in Alipay's). The bill is generated when the link is asked for and
 * served as it was then.
 *
 * Differences from Alipay: today's bill is available (Alipay's are T+1, and today is
 * `isv.invalid_arguments`) so that tests can reconcile what they just paid; only daily `trade`
 * bills exist (`signcustomer` answers `isp.bill_not_exist`); a day without trades has an empty bill.
 */
import type { FastifyInstance } from 'fastify'
import type { KeyObject } from 'node:crypto'
import type { Sql } from '@paysys/db'
import type { AlipaySandboxConfig } from './config.ts'
import type { AlipayContext } from './gateway.ts'
import { randomPrivateKey, rsa2Sign } from './signing.ts'
import { BizError } from './trades.ts'
import { alipayBillZip } from './bill-file.ts'
import { chinaToday, compactDay, dayBounds, parseBillDate } from '../bills/day.ts'
import { amountOverrides, faultOf, loadBillFile, saveBillFile } from '../bills/store.ts'

export const BILL_METHOD = 'alipay.data.dataservice.bill.downloadurl.query'
const RESPONSE_KEY = `${BILL_METHOD.replace(/\./g, '_')}_response`

const invalidArguments = (why: string) => new BizError('isv.invalid_arguments', `入参不合法: ${why}`)

/** The account Alipay's bills show: the partner id (2088…) followed by 0156, as in real bill file names. */
export const billAccount = (alipay: Pick<AlipaySandboxConfig, 'sellerId'>) => `${alipay.sellerId}0156`

/** The gateway method (dispatched from ../alipay/methods.ts). */
export async function billDownloadUrlQuery(ctx: AlipayContext, _params: unknown, biz: Record<string, unknown>) {
  const billType = biz.bill_type
  if (billType === 'signcustomer') throw new BizError('isp.bill_not_exist', '账单不存在（沙箱只提供交易账单 trade）')
  if (billType !== 'trade') throw invalidArguments('bill_type 只能是 trade 或 signcustomer')
  const day = parseBillDate(biz.bill_date)
  if (!day) throw invalidArguments('bill_date 格式为 yyyy-MM-dd（沙箱只提供日账单）')
  if (day > chinaToday()) throw invalidArguments('bill_date 不能晚于今天')
  const fault = await faultOf(ctx.sql, 'alipay')
  if (fault === 'query-error') throw new BizError('isp.unknow-error', '系统繁忙', '20000', 'Service Currently Unavailable')

  const { trades, refunds } = await alipayDay(ctx.sql, ctx.alipay.appId, day)
  const account = billAccount(ctx.alipay)
  const zip = alipayBillZip({
    account,
    day,
    exportedAt: new Date(),
    trades,
    refunds,
    overrides: await amountOverrides(ctx.sql, 'alipay'),
    corrupt: fault === 'corrupt',
  })
  const token = await saveBillFile(ctx.sql, {
    provider: 'alipay',
    billDate: day,
    fileName: zip.fileName,
    contentType: 'application/oct-stream',
    content: zip.content,
  })
  const query = new URLSearchParams({
    bizType: 'trade',
    userId: account,
    fileType: 'csv.zip',
    bizDates: compactDay(day),
    downloadFileName: zip.fileName,
    timestamp: String(Date.now()),
    token,
  })
  return { bill_download_url: `${ctx.config.publicUrl}/bills/alipay/downloadBillFile.resource?${query}` }
}

export function registerAlipayBills(app: FastifyInstance, sql: Sql) {
  app.get<{ Querystring: { token?: unknown } }>('/bills/alipay/downloadBillFile.resource', async (req, reply) => {
    const bill = await loadBillFile(sql, 'alipay', req.query.token)
    if (!bill) return reply.status(404).type('text/plain; charset=utf-8').send('账单下载链接无效或已过期')
    if ((await faultOf(sql, 'alipay')) === 'download-error')
      return reply.status(500).type('text/plain; charset=utf-8').send('系统繁忙，请稍后再试')
    return reply
      .status(200)
      .headers({
        'content-type': bill.contentType,
        'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(bill.fileName)}`,
      })
      .send(bill.content)
  })

  // The `bad-signature` fault: the gateway signs every answer with the platform key, so a bill
  // answer is re-signed here, on its way out, with a key that is not the platform's.
  let wrongKey: KeyObject | undefined
  app.addHook('onSend', async (req, _reply, payload) => {
    if (typeof payload !== 'string' || !payload.startsWith(`{"${RESPONSE_KEY}":`) || req.url.split('?')[0] !== '/gateway.do') return payload
    if ((await faultOf(sql, 'alipay')) !== 'bad-signature') return payload
    const node = payload.slice(RESPONSE_KEY.length + 4, payload.lastIndexOf(',"sign":'))
    wrongKey ??= randomPrivateKey()
    return `{"${RESPONSE_KEY}":${node},"sign":${JSON.stringify(rsa2Sign(node, wrongKey))}}`
  })
}

// ---- the day's trades and refunds ----

export interface AlipayBillTrade {
  trade_no: string
  out_trade_no: string
  subject: string
  total_amount: number
  buyer_logon_id: string | null
  created_at: Date
  paid_at: Date
}

export interface AlipayBillRefund {
  trade_no: string
  out_trade_no: string
  subject: string
  buyer_logon_id: string | null
  trade_created_at: Date
  out_request_no: string
  refund_amount: number
  refund_reason: string | null
  created_at: Date
}

/** Alipay trades paid during the day and refunds made during it, in time order. */
export async function alipayDay(sql: Sql, appId: string, day: string) {
  const { start, end } = dayBounds(day)
  const trades = await sql<AlipayBillTrade[]>`
    select trade_no, out_trade_no, subject, total_amount, buyer_logon_id, created_at, paid_at
    from alipay_trades
    where app_id = ${appId} and paid_at >= ${start} and paid_at < ${end}
    order by paid_at, id`
  const refunds = await sql<AlipayBillRefund[]>`
    select t.trade_no, t.out_trade_no, t.subject, t.buyer_logon_id, t.created_at as trade_created_at,
           r.out_request_no, r.refund_amount, r.refund_reason, r.created_at
    from alipay_refunds r join alipay_trades t on t.id = r.trade_id
    where t.app_id = ${appId} and r.created_at >= ${start} and r.created_at < ${end}
    order by r.created_at, r.id`
  return { trades, refunds }
}
