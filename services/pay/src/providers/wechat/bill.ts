/**
 * WeChat Pay's trade bill (交易账单): `GET /v3/bill/tradebill` through the adapter's signed client
 * (its answer's Wechatpay-Signature checked like every other answer), then `download_url` fetched
 * with the merchant's Authorization — that answer is not signed, so the file's SHA1 is checked
 * against the signed `hash_value` before a byte of it is parsed — gunzipped, and parsed into
 * BillRow[] in fen.
 *
 * The parsing functions are pure (tested on literal text); `createWechatBillFetcher` is the flow.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import type Pay from 'wechatpay-node-v3'
import { BillError, type BillDay, type BillRow } from '../../reconciliation/types.ts'
import { MAX_BILL_BYTES, assertBillDay, billLines, downloadCapped, isDayOver, parseChinaDateTime, signedYuanToFen } from '../bill-common.ts'
import { errorOf } from './transformers.ts'

const malformed = (why: string) => new BillError(`微信支付账单无法解析: ${why}`.slice(0, 300), 'WECHAT_PAY', 'MALFORMED')
const unverified = (why: string) => new BillError(`微信支付账单校验失败: ${why}`.slice(0, 300), 'WECHAT_PAY', 'VERIFICATION_FAILED')
const unavailable = (why: string) => new BillError(`微信支付账单不可用: ${why}`.slice(0, 300), 'WECHAT_PAY', 'UNAVAILABLE')

/**
 * The columns we read, by header name (matched after trimming, so order does not matter); where a
 * column has two names, the first is today's layout and the second WeChat's early one. WeChat's
 * format page (pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html) lists
 * three layouts — ALL (27 columns), SUCCESS (20, no refund columns), REFUND (29, with 退款申请时间 and
 * 退款成功时间) — and says a few merchants still get the early one (24 columns in ALL): 总金额 where
 * 应结订单金额 is now, 企业红包金额 for 代金券金额, and no 订单金额 / 申请退款金额 / 费率备注.
 */
const COL = {
  time: ['交易时间'],
  transactionId: ['微信订单号'],
  outTradeNo: ['商户订单号'],
  state: ['交易状态'],
  fee: ['手续费'],
  /** What the trade was ordered for (early layout: 总金额, which had no coupons to take off). */
  orderAmount: ['订单金额', '总金额'],
  /** 应结订单金额 = 订单金额 − 免充值券 (non-top-up coupons): what WeChat settles, and charges its fee on. */
  settleAmount: ['应结订单金额', '总金额'],
  refundNo: ['商户退款单号'],
  /** What we asked to refund (early layout: 退款金额). */
  refundAmount: ['申请退款金额', '退款金额'],
  refundStatus: ['退款状态'],
  /** REFUND layout only: the refund's acceptance (its 交易时间 is the payment's there). */
  refundAcceptedAt: ['退款申请时间'],
} as const
type Col = keyof typeof COL
const REQUIRED: readonly Col[] = ['time', 'transactionId', 'outTradeNo', 'state', 'fee', 'orderAmount', 'settleAmount']
const REFUND_COLS: readonly Col[] = ['refundNo', 'refundAmount', 'refundStatus']

/**
 * 退款状态 → our refund state. WeChat's values: SUCCESS, PROCESSING, and the failures (v3 CLOSED /
 * ABNORMAL, v2 REFUNDCLOSE / CHANGE). Anything else is not a success either: FAILED, shown as written.
 */
export function wechatRefundState(status: string): 'SUCCEEDED' | 'PROCESSING' | 'FAILED' {
  if (status === 'SUCCESS') return 'SUCCEEDED'
  if (status === 'PROCESSING') return 'PROCESSING'
  return 'FAILED'
}

/** The values of a data line: each is prefixed with a backtick (a value cannot hold ",`"). */
function backticked(line: string, where: string): string[] {
  if (!line.startsWith('`')) throw malformed(`${where}不是以反引号开头的数据行`)
  return line
    .slice(1)
    .split(',`')
    .map((v) => v.trim())
}

/**
 * The bill text → rows, in any of WeChat's layouts (ALL, SUCCESS, REFUND, and the early one), with
 * or without a BOM, CRLF or LF. The header line, one line per SUCCESS (payment) or REFUND row, then
 * the totals (`总交易单数,…` and its values line), whose count must match the rows (a cut file has
 * no totals, or the wrong count). REVOKED rows (撤销, no money moved) are counted and left out. Payments: 订单金额 (early: 总金额), fee base 应结订单金额. Refunds:
 * 申请退款金额 (early: 退款金额), dated by their acceptance, with 退款状态 read (frozen when the bill was
 * made). 手续费 is positive when charged and negative when given back on a refund, as the file has
 * it. Anything else → MALFORMED.
 */
