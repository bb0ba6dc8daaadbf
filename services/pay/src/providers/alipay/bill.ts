/**
 * Alipay's trade bill (业务明细): `alipay.data.dataservice.bill.downloadurl.query` through alipay-sdk
 * with the response signature verified, then the link's ZIP downloaded (size-capped), unpacked,
 * its detail CSV decoded from GBK and parsed into BillRow[] in fen.
 *
 * The parsing functions are pure (tested on literal text); `createAlipayBillFetcher` is the flow.
 */
import { unzipSync } from 'fflate'
import iconv from 'iconv-lite'
import type { AlipaySdk } from 'alipay-sdk'
import { BillError, type BillDay, type BillRow } from '../../reconciliation/types.ts'
import { MAX_BILL_BYTES, assertBillDay, billLines, downloadCapped, isDayOver, parseChinaDateTime, signedYuanToFen } from '../bill-common.ts'

export const ALIPAY_BILL_METHOD = 'alipay.data.dataservice.bill.downloadurl.query'

const malformed = (why: string) => new BillError(`支付宝账单无法解析: ${why}`.slice(0, 300), 'ALIPAY', 'MALFORMED')

/** The columns we read, by their header names (matched after trimming, so order and padding do not matter). */
const COL = {
  tradeNo: '支付宝交易号',
  outTradeNo: '商户订单号',
  type: '业务类型',
  finishedAt: '完成时间',
  amount: '订单金额（元）',
  refundNo: '退款批次号/请求号',
  fee: '服务费（元）',
} as const
/** Free text Alipay writes as it is (no quoting seen in real files), so it may hold commas. */
const NAME = '商品名称'
const REMARK = '备注'
const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

/**
 * A row split into more fields than the header has columns: commas inside unquoted free text. The
 * header's column count and the fixed columns after 商品名称 (创建时间 and 完成时间 right after it,
 * both times) say where the name ends; what is still left over belongs to 备注, the last column.
 * Null when the row cannot be aligned that way.
 */
export function alignAlipayFields(fields: string[], header: readonly string[]): string[] | null {
  const nameAt = header.indexOf(NAME)
  const remarkAt = header.indexOf(REMARK)
  if (fields.length <= header.length || nameAt < 0 || header[nameAt + 1] !== '创建时间' || header[nameAt + 2] !== '完成时间') return null
  const extra = fields.length - header.length
  // The name ends where two times follow (创建时间 may be empty on some rows: then 完成时间 alone).
  for (let cut = 0; cut <= extra; cut++) {
    const end = nameAt + 1 + cut
    const created = fields[end]!.trim()
    const finished = fields[end + 1]?.trim() ?? ''
    if (!DATETIME.test(finished) || (created !== '' && !DATETIME.test(created))) continue
    const aligned = [...fields.slice(0, nameAt), fields.slice(nameAt, end).join(','), ...fields.slice(end)]
    const left = aligned.length - header.length
    if (left === 0) return aligned
    if (remarkAt !== header.length - 1) return null
    return [...aligned.slice(0, remarkAt), aligned.slice(remarkAt).join(',')]
  }
  return null
}

/** One CSV line into raw fields (RFC 4180 quotes allowed; padding kept, trimmed by the caller). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (line[i] === '"') {
      i++
      for (;;) {
        if (i >= line.length) throw malformed('引号未闭合')
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        field += line[i++]
      }
    }
    while (i < line.length && line[i] !== ',') field += line[i++]
    out.push(field)
    if (i >= line.length) return out
    i++
  }
}

/**
 * The detail CSV (业务明细, already decoded) → rows. Reads between the `业务明细列表` markers: the
 * header line, then one row per payment (交易) or refund (退款); refunds are negative in the file
 * and positive here. 服务费 is read by its magnitude, as charged on a payment (positive fee) and
 * given back on a refund (negative fee), whichever sign the file writes it with. A comma in an
 * unquoted 商品名称 (or 备注) is told apart by the header's column count (alignAlipayFields). A
 * missing end marker (a cut file), an unknown 业务类型, a bad amount or time, or row counts that
 * disagree with the `#交易合计`/`#退款合计` lines → BillError MALFORMED.
 */
