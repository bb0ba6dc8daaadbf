/**
 * WeChat Pay bills: `GET /v3/bill/tradebill?bill_date=…[&bill_type=ALL|SUCCESS|REFUND][&tar_type=GZIP]`
 * answers `{hash_type: "SHA1", hash_value, download_url}` signed like every v3 answer;
 * `GET /v3/billdownload/file?token=…` serves the file to the same merchant (Authorization checked),
 * **unsigned** (as WeChat's): the merchant checks the SHA1 of the (uncompressed) file against
 * hash_value. The bill is generated when the link is asked for and served as it was then.
 *
 * Differences from WeChat: today's bill is available (WeChat's are ready the next morning) so that
 * tests can reconcile what they just paid; the three-month limit is not enforced.
 */
import { gzipSync } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import { randomPrivateKey, requestId, signatureHeaders, verifyMerchantRequest, type WechatKeys } from './signing.ts'
import { WxError } from './trades.ts'
import { chinaToday, compactDay, dayBounds, parseBillDate } from '../bills/day.ts'
import { amountOverrides, faultOf, loadBillFile, saveBillFile } from '../bills/store.ts'
import { sha1Hex, wechatBillRowCount, wechatBillText, type WechatBillType } from './bill-file.ts'

const BILL_TYPES: readonly WechatBillType[] = ['ALL', 'SUCCESS', 'REFUND']
const paramError = (message: string) => new WxError(400, 'PARAM_ERROR', message)
const noStatement = () => new WxError(400, 'NO_STATEMENT_EXIST', '请求的账单文件不存在')

function queryString(v: unknown, key: string): string | undefined {
  if (v === undefined || v === '') return undefined
  if (typeof v !== 'string') throw paramError(`参数 ${key} 只能出现一次`)
  return v
}

export function registerWechatBills(app: FastifyInstance, deps: { config: SandboxConfig; sql: Sql; keys: WechatKeys }) {
  const { config, sql, keys } = deps

  const send = (reply: FastifyReply, status: number, body: Record<string, unknown>, signingKey = keys.signingPrivate) => {
    const text = JSON.stringify(body)
    return reply
      .status(status)
      .headers({ ...signatureHeaders(text, signingKey, keys.signingSerial), 'Request-ID': requestId() })
      .header('content-type', 'application/json; charset=utf-8')
      .send(text)
  }

  app.register(async (scope) => {
    scope.setErrorHandler((err, req, reply) => {
      if (err instanceof WxError) return send(reply, err.status, { code: err.code, message: err.message })
      req.log.error({ err }, 'wechat bill sandbox error')
      return send(reply, 500, { code: 'SYSTEM_ERROR', message: '系统异常，请稍后重试' })
    })

    scope.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
      const check = verifyMerchantRequest({ method: req.method, url: req.url, authorization: req.headers.authorization, body: '' }, keys)
      if (!check.ok) return send(reply, 401, { code: 'SIGN_ERROR', message: check.message })
    })

    scope.get<{ Querystring: Record<string, unknown> }>('/v3/bill/tradebill', async (req, reply) => {
      const rawDate = queryString(req.query.bill_date, 'bill_date')
      if (rawDate === undefined) throw paramError('输入源“/query/bill_date”映射到字段“账单日期”必填性规则校验失败，此字段为必填项')
      const day = parseBillDate(rawDate)
      if (!day) throw paramError('账单日期格式不正确，应为 yyyy-MM-dd')
      const billType = (queryString(req.query.bill_type, 'bill_type') ?? 'ALL') as WechatBillType
      if (!BILL_TYPES.includes(billType)) throw paramError('bill_type 只能是 ALL、SUCCESS 或 REFUND')
      const tarType = queryString(req.query.tar_type, 'tar_type')
      if (tarType !== undefined && tarType !== 'GZIP') throw paramError('tar_type 只能是 GZIP')
      if (day > chinaToday()) throw noStatement()
      const fault = await faultOf(sql, 'wechat')
      if (fault === 'query-error') throw new WxError(500, 'SYSTEM_ERROR', '系统异常，请稍后重试')

      const input = {
        billType,
        ...(await wechatDay(sql, keys.mchId, day)),
        overrides: await amountOverrides(sql, 'wechat'),
        corrupt: fault === 'corrupt',
      }
      // A day (or bill type) without rows has no bill, as WeChat answers.
      if (wechatBillRowCount(input) === 0) throw noStatement()
      const text = Buffer.from(wechatBillText(input), 'utf8')
      // The hash is of the uncompressed file, whether it is served gzipped or not.
      const hash = sha1Hex(fault === 'hash-mismatch' ? Buffer.concat([text, Buffer.from('\r\n')]) : text)
      const gzip = tarType === 'GZIP'
      const token = await saveBillFile(sql, {
        provider: 'wechat',
        billDate: day,
        fileName: `${keys.mchId}_${compactDay(day)}_${billType}.${gzip ? 'csv.gz' : 'csv'}`,
        contentType: gzip ? 'application/octet-stream' : 'text/plain; charset=utf-8',
        content: gzip ? gzipSync(text) : text,
      })
      const body = { hash_type: 'SHA1', hash_value: hash, download_url: `${config.publicUrl}/v3/billdownload/file?token=${token}` }
      return send(reply, 200, body, fault === 'bad-signature' ? randomPrivateKey() : keys.signingPrivate)
    })

    scope.get<{ Querystring: { token?: unknown } }>('/v3/billdownload/file', async (req, reply) => {
      const bill = await loadBillFile(sql, 'wechat', req.query.token)
      if (!bill) throw new WxError(404, 'RESOURCE_NOT_EXISTS', '账单下载链接无效或已过期')
      if ((await faultOf(sql, 'wechat')) === 'download-error') throw new WxError(500, 'SYSTEM_ERROR', '系统异常，请稍后重试')
      // Not signed: the merchant checks the file against the hash_value of the signed answer.
      return reply.status(200).headers({ 'content-type': bill.contentType, 'Request-ID': requestId() }).send(bill.content)
    })
  })
}

// ---- the day's trades and refunds ----

export interface WechatBillTrade {
  appid: string
  mchid: string
  transaction_id: string
  out_trade_no: string
  payer_openid: string | null
  trade_type: string
  description: string
  attach: string | null
  total: number
  paid_at: Date
}

export interface WechatBillRefund extends WechatBillTrade {
  refund_id: string
  out_refund_no: string
  refund: number
  success_time: Date
}

/** WeChat transactions paid during the day and refunds that succeeded during it, in time order. */
export async function wechatDay(sql: Sql, mchid: string, day: string) {
  const { start, end } = dayBounds(day)
  const trades = await sql<WechatBillTrade[]>`
    select appid, mchid, transaction_id, out_trade_no, payer_openid, trade_type, description, attach, total, paid_at
    from wechat_trades
    where mchid = ${mchid} and paid_at >= ${start} and paid_at < ${end}
    order by paid_at, id`
  const refunds = await sql<WechatBillRefund[]>`
    select t.appid, t.mchid, t.transaction_id, t.out_trade_no, t.payer_openid, t.trade_type, t.description, t.attach, t.total,
           t.paid_at, r.refund_id, r.out_refund_no, r.refund, r.success_time
    from wechat_refunds r join wechat_trades t on t.id = r.trade_id
    where r.mchid = ${mchid} and r.status = 'SUCCESS' and r.success_time >= ${start} and r.success_time < ${end}
    order by r.success_time, r.id`
  return { trades, refunds }
}