export function parseWechatBill(text: string): BillRow[] {
  const lines = billLines(text)
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop()
  const header = (lines[0] ?? '').split(',').map((h) => h.trim())
  const index = {} as Record<Col, number>
  for (const [key, names] of Object.entries(COL) as [Col, readonly string[]][]) {
    index[key] = names.map((n) => header.indexOf(n)).find((i) => i >= 0) ?? -1
    if (index[key] < 0 && REQUIRED.includes(key)) throw malformed(`表头缺少“${names[0]}”`)
  }
  const totalsAt = lines.findIndex((l) => l.startsWith('总交易单数'))
  if (totalsAt < 0) throw malformed('没有汇总行（文件不完整）')

  const parsed = lines
    .slice(1, totalsAt)
    .filter((l) => l.trim() !== '')
    .map((line, n): BillRow | null => {
      const where = `第 ${n + 1} 行`
      const fields = backticked(line, where)
      if (fields.length !== header.length) throw malformed(`${where}有 ${fields.length} 列，表头有 ${header.length} 列`)
      const get = (key: Col) => (index[key] >= 0 ? fields[index[key]]! : '')
      const state = get('state')
      // A reversed (撤销) trade: "支付成功后撤销的交易会出现在对账单中，跟原支付单订单号一致" (WeChat's bill format page,
      // pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html). No money stays with us, so it is no
      // payment row; one we hold as paid is then unlisted, and the provider is asked about it (STATUS_MISMATCH).
      if (state === 'REVOKED') return null
      const kind: BillRow['kind'] | null = state === 'SUCCESS' ? 'PAYMENT' : state === 'REFUND' ? 'REFUND' : null
      if (!kind) throw malformed(`${where}的交易状态“${state}”未知`)
      if (kind === 'REFUND') {
        const missing = REFUND_COLS.find((c) => index[c] < 0)
        if (missing) throw malformed(`${where}是退款，表头缺少“${COL[missing][0]}”`)
      }
      let amount: number
      let fee: number
      let feeBase: number
      try {
        amount = signedYuanToFen(get(kind === 'PAYMENT' ? 'orderAmount' : 'refundAmount'))
        fee = signedYuanToFen(get('fee'))
        feeBase = kind === 'PAYMENT' ? signedYuanToFen(get('settleAmount')) : amount
      } catch (err) {
        throw malformed(`${where}金额无效: ${(err as Error).message}`)
      }
      if (amount <= 0) throw malformed(`${where}金额不是正数`)
      if (feeBase < 0 || feeBase > amount) throw malformed(`${where}应结订单金额不在 0～订单金额之间`)
      const outTradeNo = get('outTradeNo')
      if (!outTradeNo) throw malformed(`${where}没有商户订单号`)
      const time = parseChinaDateTime(kind === 'REFUND' && index.refundAcceptedAt >= 0 ? get('refundAcceptedAt') : get('time'))
      if (!time) throw malformed(`${where}${kind === 'REFUND' ? '退款受理' : '交易'}时间无效`)
      const base = { kind, outTradeNo, tradeNo: get('transactionId') || null, amount, fee, time, providerStatus: state }
      if (kind === 'PAYMENT') return { ...base, refundNo: null, ...(feeBase !== amount ? { feeBase } : {}) }
      const refundStatus = get('refundStatus')
      return { ...base, refundNo: get('refundNo') || null, refundState: wechatRefundState(refundStatus), refundStatus }
    })

  const totals = backticked(lines[totalsAt + 1] ?? '', '汇总数值行')
  if (totals[0] !== String(parsed.length)) throw malformed(`总交易单数 ${totals[0]}，明细有 ${parsed.length} 行`)
  return parsed.filter((r): r is BillRow => r !== null)
}

/**
 * The downloaded bytes → rows: gunzipped when asked for GZIP (capped), then checked against the
 * signed answer's hash (SHA1 of the uncompressed file; another hash type cannot be checked), and only
 * then decoded (UTF-8, strictly) and parsed.
 */
