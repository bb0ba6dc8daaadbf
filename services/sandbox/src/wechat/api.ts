/**
 * WeChat Pay API v3 endpoints (`/v3/...`). Every request must carry a valid merchant
 * `Authorization` header (401 SIGN_ERROR otherwise, unsigned: WeChat signs answers only to requests
 * whose signature it verified); every answer to a verified request, business errors included, is
 * signed with the platform key, or the public-key pair in public-key mode (`Wechatpay-*` headers).
 * Errors are `{code, message}` with WeChat's codes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { httpUrl } from '../util.ts'
import type { ApiCall, RefusalStatus } from '../provider.ts'
import type { WechatContext } from './index.ts'
import { h5Package } from './cashier.ts'
import { refundNotifier, transactionObject, wechatTime } from './notify.ts'
import { aeadEncrypt, requestId, signatureHeaders, verifyMerchantRequest, type WechatKeys } from './signing.ts'
import {
  WxError,
  closeTrade,
  createOrReuseTrade,
  findByOutTradeNo,
  findByTransactionId,
  findRefund,
  orderNotExist,
  refundTrade,
  type TradeType,
  type WxRefund,
  type WxTrade,
} from './trades.ts'

declare module 'fastify' {
  interface FastifyRequest {
    wechatRawBody?: string
  }
}

type Json = Record<string, unknown>

const paramError = (message: string) => new WxError(400, 'PARAM_ERROR', message)
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

const OUT_NO_RE = /^[A-Za-z0-9_\-|*]{6,32}$/
const OUT_REFUND_NO_RE = /^[A-Za-z0-9_\-|*@]{1,64}$/
const MAX_TOTAL = 10_000_000_000

function str(b: Json, key: string, opts: { max: number; required?: boolean }): string | null {
  const v = b[key]
  if (v === undefined || v === null || v === '') {
    if (opts.required) throw paramError(`输入源“/body/${key}”映射到字段“${key}”必填性规则校验失败，此字段为必填项`)
    return null
  }
  if (typeof v !== 'string') throw paramError(`字段“${key}”类型错误，应为字符串`)
  if ([...v].length > opts.max) throw paramError(`字段“${key}”长度超过 ${opts.max}`)
  return v
}

function fen(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_TOTAL) throw paramError(`${key} 必须是以分为单位的正整数`)
  return v
}

/** time_expire: RFC 3339 with an offset. */
function rfc3339(v: string | null, key: string): Date | null {
  if (v === null) return null
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)) throw paramError(`${key} 格式错误，应为 rfc3339 格式`)
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) throw paramError(`${key} 格式错误`)
  return d
}

function refundView(r: WxRefund, t: WxTrade) {
  return {
    refund_id: r.refund_id,
    out_refund_no: r.out_refund_no,
    transaction_id: t.transaction_id,
    out_trade_no: t.out_trade_no,
    channel: 'ORIGINAL',
    user_received_account: '支付用户零钱',
    success_time: r.success_time ? wechatTime(r.success_time) : undefined,
    create_time: wechatTime(r.created_at),
    status: r.status,
    funds_account: 'AVAILABLE',
    amount: {
      total: r.total,
      refund: r.refund,
      from: [],
      payer_total: r.total,
      payer_refund: r.refund,
      settlement_refund: r.refund,
      settlement_total: r.total,
      discount_refund: 0,
      currency: 'CNY',
      refund_fee: 0,
    },
    promotion_detail: [],
  }
}

/**
 * The fault API's refusals as WeChat words them: 429 FREQUENCY_LIMITED and 403 NO_AUTH signed (they
 * answer verified requests), a 404 unsigned (the request never reached WeChat's signing front).
 */
export function wechatRefusal(keys: WechatKeys) {
  return (reply: FastifyReply, call: ApiCall, status: RefusalStatus, signed: boolean) => {
    const notFound = call.operation === 'query' || call.operation === 'close' ? 'ORDER_NOT_EXIST' : 'RESOURCE_NOT_EXISTS'
    const body = {
      429: { code: 'FREQUENCY_LIMITED', message: '频率超限，请降低请求频率' },
      403: { code: 'NO_AUTH', message: '当前商户号没有使用该接口的权限' },
      404: { code: notFound, message: '资源不存在' },
    }[status]
    const text = JSON.stringify(body)
    return reply
      .status(status)
      .headers({ ...(signed ? signatureHeaders(text, keys.signingPrivate, keys.signingSerial) : {}), 'Request-ID': requestId() })
      .header('content-type', 'application/json; charset=utf-8')
      .send(text)
  }
}

