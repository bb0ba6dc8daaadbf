/**
 * Provider bills (对账单) from the sandbox, refereed by the official SDKs: Alipay's download-URL
 * answer verifies with alipay-sdk `exec(…, {validateSign: true})` and its link serves a ZIP of two
 * GBK CSVs in the real layout; WeChat's /v3/bill/tradebill answer verifies with wechatpay-node-v3's
 * `verifySign`, its link serves the file (plain or gzip) whose SHA1 is hash_value. Then the control
 * API: amount overrides and every fault.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { unzipSync } from 'fflate'
import iconv from 'iconv-lite'
import { chinaToday } from '../src/bills/day.ts'
import { controlJson } from './fixtures/harness.ts'
import { startWechatSandbox, wechatClient } from './fixtures/wechat.ts'

const BILL_METHOD = 'alipay.data.dataservice.bill.downloadurl.query'
const ALIPAY_HEADER =
  '支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注'
const WECHAT_HEADER =
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'
const WECHAT_TOTALS = '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额'

const sbx = await startWechatSandbox()
t.teardown(() => sbx.close())
const wx = wechatClient(sbx.base, sbx.keys.wechat)
const today = chinaToday()
const account = '20881021778468800156' // the default SANDBOX_ALIPAY_SELLER_ID + 0156
let seq = 0
const orderNo = (p: string) => `${p}${Date.now()}${randomBytes(3).toString('hex').toUpperCase()}${seq++}`
const control = (method: 'GET' | 'POST', path: string, body?: unknown) => controlJson(sbx.base, method, path, body)
const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex')
const setFault = async (provider: string, mode: string) => {
  const r = await control('POST', '/control/bills/faults', { provider, mode })
  if (r.status !== 200) throw new Error(r.text)
}

// ---- Alipay helpers ----

async function alipayTrade(amount: string, opts: { pay?: boolean; subject?: string } = {}) {
  const no = orderNo('A')
  const pre = await sbx.sdk.exec(
    'alipay.trade.precreate',
    { bizContent: { out_trade_no: no, total_amount: amount, subject: opts.subject ?? '积分充值' } },
    { validateSign: true },
  )
  if (pre.code !== '10000') throw new Error(JSON.stringify(pre))
  if (opts.pay !== false) {
    const paid = await control('POST', `/control/alipay/trades/${no}/pay`, { notify: false })
    if (paid.status !== 200) throw new Error(paid.text)
    return { no, tradeNo: paid.json.trade.tradeNo as string }
  }
  return { no, tradeNo: null }
}

const alipayBillQuery = (bizContent: Record<string, unknown>, validateSign = true) =>
  sbx.sdk.exec(BILL_METHOD, { bizContent }, { validateSign })

/** Downloads a bill link (served on PUBLIC_URL = localhost; fetched on 127.0.0.1). */
const fetchLink = (url: string, headers: Record<string, string> = {}) => fetch(url.replace(sbx.publicUrl, sbx.base), { headers })

async function alipayBill(day = today) {
  const q = await alipayBillQuery({ bill_type: 'trade', bill_date: day })
  if (q.code !== '10000') throw new Error(JSON.stringify(q))
  const res = await fetchLink(q.billDownloadUrl)
  if (res.status !== 200) throw new Error(`download ${res.status}`)
  const zip = new Uint8Array(await res.arrayBuffer())
  const entries = unzipSync(zip)
  // Entry names are GBK without the UTF-8 flag: fflate hands them over byte for byte (latin1).
  const files = Object.fromEntries(Object.entries(entries).map(([n, b]) => [iconv.decode(Buffer.from(n, 'latin1'), 'gbk'), b]))
  const text = (name: string) => iconv.decode(Buffer.from(files[name]!), 'gbk')
  const names = Object.keys(files).sort()
  const detail = names.find((n) => n.endsWith('_业务明细.csv'))!
  const summary = names.find((n) => n.endsWith('_业务明细(汇总).csv'))!
  return { url: q.billDownloadUrl as string, names, files, zip, detail: text(detail), summary: text(summary), res }
}