export function readWechatBill(
  bytes: Buffer,
  expect: { gzip: boolean; hashType: string; hashValue: string; maxBytes?: number },
): BillRow[] {
  let file = bytes
  if (expect.gzip) {
    try {
      file = gunzipSync(bytes, { maxOutputLength: expect.maxBytes ?? MAX_BILL_BYTES })
    } catch (err) {
      throw malformed(`不是有效的 GZIP 文件 (${(err as Error).message})`)
    }
  }
  if (expect.hashType.toUpperCase() !== 'SHA1') throw unverified(`不支持的哈希类型 ${expect.hashType}`)
  const actual = createHash('sha1').update(file).digest()
  const expected = /^[0-9a-fA-F]{40}$/.test(expect.hashValue) ? Buffer.from(expect.hashValue, 'hex') : null
  if (!expected || !timingSafeEqual(actual, expected)) throw unverified('文件的 SHA1 与 hash_value 不一致')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file)
  } catch {
    throw malformed('不是 UTF-8 文本')
  }
  return parseWechatBill(text)
}

/**
 * Where to fetch `download_url` and the path to sign. The merchant's Authorization only ever goes to
 * WECHAT_BASE_URL: the link's path and query are requested there, as the adapter does for every call
 * (the real link is on api.mch.weixin.qq.com, the host it maps to WECHAT_BASE_URL). Null when the
 * link is not an http(s) URL under /v3/.
 */
export function billDownloadTarget(downloadUrl: unknown, baseUrl: string): { url: string; signedPath: string } | null {
  if (typeof downloadUrl !== 'string') return null
  let u: URL
  try {
    u = new URL(downloadUrl)
  } catch {
    return null
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || !u.pathname.startsWith('/v3/')) return null
  const signedPath = `${u.pathname}${u.search}`
  return { url: `${baseUrl.replace(/\/+$/, '')}${signedPath}`, signedPath }
}

/** What the SDK's HTTP service answers (its `Output`). */
interface Output {
  status: number
  // The SDK's own Output types these as any: what WeChat answered, read field by field below.
  data?: any // eslint-disable-line @typescript-eslint/no-explicit-any
  error?: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function createWechatBillFetcher(deps: {
  sdk: Pick<Pay, 'tradebill' | 'getSignature' | 'getAuthorization'>
  baseUrl: string
  timeoutMs: number
  /** The adapter's call wrapper: the answer's signature is verified before it resolves. */
  call: (what: string, fn: () => Promise<Output>) => Promise<Output>
  maxBytes?: number
}): (day: BillDay) => Promise<BillRow[]> {
  const maxBytes = deps.maxBytes ?? MAX_BILL_BYTES
  return async (day) => {
    assertBillDay(day, 'WECHAT_PAY')
    let res: Output
    try {
      res = await deps.call('tradebill', () => deps.sdk.tradebill({ bill_date: day, bill_type: 'ALL', tar_type: 'GZIP' }))
    } catch (err) {
      const message = (err as Error).message
      // The adapter's answer check says 验签失败 (bad signature, unknown serial, stale timestamp).
      if (message.includes('验签')) throw unverified(`账单申请应答${message}`)
      throw unavailable(message)
    }
    if (res.status !== 200) {
      const e = errorOf(res.error ?? res.data)
      // No bill for a finished day: no trades or refunds that day (STATEMENT_CREATING and the rest: not yet).
      if (e.code === 'NO_STATEMENT_EXIST' && isDayOver(day)) return []
      throw unavailable(`HTTP ${res.status} ${e.code} ${e.message}`)
    }
    const { hash_type: hashType, hash_value: hashValue, download_url: downloadUrl } = (res.data ?? {}) as Record<string, unknown>
    const target = billDownloadTarget(downloadUrl, deps.baseUrl)
    if (typeof hashType !== 'string' || typeof hashValue !== 'string' || !target)
      throw unavailable('账单申请应答缺少 hash_type、hash_value 或有效的 download_url')

    const nonce = randomBytes(16).toString('hex')
    const timestamp = String(Math.floor(Date.now() / 1000))
    const authorization = deps.sdk.getAuthorization(nonce, timestamp, deps.sdk.getSignature('GET', nonce, timestamp, target.signedPath))
    const bytes = await downloadCapped(target.url, {
      provider: 'WECHAT_PAY',
      headers: { Authorization: authorization, Accept: '*/*' },
      timeoutMs: deps.timeoutMs,
      maxBytes,
    })
    return readWechatBill(bytes, { gzip: true, hashType, hashValue, maxBytes })
  }
}