export function parseAlipayBillDetail(text: string): BillRow[] {
  const lines = billLines(text)
  const start = lines.findIndex((l) => l.startsWith('#') && l.includes('业务明细列表') && !l.includes('业务明细列表结束'))
  if (start < 0) throw malformed('没有“业务明细列表”标记')
  const end = lines.findIndex((l, i) => i > start && l.startsWith('#') && l.includes('业务明细列表结束'))
  if (end < 0) throw malformed('没有“业务明细列表结束”标记（文件不完整）')
  const body = lines.slice(start + 1, end).filter((l) => l.trim() !== '')
  const header = (body[0] ?? '').split(',').map((h) => h.trim())
  const index = {} as Record<keyof typeof COL, number>
  for (const [key, name] of Object.entries(COL) as [keyof typeof COL, string][]) {
    index[key] = header.indexOf(name)
    if (index[key] < 0) throw malformed(`表头缺少“${name}”`)
  }
  const receivedAt = header.indexOf('商家实收（元）')

  const rows = body.slice(1).map((line, n): BillRow => {
    const where = `第 ${n + 1} 行`
    let raw = splitCsvLine(line)
    if (raw.length === header.length + 1 && raw[raw.length - 1]!.trim() === '') raw = raw.slice(0, -1)
    const aligned = raw.length > header.length ? alignAlipayFields(raw, header) : raw
    if (!aligned || aligned.length !== header.length) throw malformed(`${where}有 ${raw.length} 列，表头有 ${header.length} 列`)
    const fields = aligned.map((f) => f.trim())
    const get = (key: keyof typeof COL) => fields[index[key]]!
    const type = get('type')
    const kind = type === '交易' ? 'PAYMENT' : type === '退款' ? 'REFUND' : null
    if (!kind) throw malformed(`${where}的业务类型“${type}”未知`)
    let amount: number
    let fee: number
    let received: number | null = null
    try {
      amount = signedYuanToFen(get('amount'))
      fee = get('fee') === '' ? 0 : Math.abs(signedYuanToFen(get('fee')))
      if (kind === 'REFUND') fee = -fee
      const r = receivedAt >= 0 ? fields[receivedAt]! : ''
      if (r !== '') received = signedYuanToFen(r)
    } catch (err) {
      throw malformed(`${where}金额无效: ${(err as Error).message}`)
    }
    if (kind === 'PAYMENT' && amount <= 0) throw malformed(`${where}交易金额不是正数`)
    amount = Math.abs(amount)
    if (amount === 0) throw malformed(`${where}退款金额为 0`)
    const outTradeNo = get('outTradeNo')
    if (!outTradeNo) throw malformed(`${where}没有商户订单号`)
    const time = parseChinaDateTime(get('finishedAt'))
    if (!time) throw malformed(`${where}完成时间无效`)
    return {
      kind,
      outTradeNo,
      tradeNo: get('tradeNo') || null,
      amount,
      fee,
      refundNo: kind === 'REFUND' ? get('refundNo') || null : null,
      time,
      providerStatus: type,
      // 商家实收: what Alipay settles to the merchant, the fee's base (differs with merchant-funded discounts).
      ...(kind === 'PAYMENT' && received !== null && received >= 0 && received !== amount ? { feeBase: received } : {}),
    }
  })

  // The totals after the table, when present, must count the same rows (a file cut inside the table).
  const footer = lines.slice(end + 1)
  const counted = (label: string) => footer.map((l) => new RegExp(`^#${label}：(\\d+)笔`).exec(l)?.[1]).find((v) => v !== undefined)
  for (const [label, kind] of [
    ['交易合计', 'PAYMENT'],
    ['退款合计', 'REFUND'],
  ] as const) {
    const n = counted(label)
    const actual = rows.filter((r) => r.kind === kind).length
    if (n !== undefined && Number(n) !== actual) throw malformed(`${label} ${n} 笔，明细有 ${actual} 笔`)
  }
  return rows
}

/**
 * The bill ZIP → rows: finds the detail CSV by its content (entry names may be GBK or UTF-8),
 * decodes it from GBK and parses it. Not a ZIP, no detail file or two of them → MALFORMED.
 */
export function readAlipayBillZip(zip: Uint8Array, maxBytes = MAX_BILL_BYTES): BillRow[] {
  let files: Record<string, Uint8Array>
  try {
    // Entries claiming more than the cap are skipped, not inflated.
    files = unzipSync(zip, { filter: (f) => f.originalSize <= maxBytes })
  } catch (err) {
    throw malformed(`不是有效的 ZIP 文件 (${(err as Error).message})`)
  }
  const details = Object.values(files)
    .map((bytes) => iconv.decode(Buffer.from(bytes), 'gbk'))
    .filter((text) => text.startsWith('#支付宝业务明细查询') || /^#-+业务明细列表-+\r?$/m.test(text))
  if (details.length !== 1) throw malformed(`ZIP 中有 ${details.length} 个业务明细文件（应为 1 个）`)
  return parseAlipayBillDetail(details[0]!)
}

/** The flow: signed download-URL query, download, unpack, parse. */
export function createAlipayBillFetcher(
  sdk: AlipaySdk,
  opts: { timeoutMs: number; maxBytes?: number },
): (day: BillDay) => Promise<BillRow[]> {
  const maxBytes = opts.maxBytes ?? MAX_BILL_BYTES
  return async (day) => {
    assertBillDay(day, 'ALIPAY')
    let res: Awaited<ReturnType<AlipaySdk['exec']>>
    try {
      res = await sdk.exec(ALIPAY_BILL_METHOD, { bizContent: { bill_type: 'trade', bill_date: day } }, { validateSign: true })
    } catch (err) {
      const message = (err as Error).message
      // alipay-sdk has no error code for it: its signature failures say 验签失败.
      if (message.includes('验签'))
        throw new BillError(`支付宝账单查询应答验签失败: ${message.slice(0, 200)}`, 'ALIPAY', 'VERIFICATION_FAILED')
      throw new BillError(`支付宝账单查询失败: ${message.slice(0, 200)}`, 'ALIPAY', 'UNAVAILABLE')
    }
    if (res.code !== '10000') {
      const sub = res.subCode ?? res.sub_code
      // No bill for a finished day: no trades that day.
      if (sub === 'isp.bill_not_exist' && isDayOver(day)) return []
      throw new BillError(
        `支付宝账单不可用: ${res.code} ${sub ?? ''} ${res.subMsg ?? res.sub_msg ?? res.msg ?? ''}`.trim(),
        'ALIPAY',
        'UNAVAILABLE',
      )
    }
    const url = res.billDownloadUrl ?? res.bill_download_url
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new BillError('支付宝账单查询未返回下载地址', 'ALIPAY', 'UNAVAILABLE')
    const zip = await downloadCapped(url, { provider: 'ALIPAY', timeoutMs: opts.timeoutMs, maxBytes })
    return readAlipayBillZip(new Uint8Array(zip), maxBytes)
  }
}