/** The data rows of a detail CSV, fields with their padding trimmed. */
const alipayRows = (detail: string) =>
  detail
    .split('\r\n')
    .filter((l) => l && !l.startsWith('#') && l !== ALIPAY_HEADER)
    .map((l) => l.split(',').map((f) => f.trim()))

// ---- WeChat helpers ----

async function wechatTrade(total: number, opts: { pay?: boolean } = {}) {
  const no = orderNo('W')
  const res = await wx.pay.transactions_native({
    description: '积分充值',
    out_trade_no: no,
    notify_url: 'http://127.0.0.1:9/notify',
    amount: { total, currency: 'CNY' },
  })
  if (res.status !== 200) throw new Error(JSON.stringify(res))
  if (opts.pay !== false) {
    const paid = await control('POST', `/control/wechat/trades/${no}/pay`, { notify: false })
    if (paid.status !== 200) throw new Error(paid.text)
    return { no, transactionId: paid.json.trade.transactionId as string }
  }
  return { no, transactionId: null }
}

/** The SDK's tradebill (its query may lack fields on purpose: the SDK's type wants bill_date and bill_type). */
async function tradebill(query: Record<string, string>) {
  const res = await wx.pay.tradebill(query as unknown as Parameters<typeof wx.pay.tradebill>[0])
  return { ...res, raw: wx.last(), error: res.error ? JSON.parse(res.error) : undefined }
}

/** GET with the merchant's Authorization (signed over path + query, as WeChat wants), or without. */
async function wxGet(url: string, auth = true) {
  const u = new URL(url)
  const path = `${u.pathname}${u.search}`
  const nonce = randomBytes(8).toString('hex')
  const ts = String(Math.floor(Date.now() / 1000))
  const headers: Record<string, string> = auth
    ? { Authorization: wx.pay.getAuthorization(nonce, ts, wx.pay.getSignature('GET', nonce, ts, path)) }
    : {}
  const res = await fetchLink(url, headers)
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) }
}

async function wechatBill(query: Record<string, string> = {}) {
  const q = await tradebill({ bill_date: today, ...query })
  if (q.status !== 200) throw new Error(JSON.stringify(q))
  const file = await wxGet(q.data.download_url)
  if (file.status !== 200) throw new Error(`download ${file.status}`)
  const text = (query.tar_type === 'GZIP' ? gunzipSync(file.body) : file.body).toString('utf8')
  return { q, file, text, lines: text.split('\r\n') }
}

/** The values of a backticked line (every value starts with a backtick). */
const wechatFields = (line: string) => {
  if (!line.startsWith('`')) throw new Error(`not a backticked line: ${line.slice(0, 40)}`)
  return line.slice(1).split(',`')
}

// ---- the day's business, shared by the tests below ----

const a1 = await alipayTrade('25.00', { subject: '积分充值 500 积分' })
const a2 = await alipayTrade('9.90')
const a3 = await alipayTrade('1.00', { pay: false })
const refundA = await sbx.sdk.exec(
  'alipay.trade.refund',
  { bizContent: { out_trade_no: a1.no, refund_amount: '5.00', out_request_no: `RA${a1.no}`, refund_reason: '部分退款' } },
  { validateSign: true },
)
const w1 = await wechatTrade(2500)
const w2 = await wechatTrade(990)
const w3 = await wechatTrade(100, { pay: false })
const refundW = await wx.pay.refunds({
  out_trade_no: w1.no,
  out_refund_no: `RW${w1.no}`,
  amount: { refund: 500, total: 2500, currency: 'CNY' },
})

t.test('the day was set up', async (t) => {
  t.equal(refundA.code, '10000')
  t.equal(refundW.status, 200)
})

