/**
 * `GET|POST /gateway.do` — the Alipay openapi gateway.
 *
 * Merges query-string and form-body parameters (alipay-sdk puts the common ones in the query and
 * biz_content in the body), checks the common parameters, verifies the merchant's RSA2 signature,
 * parses biz_content and dispatches on `method`. API methods answer signed JSON
 * (`{"<method>_response":{…},"sign":"…"}`, HTTP 200 even for errors, as Alipay does); the page
 * methods (`alipay.trade.page.pay`, `alipay.trade.wap.pay`) answer the browser: 302 to the cashier,
 * or an HTML error page.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Sql } from '@paysys/db'
import type { SandboxConfig } from '../config.ts'
import type { AlipaySandboxConfig } from './config.ts'
import type { DeliveryService } from '../deliveries.ts'
import { messagePage, sendHtml } from '../html.ts'
import { parseChinaTime } from '../util.ts'
import { signContent, signedResponseText, verifyRequest, type AlipayKeys, type Params } from './signing.ts'
import { BizError } from './trades.ts'
import { API_METHODS, createPageTrade } from './methods.ts'

export interface AlipayContext {
  config: SandboxConfig
  alipay: AlipaySandboxConfig
  sql: Sql
  keys: AlipayKeys
  deliveries: DeliveryService
}

const PAGE_METHODS = new Set(['alipay.trade.page.pay', 'alipay.trade.wap.pay'])

/** Node of a common-parameter (isv.*) or business (ACQ.*) error. */
export interface ErrorNode {
  code: string
  msg: string
  sub_code: string
  sub_msg: string
}

const missing = (sub: string, what: string): ErrorNode => ({
  code: '40001',
  msg: 'Missing Required Arguments',
  sub_code: `isv.missing-${sub}`,
  sub_msg: `缺少${what}参数`,
})
const invalid = (sub: string, subMsg: string): ErrorNode => ({ code: '40002', msg: 'Invalid Arguments', sub_code: sub, sub_msg: subMsg })

/** Merges query and body parameters; values must be scalars, and a key given twice must agree. */
export function collectParams(query: unknown, body: unknown): { params: Params } | { error: ErrorNode } {
  const params: Params = Object.create(null) as Params
  for (const source of [query, body]) {
    if (source === undefined || source === null || source === '') continue
    if (typeof source !== 'object' || Array.isArray(source)) return { error: invalid('isv.invalid-parameter', '请求格式错误') }
    for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
      let value: string
      if (typeof v === 'string') value = v
      else if (typeof v === 'number' || typeof v === 'boolean') value = String(v)
      else return { error: invalid('isv.invalid-parameter', `参数 ${k} 格式错误`) }
      if (Object.hasOwn(params, k) && params[k] !== value) return { error: invalid('isv.invalid-parameter', `参数 ${k} 重复且不一致`) }
      params[k] = value
    }
  }
  return { params }
}

/** The common-parameter checks and the signature check; null when the request is acceptable. */
export function checkCommon(params: Params, ctx: AlipayContext): ErrorNode | null {
  const method = params.method
  if (!method) return missing('method', '方法名')
  if (!params.app_id) return missing('app-id', 'AppID')
  if (params.app_id !== ctx.alipay.appId) return invalid('isv.invalid-app-id', '无效的AppID参数')
  if (!PAGE_METHODS.has(method) && !Object.hasOwn(API_METHODS, method)) return invalid('isv.invalid-method', '不存在的方法名')
  if (params.format !== undefined && params.format.toUpperCase() !== 'JSON') return invalid('isv.invalid-format', '无效的数据格式')
  if (params.charset !== undefined && !/^utf-?8$/i.test(params.charset)) return invalid('isv.invalid-charset', '字符集错误')
  if (!params.sign_type) return missing('signature-type', '签名类型')
  if (params.sign_type !== 'RSA2') return invalid('isv.invalid-signature-type', '无效签名类型')
  if (!params.sign) return missing('signature', '签名')
  if (!params.timestamp) return missing('timestamp', '时间戳')
  if (!parseChinaTime(params.timestamp)) return invalid('isv.invalid-timestamp', '非法的时间戳参数')
  if (!params.version) return missing('version', '版本')
  if (params.version !== '1.0') return invalid('isv.invalid-parameter', '无效的版本号')
  if (!verifyRequest(params, ctx.keys.merchantPublic)) {
    const content = signContent(params, ['sign'], { dropEmpty: true })
    return invalid('isv.invalid-signature', `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${content}`)
  }
  return null
}

/** biz_content as an object; `{}` when absent. */
export function parseBizContent(params: Params): Record<string, unknown> | ErrorNode {
  const raw = params.biz_content
  if (raw === undefined || raw === '') return {}
  try {
    const v: unknown = JSON.parse(raw)
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {
    /* fall through */
  }
  return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.INVALID_PARAMETER', sub_msg: '参数无效: biz_content 不是 JSON 对象' }
}

const isErrorNode = (v: unknown): v is ErrorNode =>
  typeof v === 'object' && v !== null && typeof (v as ErrorNode).sub_code === 'string' && 'code' in v

export function responseKey(method: string | undefined): string {
  return method && Object.hasOwn(API_METHODS, method) ? `${method.replace(/\./g, '_')}_response` : 'error_response'
}

function sendJson(reply: FastifyReply, ctx: AlipayContext, method: string | undefined, node: Record<string, unknown>) {
  return reply
    .status(200)
    .header('content-type', 'application/json;charset=utf-8')
    .send(signedResponseText(responseKey(method), node, ctx.keys.platformPrivate))
}

function sendErrorPage(reply: FastifyReply, e: ErrorNode) {
  const title = e.sub_code === 'isv.invalid-signature' ? '验签失败' : e.sub_code.startsWith('ACQ.') ? '交易无法继续' : '请求参数错误'
  const message = e.sub_code === 'isv.invalid-signature' ? '商户请求的签名验证未通过，请检查应用私钥与应用公钥是否匹配。' : e.sub_msg
  return sendHtml(reply, 400, messagePage(`支付宝 - ${title}`, message, { error: true, rows: [['错误代码', e.sub_code]] }))
}

export function registerGateway(app: FastifyInstance, ctx: AlipayContext) {
  const handler = async (req: { query: unknown; body: unknown }, reply: FastifyReply) => {
    const collected = collectParams(req.query, req.body)
    const method = 'params' in collected ? collected.params.method : undefined
    const isPage = method !== undefined && PAGE_METHODS.has(method)
    const fail = (e: ErrorNode) => (isPage ? sendErrorPage(reply, e) : sendJson(reply, ctx, method, { ...e }))
    if ('error' in collected) return fail(collected.error)
    const params = collected.params
    const common = checkCommon(params, ctx)
    if (common) return fail(common)
    const biz = parseBizContent(params)
    if (isErrorNode(biz)) return fail(biz)
    try {
      if (isPage) {
        const trade = await createPageTrade(ctx, method === 'alipay.trade.wap.pay' ? 'wap' : 'page', params, biz)
        return reply.redirect(`/cashier/${encodeURIComponent(trade.id)}`, 302)
      }
      const node = await API_METHODS[method!]!(ctx, params, biz)
      return sendJson(reply, ctx, method, { code: '10000', msg: 'Success', ...node })
    } catch (err) {
      if (err instanceof BizError) return fail({ code: err.code, msg: err.msg, sub_code: err.subCode, sub_msg: err.subMsg })
      throw err
    }
  }
  app.get('/gateway.do', handler)
  app.post('/gateway.do', handler)
}