export function registerWechatApi(app: FastifyInstance, ctx: WechatContext) {
  const { keys, sql } = ctx

  /** Sends `body` (or nothing) signed with the platform key (or the public-key pair). */
  const send = (reply: FastifyReply, status: number, body: Json | null) => {
    const text = body === null ? '' : JSON.stringify(body)
    reply.status(status).headers({ ...signatureHeaders(text, keys.signingPrivate, keys.signingSerial), 'Request-ID': requestId() })
    if (body === null) return reply.send()
    return reply.header('content-type', 'application/json; charset=utf-8').send(text)
  }
  const sendError = (reply: FastifyReply, e: WxError) => send(reply, e.status, { code: e.code, message: e.message })
  /** To a request whose signature did not verify: WeChat answers without signing. */
  const sendUnsigned = (reply: FastifyReply, e: WxError) =>
    reply
      .status(e.status)
      .headers({ 'Request-ID': requestId(), 'content-type': 'application/json; charset=utf-8' })
      .send(JSON.stringify({ code: e.code, message: e.message }))

  app.register(async (scope) => {
    // The exact bytes are signed: keep the raw body, parse it here.
    scope.removeContentTypeParser('application/json')
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      req.wechatRawBody = body as string
      done(null, body)
    })

    scope.setErrorHandler((err, req, reply) => {
      if (err instanceof WxError) return sendError(reply, err)
      const e = err as Error & { statusCode?: number }
      if (e.statusCode && e.statusCode < 500) return sendError(reply, new WxError(e.statusCode, 'PARAM_ERROR', e.message))
      req.log.error({ err }, 'wechat sandbox error')
      return sendError(reply, new WxError(500, 'SYSTEM_ERROR', '系统异常，请稍后重试'))
    })

    scope.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
      const check = verifyMerchantRequest(
        { method: req.method, url: req.url, authorization: req.headers.authorization, body: req.wechatRawBody ?? '' },
        keys,
      )
      if (!check.ok) {
        req.log.warn({ url: req.url.split('?')[0], reason: check.message }, 'wechat request signature rejected')
        return sendUnsigned(reply, new WxError(401, 'SIGN_ERROR', check.message))
      }
    })

    /** The JSON body as an object (400 PARAM_ERROR otherwise). */
    const jsonBody = (req: FastifyRequest): Json => {
      let v: unknown
      try {
        v = JSON.parse(req.wechatRawBody ?? '')
      } catch {
        throw paramError('请求体不是有效的 JSON')
      }
      if (!isObject(v)) throw paramError('请求体必须是 JSON 对象')
      return v
    }

    /** mchid in the query or body must be the caller's (the Authorization mchid, checked above). */
    const ownMchid = (mchid: unknown) => {
      if (mchid === undefined || mchid === '') throw paramError('缺少参数 mchid')
      if (mchid !== keys.mchId) throw new WxError(400, 'MCH_NOT_EXISTS', '商户号不存在或与请求头不一致')
    }

    const TYPES: Record<string, TradeType> = { native: 'NATIVE', jsapi: 'JSAPI', h5: 'MWEB' }
    for (const [path, tradeType] of Object.entries(TYPES)) {
      scope.post(`/v3/pay/transactions/${path}`, async (req, reply) => {
        const b = jsonBody(req)
        const appid = str(b, 'appid', { max: 32, required: true })!
        ownMchid(b.mchid)
        if (appid !== keys.appId) throw new WxError(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配')
        const description = str(b, 'description', { max: 127, required: true })!
        const outTradeNo = str(b, 'out_trade_no', { max: 32, required: true })!
        if (!OUT_NO_RE.test(outTradeNo)) throw paramError('out_trade_no 只能是 6-32 位数字、大小写字母、_-|*')
        const notifyUrl = httpUrl(str(b, 'notify_url', { max: 256, required: true }))
        if (!notifyUrl) throw paramError('notify_url 必须是 http(s) 地址')
        const timeExpire = rfc3339(str(b, 'time_expire', { max: 64 }), 'time_expire')
        const attach = str(b, 'attach', { max: 128 })
        if (!isObject(b.amount)) throw paramError('缺少参数 amount')
        const total = fen(b.amount.total, 'amount.total')
        if (b.amount.currency !== undefined && b.amount.currency !== 'CNY') throw paramError('amount.currency 只支持 CNY')
        let openid: string | null = null
        let clientIp: string | null = null
        if (tradeType === 'JSAPI') {
          const payer = isObject(b.payer) ? b.payer : {}
          openid = str(payer, 'openid', { max: 128, required: true })
        }
        const scene = isObject(b.scene_info) ? b.scene_info : null
        if (tradeType === 'MWEB') {
          if (!scene || !isObject(scene.h5_info) || !str(scene.h5_info, 'type', { max: 32 }))
            throw paramError('H5 支付必须填写 scene_info.h5_info.type')
          clientIp = str(scene, 'payer_client_ip', { max: 45, required: true })
        } else if (scene) {
          clientIp = str(scene, 'payer_client_ip', { max: 45 })
        }
        const trade = await createOrReuseTrade(sql, {
          appid,
          mchid: keys.mchId,
          outTradeNo,
          tradeType,
          description,
          attach,
          notifyUrl,
          total,
          payerOpenid: openid,
          payerClientIp: clientIp,
          timeExpire,
          codeUrl: (token) => `weixin://wxpay/bizpayurl?pr=${token}`,
        })
        if (tradeType === 'NATIVE') return send(reply, 200, { code_url: trade.code_url })
        if (tradeType === 'JSAPI') return send(reply, 200, { prepay_id: trade.prepay_id })
        // Each answer carries a fresh link (WeChat: h5_url 有效期为 5 分钟); the prepay_id lives on.
        return send(reply, 200, {
          h5_url: `${ctx.config.publicUrl}/wechat/checkmweb?prepay_id=${trade.prepay_id}&package=${h5Package(trade.id)}`,
        })
      })
    }

    scope.get<{ Params: { no: string }; Querystring: { mchid?: unknown } }>('/v3/pay/transactions/out-trade-no/:no', async (req, reply) => {
      ownMchid(req.query.mchid)
      if (!OUT_NO_RE.test(req.params.no)) throw orderNotExist()
      const trade = await findByOutTradeNo(sql, keys.mchId, req.params.no)
      if (!trade) throw orderNotExist()
      return send(reply, 200, transactionObject(trade))
    })

    scope.get<{ Params: { id: string }; Querystring: { mchid?: unknown } }>('/v3/pay/transactions/id/:id', async (req, reply) => {
      ownMchid(req.query.mchid)
      const trade = /^\d{1,32}$/.test(req.params.id) ? await findByTransactionId(sql, keys.mchId, req.params.id) : null
      if (!trade) throw orderNotExist()
      return send(reply, 200, transactionObject(trade))
    })

    scope.post<{ Params: { no: string } }>('/v3/pay/transactions/out-trade-no/:no/close', async (req, reply) => {
      ownMchid(jsonBody(req).mchid)
      if (!OUT_NO_RE.test(req.params.no)) throw orderNotExist()
      const trade = await findByOutTradeNo(sql, keys.mchId, req.params.no)
      if (!trade) throw orderNotExist()
      await closeTrade(sql, trade)
      return send(reply, 204, null)
    })

    scope.post('/v3/refund/domestic/refunds', async (req, reply) => {
      const b = jsonBody(req)
      const outRefundNo = str(b, 'out_refund_no', { max: 64, required: true })!
      if (!OUT_REFUND_NO_RE.test(outRefundNo)) throw paramError('out_refund_no 格式错误')
      const transactionId = str(b, 'transaction_id', { max: 32 })
      const outTradeNo = str(b, 'out_trade_no', { max: 32 })
      if (!transactionId && !outTradeNo) throw paramError('transaction_id 和 out_trade_no 必须二选一')
      if (!isObject(b.amount)) throw paramError('缺少参数 amount')
      const refund = fen(b.amount.refund, 'amount.refund')
      const total = fen(b.amount.total, 'amount.total')
      if (b.amount.currency !== 'CNY') throw paramError('amount.currency 必填，只支持 CNY')
      const reason = str(b, 'reason', { max: 80 })
      const refundNotifyUrl = str(b, 'notify_url', { max: 256 })
      if (refundNotifyUrl !== null && !httpUrl(refundNotifyUrl)) throw paramError('notify_url 必须是 http(s) 地址')
      const trade = transactionId
        ? await findByTransactionId(sql, keys.mchId, transactionId)
        : await findByOutTradeNo(sql, keys.mchId, outTradeNo!)
      if (!trade || (transactionId && outTradeNo && trade.out_trade_no !== outTradeNo)) {
        throw new WxError(404, 'RESOURCE_NOT_EXISTS', '订单不存在')
      }
      const r = await refundTrade(
        sql,
        trade.id,
        { outRefundNo, refund, total, reason, notifyUrl: refundNotifyUrl && httpUrl(refundNotifyUrl), status: ctx.refundMode.status },
        refundNotifier(ctx.deliveries, keys),
      )
      ctx.deliveries.kick()
      return send(reply, 200, refundView(r.refund, r.trade))
    })

    scope.get<{ Params: { no: string } }>('/v3/refund/domestic/refunds/:no', async (req, reply) => {
      const r = OUT_REFUND_NO_RE.test(req.params.no) ? await findRefund(sql, keys.mchId, req.params.no) : null
      if (!r) throw new WxError(404, 'RESOURCE_NOT_EXISTS', '退款单不存在')
      return send(reply, 200, refundView(r, r.trade))
    })

    scope.get('/v3/certificates', async (_req, reply) => {
      const encrypted = aeadEncrypt(keys.platformCert, keys.apiV3Key, 'certificate')
      return send(reply, 200, {
        data: [
          {
            serial_no: keys.platformSerial,
            effective_time: wechatTime(keys.platformValidFrom),
            expire_time: wechatTime(keys.platformValidTo),
            encrypt_certificate: encrypted,
          },
        ],
      })
    })
  })
}