t.test('alipay: the download-URL answer is signed (validateSign) and points at a ZIP of two GBK CSVs named like Alipay’s', async (t) => {
  const bill = await alipayBill()
  const compact = today.replace(/-/g, '')
  t.match(bill.url, new RegExp(`^${sbx.publicUrl}/bills/alipay/downloadBillFile\\.resource\\?.*bizDates=${compact}.*token=[a-z0-9]{40}`))
  t.same(bill.names, [`${account}_${compact}_业务明细(汇总).csv`, `${account}_${compact}_业务明细.csv`])
  // Every entry's general purpose flags (local header offset 6, central directory offset 8): bit 11 (UTF-8) clear.
  const zip = Buffer.from(bill.zip)
  for (let i = 0; i + 4 <= zip.length; i++) {
    const sig = zip.readUInt32LE(i)
    if (sig === 0x04034b50) t.equal(zip.readUInt16LE(i + 6) & 0x800, 0, 'local header: names not flagged UTF-8')
    if (sig === 0x02014b50) t.equal(zip.readUInt16LE(i + 8) & 0x800, 0, 'central directory: names not flagged UTF-8')
  }
  t.ok(zip.includes(iconv.encode('业务明细', 'gbk')), 'the names are GBK bytes')
  const raw = Buffer.from(bill.files[`${account}_${compact}_业务明细.csv`]!)
  t.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(raw), 'the CSV is not UTF-8')
  t.ok(raw.includes(iconv.encode('业务明细', 'gbk')), 'it is GBK')

  const lines = bill.detail.split('\r\n')
  const [y, m, d] = today.split('-')
  t.equal(lines[0], '#支付宝业务明细查询')
  t.equal(lines[1], `#账号：[${account}]`)
  t.match(lines[2], new RegExp(`^#起始日期：\\[${y}年${m}月${d}日 00:00:00\\]   终止日期：\\[\\d{4}年\\d{2}月\\d{2}日 00:00:00\\]$`))
  t.equal(lines[3], '#-----------------------------------------业务明细列表----------------------------------------')
  t.equal(lines[4], ALIPAY_HEADER)
  const data = lines.slice(5, 8)
  // As real files: a tab after the id-like columns only (see ALIPAY_PADDED for the rows it is taken from).
  const padded = [0, 1, 2, 6, 7, 8, 9, 10, 19, 21]
  for (const l of data) {
    const fields = l.split(',')
    t.equal(fields.length, 25)
    t.same(
      fields.flatMap((f, i) => (f.endsWith('\t') ? [i] : [])),
      padded,
      'tabs after 支付宝交易号, 商户订单号, 业务类型, 门店编号…对方账户, 商家红包消费金额, 退款批次号 only',
    )
  }
  t.equal(lines[8], '#-----------------------------------------业务明细列表结束------------------------------------')
  t.equal(lines[9], '#交易合计：2笔，商家实收共34.90元，商家优惠共0.00元')
  t.equal(lines[10], '#退款合计：1笔，商家实收退款共-5.00元，商家优惠退款共0.00元')
  t.match(lines[11], /^#导出时间：\[\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}:\d{2}\]$/)

  const rows = alipayRows(bill.detail)
  t.equal(rows.length, 3, 'two payments and one refund; the unpaid trade is absent')
  t.notOk(
    rows.some((r) => r[1] === a3.no),
    'unpaid trade absent',
  )
  const byKind = (kind: string, no: string) => rows.find((r) => r[2] === kind && r[1] === no)!
  const p1 = byKind('交易', a1.no)
  t.equal(p1[0], a1.tradeNo)
  t.equal(p1[3], '积分充值 500 积分')
  t.match(p1[4], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
  t.match(p1[5], new RegExp(`^${today} \\d{2}:\\d{2}:\\d{2}$`))
  t.match(p1[10], /^\*某\(\d{3}\*{4}\d{4}\)$/, '对方账户 masked, as *杨(137****2600)')
  t.same([p1[11], p1[12], p1[21], p1[22]], ['25.00', '25.00', '', '-0.15'], '0.6 % fee, negative')
  t.same([byKind('交易', a2.no)[11], byKind('交易', a2.no)[22]], ['9.90', '-0.06'], '5.94 fen rounds to 6')
  const r1 = byKind('退款', a1.no)
  t.same([r1[0], r1[11], r1[12], r1[21], r1[22], r1[24]], [a1.tradeNo, '-5.00', '-5.00', `RA${a1.no}`, '0.03', '部分退款'])

  const summary = bill.summary.split('\r\n')
  t.equal(summary[0], '#支付宝业务汇总查询')
  t.equal(summary[3], '#-----------------------------------------业务汇总列表----------------------------------------')
  t.equal(
    summary[4],
    '门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）',
    '12 columns, no 商户优惠净额',
  )
  t.same(
    summary[5]!.split(',').map((f) => f.trim()),
    ['合计', '', '2', '1', '29.90', '29.90', '0.00', '0.00', '0.00', '-0.18', '0.00', '29.72'],
  )
  t.equal(summary[6], '#----------------------------------------业务汇总列表结束-------------------------------------')
})

t.test('alipay: bad requests get Alipay’s signed errors; links are secret and per provider', async (t) => {
  const future = await alipayBillQuery({ bill_type: 'trade', bill_date: '2999-01-01' })
  t.match(future, { code: '40004', subCode: 'isv.invalid_arguments' }, 'a future day (signed error: validateSign passed)')
  t.match(await alipayBillQuery({ bill_type: 'trade', bill_date: '2024-02-30' }), { code: '40004', subCode: 'isv.invalid_arguments' })
  t.match(await alipayBillQuery({ bill_type: 'trade', bill_date: '2024-05' }), { code: '40004', subCode: 'isv.invalid_arguments' })
  t.match(await alipayBillQuery({ bill_type: 'trade' }), { code: '40004', subCode: 'isv.invalid_arguments' })
  t.match(await alipayBillQuery({ bill_type: 'fund', bill_date: today }), { code: '40004', subCode: 'isv.invalid_arguments' })
  t.match(await alipayBillQuery({ bill_type: 'signcustomer', bill_date: today }), { code: '40004', subCode: 'isp.bill_not_exist' })

  const empty = await alipayBill('2024-05-01')
  t.equal(alipayRows(empty.detail).length, 0, 'a day without trades has an empty bill')
  t.match(empty.detail, /#交易合计：0笔，商家实收共0\.00元/)

  const url = new URL(empty.url)
  url.searchParams.set('token', 'a'.repeat(40))
  t.equal((await fetchLink(url.toString())).status, 404, 'unknown token')
  const wxLink = (await tradebill({ bill_date: today })).data.download_url as string
  const stolen = new URL(empty.url)
  stolen.searchParams.set('token', new URL(wxLink).searchParams.get('token')!)
  t.equal((await fetchLink(stolen.toString())).status, 404, 'a WeChat token does not open an Alipay bill')
})

t.test(
  'wechat: /v3/bill/tradebill is signed (verifySign); the file is unsigned, needs the merchant’s Authorization, and hashes to hash_value',
  async (t) => {
    const bill = await wechatBill()
    t.equal(bill.q.status, 200)
    t.equal(await wx.verify(bill.q.raw), true, 'answer signature verified by the SDK')
    t.match(bill.q.data, { hash_type: 'SHA1', hash_value: /^[0-9a-f]{40}$/ })
    t.match(bill.q.data.download_url, new RegExp(`^${sbx.publicUrl}/v3/billdownload/file\\?token=[a-z0-9]{40}$`))
    t.equal(sha1(bill.file.body), bill.q.data.hash_value, 'SHA1 of the file is hash_value')
    t.notOk(bill.file.headers.get('wechatpay-signature'), 'the download is not signed')

    const { lines } = bill
    t.equal(lines[0], WECHAT_HEADER)
    const rows = lines.slice(1, 4).map(wechatFields)
    for (const r of rows) t.equal(r.length, 27)
    t.equal(lines[4], WECHAT_TOTALS)
    t.same(wechatFields(lines[5]!), ['3', '34.90', '5.00', '0.00', '0.18000', '34.90', '5.00'])
    t.equal(lines[6], '')
    t.notOk(
      rows.some((r) => r[6] === w3.no),
      'unpaid transaction absent',
    )

    const s1 = rows.find((r) => r[6] === w1.no && r[9] === 'SUCCESS')!
    t.match(s1[0], new RegExp(`^${today} \\d{2}:\\d{2}:\\d{2}$`))
    t.same(
      [s1[1], s1[2], s1[5], s1[8], s1[11], s1[12], s1[14], s1[15], s1[16], s1[22], s1[23], s1[24], s1[25]],
      [
        sbx.keys.wechat.appId,
        sbx.keys.wechat.mchId,
        w1.transactionId,
        'NATIVE',
        'CNY',
        '25.00',
        '0',
        '0',
        '0.00',
        '0.15000',
        '0.60%',
        '25.00',
        '0.00',
      ],
    )
    const s2 = rows.find((r) => r[6] === w2.no)!
    t.same([s2[12], s2[22]], ['9.90', '0.06000'])
    const r1 = rows.find((r) => r[9] === 'REFUND')!
    t.same(
      [r1[5], r1[6], r1[12], r1[15], r1[16], r1[18], r1[19], r1[22], r1[24], r1[25]],
      [w1.transactionId, w1.no, '0.00', `RW${w1.no}`, '5.00', 'ORIGINAL', 'SUCCESS', '-0.03000', '0.00', '5.00'],
    )
    t.match(r1[14], /^50\d+$/, 'WeChat refund id')

    const gz = await wechatBill({ tar_type: 'GZIP' })
    t.equal(gz.text, bill.text, 'GZIP: the same file, compressed')
    t.equal(sha1(gz.text), gz.q.data.hash_value, 'hash_value is of the uncompressed file')
    t.not(sha1(gz.file.body), gz.q.data.hash_value)

    // SUCCESS: 20 columns, 4 totals; REFUND: 29 columns with 退款申请时间 / 退款成功时间 (WeChat's format page).
    const success = await wechatBill({ bill_type: 'SUCCESS' })
    t.equal(
      success.lines[0],
      '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注',
    )
    t.same(
      success.lines.slice(1, -3).map((l) => [wechatFields(l).length, wechatFields(l)[9]]),
      [
        [20, 'SUCCESS'],
        [20, 'SUCCESS'],
      ],
    )
    t.equal(success.lines.at(-3), '总交易单数,应结订单总金额,手续费总金额,订单总金额')
    t.same(wechatFields(success.lines.at(-2)!), ['2', '34.90', '0.21000', '34.90'])
    const refunds = await wechatBill({ bill_type: 'REFUND' })
    t.equal(
      refunds.lines[0],
      '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注',
    )
    const rr = refunds.lines.slice(1, -3).map(wechatFields)
    t.same(
      rr.map((f) => [f.length, f[9], f[17], f[21]]),
      [[29, 'REFUND', `RW${w1.no}`, 'SUCCESS']],
    )
    t.equal(rr[0]![14], r1[0], '退款申请时间 is the refund row’s 交易时间 in the ALL bill (its acceptance)')
    t.equal(rr[0]![0], s1[0], 'in the REFUND bill 交易时间 is the payment’s')

    const unsigned = await wxGet(bill.q.data.download_url, false)
    t.equal(unsigned.status, 401)
    t.match(JSON.parse(unsigned.body.toString()), { code: 'SIGN_ERROR' })
    const unknown = await wxGet(`${sbx.publicUrl}/v3/billdownload/file?token=${'b'.repeat(40)}`)
    t.equal(unknown.status, 404)
  },
)

t.test('wechat: bad requests get WeChat’s signed errors', async (t) => {
  const expect = async (query: Record<string, string>, status: number, code: string) => {
    const r = await tradebill(query)
    t.equal(r.status, status, JSON.stringify(query))
    t.equal(r.error?.code, code)
    t.equal(await wx.verify(r.raw), true, 'error answers are signed')
  }
  await expect({ bill_date: '2024-5-1' }, 400, 'PARAM_ERROR')
  await expect({ bill_date: '2024-02-30' }, 400, 'PARAM_ERROR')
  await expect({ bill_type: 'ALL' }, 400, 'PARAM_ERROR')
  await expect({ bill_date: today, bill_type: 'PAID' }, 400, 'PARAM_ERROR')
  await expect({ bill_date: today, tar_type: 'ZIP' }, 400, 'PARAM_ERROR')
  await expect({ bill_date: '2999-01-01' }, 400, 'NO_STATEMENT_EXIST')
  await expect({ bill_date: '2024-05-01' }, 400, 'NO_STATEMENT_EXIST')

  const noAuth = await wxGet(`${sbx.publicUrl}/v3/bill/tradebill?bill_date=${today}`, false)
  t.equal(noAuth.status, 401)
  t.match(JSON.parse(noAuth.body.toString()), { code: 'SIGN_ERROR' })
})

t.test('control: bill-amount changes the bill row only, null restores it; bad input is a 400, an unknown trade a 404', async (t) => {
  const set = await control('POST', `/control/alipay/trades/${a2.no}/bill-amount`, { amount: 1000 })
  t.same(set.json, { provider: 'alipay', outTradeNo: a2.no, billAmount: 1000 })
  const row = alipayRows((await alipayBill()).detail).find((r) => r[1] === a2.no)!
  t.same([row[11], row[12], row[22]], ['10.00', '10.00', '-0.06'])
  const q = await sbx.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: a2.no } }, { validateSign: true })
  t.equal(q.totalAmount, '9.90', 'the trade itself is unchanged')
  await control('POST', `/control/alipay/trades/${a2.no}/bill-amount`, { amount: null })
  t.equal(alipayRows((await alipayBill()).detail).find((r) => r[1] === a2.no)![11], '9.90')

  t.equal((await control('POST', `/control/wechat/trades/${w2.no}/bill-amount`, { amount: 1 })).status, 200)
  const wrow = (await wechatBill()).lines.map((l) => (l.startsWith('`') ? wechatFields(l) : [])).find((r) => r[6] === w2.no)!
  t.same([wrow[12], wrow[22], wrow[24]], ['0.01', '0.00000', '0.01'])
  await control('POST', `/control/wechat/trades/${w2.no}/bill-amount`, { amount: null })

  for (const amount of [0, 1.5, '10', -1, undefined])
    t.equal((await control('POST', `/control/wechat/trades/${w2.no}/bill-amount`, { amount })).status, 400, `amount ${amount}`)
  t.equal((await control('POST', '/control/alipay/trades/NOSUCHTRADE/bill-amount', { amount: 1 })).status, 404)
  t.equal((await control('POST', `/control/wechat/trades/${a1.no}/bill-amount`, { amount: 1 })).status, 404, 'another provider’s trade')
})

t.test('faults: each mode misbehaves as documented, and none restores the bills', async (t) => {
  t.teardown(async () => {
    await setFault('alipay', 'none')
    await setFault('wechat', 'none')
  })
  for (const body of [
    { provider: 'epay', mode: 'corrupt' },
    { provider: 'alipay', mode: 'slow' },
    { provider: 'alipay', mode: 'hash-mismatch' },
    {},
  ])
    t.equal((await control('POST', '/control/bills/faults', body)).status, 400, JSON.stringify(body))

  // Alipay
  await setFault('alipay', 'download-error')
  t.same((await control('GET', '/control/bills/faults')).json, { alipay: 'download-error', wechat: 'none' })
  const q = await alipayBillQuery({ bill_type: 'trade', bill_date: today })
  t.equal(q.code, '10000', 'the query still works')
  t.equal((await fetchLink(q.billDownloadUrl)).status, 500, 'the download fails')

  await setFault('alipay', 'query-error')
  t.match(await alipayBillQuery({ bill_type: 'trade', bill_date: today }), { code: '20000', subCode: 'isp.unknow-error' })

  await setFault('alipay', 'bad-signature')
  await t.rejects(alipayBillQuery({ bill_type: 'trade', bill_date: today }), /验签失败/, 'alipay-sdk refuses the answer')
  t.equal((await alipayBillQuery({ bill_type: 'trade', bill_date: today }, false)).code, '10000', 'the same answer, unverified, is fine')
  t.equal(
    (await sbx.sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: a1.no } }, { validateSign: true })).code,
    '10000',
    'other methods stay correctly signed',
  )

  await setFault('alipay', 'corrupt')
  const corrupt = await alipayBill()
  t.notOk(corrupt.detail.includes(ALIPAY_HEADER), 'no header line')
  t.ok(
    alipayRows(corrupt.detail).every((r) => r[11] === '--'),
    'garbled amounts',
  )

  // WeChat
  await setFault('wechat', 'hash-mismatch')
  const mismatch = await wechatBill()
  t.not(sha1(mismatch.file.body), mismatch.q.data.hash_value, 'hash_value is not the file’s')
  t.equal(await wx.verify(mismatch.q.raw), true, 'though the answer is validly signed')

  await setFault('wechat', 'download-error')
  const link = (await tradebill({ bill_date: today })).data.download_url
  t.equal((await wxGet(link)).status, 500)

  await setFault('wechat', 'query-error')
  const qe = await tradebill({ bill_date: today })
  t.equal(qe.status, 500)
  t.equal(qe.error.code, 'SYSTEM_ERROR')

  await setFault('wechat', 'bad-signature')
  const badSig = await tradebill({ bill_date: today })
  t.equal(badSig.status, 200)
  t.equal(await wx.verify(badSig.raw), false, 'the SDK refuses the signature')

  await setFault('wechat', 'corrupt')
  const wcorrupt = await wechatBill()
  t.equal(sha1(wcorrupt.file.body), wcorrupt.q.data.hash_value, 'the hash matches: the file itself is broken')
  t.notOk(wcorrupt.text.includes(WECHAT_HEADER), 'no header line')

  await setFault('wechat', 'none')
  await setFault('alipay', 'none')
  t.same((await control('GET', '/control/bills/faults')).json, { alipay: 'none', wechat: 'none' })
  t.equal(alipayRows((await alipayBill()).detail).length, 3)
  t.equal(sha1((await wechatBill()).file.body), (await tradebill({ bill_date: today })).data.hash_value)
})

t.test('alipay: a comma in a 商品名称 is written bare, as Alipay writes free text (no quoting)', async (t) => {
  const c = await alipayTrade('3.00', { subject: '套餐A,含税' })
  const line = (await alipayBill()).detail.split('\r\n').find((l) => l.includes(c.no))!
  t.ok(line.includes(',套餐A,含税,'), line)
  t.equal(line.split(',').length, 26, 'one field more than the header when split naively')
})

t.test(
  'wechat: refunds on the bill of the day they were accepted, PROCESSING until done by the day’s end; coupons; the early layout and a BOM on request',
  async (t) => {
    const yesterday = chinaToday(Date.now() - 86_400_000)
    const at = (day: string, time: string) => new Date(`${day}T${time}+08:00`).toISOString()
    // Paid yesterday; refund accepted yesterday 23:50, done today (a bank-card refund takes days).
    const late = await wechatTrade(1000)
    t.equal((await control('POST', `/control/wechat/trades/${late.no}/timeline`, { paidAt: at(yesterday, '10:00:00') })).status, 200)
    t.equal(
      (
        await wx.pay.refunds({
          out_trade_no: late.no,
          out_refund_no: `RL${late.no}`,
          amount: { refund: 300, total: 1000, currency: 'CNY' },
        })
      ).status,
      200,
    )
    const moved = await control('POST', `/control/wechat/refunds/RL${late.no}/timeline`, {
      acceptedAt: at(yesterday, '23:50:00'),
      status: 'SUCCESS',
      successAt: new Date().toISOString(),
    })
    t.equal(moved.status, 200, moved.text)
    // Accepted yesterday, failed since.
    const failed = await wechatTrade(2000)
    t.equal(
      (
        await wx.pay.refunds({
          out_trade_no: failed.no,
          out_refund_no: `RF${failed.no}`,
          amount: { refund: 500, total: 2000, currency: 'CNY' },
        })
      ).status,
      200,
    )
    t.equal(
      (
        await control('POST', `/control/wechat/refunds/RF${failed.no}/timeline`, {
          acceptedAt: at(yesterday, '15:00:00'),
          status: 'ABNORMAL',
        })
      ).status,
      200,
    )

    const day1 = await wechatBill({ bill_date: yesterday })
    const rows1 = day1.lines.filter((l) => l.startsWith('`') && !/^`\d+,`[\d.]+,`/.test(l)).map(wechatFields)
    const refundRow = (rows: string[][], no: string) => rows.find((r) => r[9] === 'REFUND' && r[15] === no)
    t.match(
      refundRow(rows1, `RL${late.no}`),
      { 0: `${yesterday} 23:50:00`, 16: '3.00', 19: 'PROCESSING', 25: '3.00' },
      'dated at acceptance, PROCESSING then',
    )
    t.match(
      refundRow(rows1, `RF${failed.no}`),
      { 0: `${yesterday} 15:00:00`, 19: 'PROCESSING' },
      'a refund that failed later is PROCESSING in the bill',
    )
    t.ok(
      rows1.some((r) => r[9] === 'SUCCESS' && r[6] === late.no),
      'the payment is on yesterday’s bill',
    )
    const refund1 = await wechatBill({ bill_date: yesterday, bill_type: 'REFUND' })
    const lr = refund1.lines.map((l) => (l.startsWith('`') ? wechatFields(l) : [])).find((r) => r[17] === `RL${late.no}`)!
    t.same(
      [lr[0], lr[14], lr[15], lr[21]],
      [`${yesterday} 10:00:00`, `${yesterday} 23:50:00`, '', 'PROCESSING'],
      'REFUND bill: no 退款成功时间 yet',
    )
    const today1 = await wechatBill()
    t.notOk(today1.text.includes(`RL${late.no}`), 'not on the bill of the day it was done')

    // A 2.00 non-top-up coupon on a 10.00 order: 应结订单金额 8.00, the fee on 8.00.
    const coupon = await wechatTrade(1000)
    t.same((await control('POST', `/control/wechat/trades/${coupon.no}/bill-coupon`, { amount: 200 })).json, {
      provider: 'wechat',
      outTradeNo: coupon.no,
      coupon: 200,
    })
    const crow = (await wechatBill()).lines.map((l) => (l.startsWith('`') ? wechatFields(l) : [])).find((r) => r[6] === coupon.no)!
    t.same([crow[12], crow[13], crow[22], crow[24]], ['8.00', '2.00', '0.05000', '10.00'], '应结, 代金券, 手续费 (0.6 % of 8.00), 订单金额')

    // The early layout (24 columns, 总金额) with a BOM.
    t.teardown(() => control('POST', '/control/bills/format', { provider: 'wechat', bom: false, layout: 'CURRENT' }))
    t.same((await control('POST', '/control/bills/format', { provider: 'wechat', bom: true, layout: 'LEGACY' })).json, {
      provider: 'wechat',
      bom: true,
      layout: 'LEGACY',
    })
    const legacy = await wechatBill({ bill_date: yesterday })
    t.equal(legacy.file.body.subarray(0, 3).toString('hex'), 'efbbbf', 'a UTF-8 BOM')
    t.equal(sha1(legacy.file.body), legacy.q.data.hash_value, 'hash_value covers the BOM')
    t.equal(
      legacy.lines[0],
      '\uFEFF交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率',
    )
    const lrows = legacy.lines.slice(1, -3).map(wechatFields)
    t.ok(lrows.length >= 3 && lrows.every((r) => r.length === 24), '24 columns')
    t.equal(legacy.lines.at(-3), '总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额')
    t.equal((await wechatBill({ bill_date: yesterday, bill_type: 'SUCCESS' })).lines[1]!.split(',`').length, 18)
    t.equal((await wechatBill({ bill_date: yesterday, bill_type: 'REFUND' })).lines[1]!.split(',`').length, 26)

    for (const [path, body] of [
      ['/control/bills/format', { provider: 'wechat', layout: 'V2' }],
      ['/control/bills/format', { provider: 'alipay', bom: true }],
      ['/control/bills/format', { provider: 'wechat', bom: 'yes' }],
      [`/control/wechat/trades/${coupon.no}/bill-coupon`, { amount: 1000 }],
      [`/control/wechat/trades/${coupon.no}/bill-coupon`, { amount: 0 }],
      [`/control/wechat/trades/${coupon.no}/timeline`, { paidAt: 'yesterday' }],
      [`/control/wechat/trades/${coupon.no}/timeline`, { paidAt: '2999-01-01T00:00:00Z' }],
      [`/control/wechat/refunds/RL${late.no}/timeline`, { status: 'DONE' }],
      [`/control/wechat/refunds/RL${late.no}/timeline`, { status: 'SUCCESS', successAt: null }],
      [`/control/wechat/refunds/RL${late.no}/timeline`, { acceptedAt: new Date().toISOString(), successAt: at(yesterday, '00:00:01') }],
    ] as const)
      t.equal((await control('POST', path, body)).status, 400, `${path} ${JSON.stringify(body)}`)
    t.equal((await control('POST', '/control/wechat/trades/NOSUCH/bill-coupon', { amount: 1 })).status, 404)
    t.equal((await control('POST', '/control/wechat/refunds/NOSUCH/timeline', { status: 'SUCCESS' })).status, 404)
  },
)
