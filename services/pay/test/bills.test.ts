/**
 * Provider bills (对账单) in pay: the pure parsers on literal text (GBK bytes, tab padding, quotes,
 * backticks, summary and totals lines, every malformation), then the adapters' `fetchBill` against
 * the provider sandbox run as its own process: today's trades and refunds come back in fen with
 * fees; an amount override shows; each sandbox fault maps to its BillError reason.
 */
import t, { type Test } from 'tap'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import { gzipSync } from 'node:zlib'
import { zipSync } from 'fflate'
import iconv from 'iconv-lite'
import { AlipaySdk } from 'alipay-sdk'
import { createTestDatabase, freePort, generateDevKeys, stackEnv, startService } from '@paysys/devkit'
import { loadConfig } from '../src/config.ts'
import { BillError, type BillRow } from '../src/reconciliation/types.ts'
import { chinaToday, signedYuanToFen } from '../src/providers/bill-common.ts'
import { createAlipayProvider } from '../src/providers/alipay/alipay.ts'
import { createAlipayBillFetcher, parseAlipayBillDetail, readAlipayBillZip, splitCsvLine } from '../src/providers/alipay/bill.ts'
import { createWechatProvider } from '../src/providers/wechat/wechat.ts'
import { billDownloadTarget, parseWechatBill, readWechatBill } from '../src/providers/wechat/bill.ts'
import type { PaymentProvider } from '../src/providers/types.ts'
import { newOrderNo, startFakeGateway, UNREACHABLE_GATEWAY } from './helpers.ts'

/** Asserts that `fn` fails with a BillError of this provider and reason. */
async function rejectsBill(t: Test, fn: () => unknown, provider: string, reason: BillError['reason'], message?: RegExp) {
  try {
    await fn()
    t.fail(`expected BillError ${reason}`)
  } catch (err) {
    t.ok(err instanceof BillError, `a BillError: ${(err as Error).message}`)
    t.match(err, { provider, reason, ...(message ? { message } : {}) }, `${reason}: ${(err as Error).message}`)
  }
}

const cst = (s: string) => new Date(`${s.replace(' ', 'T')}+08:00`)

// ---- literal bills ----

const ALIPAY_HEADER =
  '支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注'
const ALIPAY_ROWS = [
  '2024050122001426071418143307\t,P20240501120000AAAAAAAAAAAA\t,交易\t,积分充值 500 积分    \t,2024-05-01 11:59:40\t,2024-05-01 12:00:04\t,\t,\t,\t,\t,138****0000\t,25.00\t,25.00\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t,-0.15\t,0.00\t,\t',
  '2024050122001426071418149999\t,P20240501130000BBBBBBBBBBBB\t,交易\t,"商品, 含逗号 ""特价"""\t,2024-05-01 12:59:40\t,2024-05-01 13:00:05\t,\t,\t,\t,\t,abc***@163.com\t,9.90\t,9.90\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t,-0.06\t,0.00\t,\t',
  '2024050122001426071418143307\t,P20240501120000AAAAAAAAAAAA\t,退款\t,积分充值 500 积分    \t,2024-05-01 11:59:40\t,2024-05-01 18:30:00\t,\t,\t,\t,\t,138****0000\t,-5.00\t,-5.00\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,RP20240501120000AAAAAAAAAAAA1\t,0.03\t,0.00\t,部分退款\t',
]
function alipayDetail(opts: { header?: boolean; rows?: string[]; footer?: string[]; end?: boolean } = {}) {
  return [
    '#支付宝业务明细查询',
    '#账号：[20881234567890120156]',
    '#起始日期：[2024年05月01日 00:00:00]   终止日期：[2024年05月02日 00:00:00]',
    '#-----------------------------------------业务明细列表----------------------------------------',
    ...(opts.header === false ? [] : [ALIPAY_HEADER]),
    ...(opts.rows ?? ALIPAY_ROWS),
    ...(opts.end === false
      ? []
      : [
          '#-----------------------------------------业务明细列表结束------------------------------------',
          ...(opts.footer ?? [
            '#交易合计：2笔，商家实收共34.90元，商家优惠共0.00元',
            '#退款合计：1笔，商家实收退款共-5.00元，商家优惠退款共0.00元',
          ]),
          '#导出时间：[2024年05月02日 09:12:33]',
        ]),
    '',
  ].join('\r\n')
}
const ALIPAY_EXPECTED: BillRow[] = [
  {
    kind: 'PAYMENT',
    outTradeNo: 'P20240501120000AAAAAAAAAAAA',
    tradeNo: '2024050122001426071418143307',
    amount: 2500,
    fee: 15,
    refundNo: null,
    time: cst('2024-05-01 12:00:04'),
    providerStatus: '交易',
  },
  {
    kind: 'PAYMENT',
    outTradeNo: 'P20240501130000BBBBBBBBBBBB',
    tradeNo: '2024050122001426071418149999',
    amount: 990,
    fee: 6,
    refundNo: null,
    time: cst('2024-05-01 13:00:05'),
    providerStatus: '交易',
  },
  {
    kind: 'REFUND',
    outTradeNo: 'P20240501120000AAAAAAAAAAAA',
    tradeNo: '2024050122001426071418143307',
    amount: 500,
    fee: -3,
    refundNo: 'RP20240501120000AAAAAAAAAAAA1',
    time: cst('2024-05-01 18:30:00'),
    providerStatus: '退款',
  },
]
const ALIPAY_SUMMARY = [
  '#支付宝业务汇总查询',
  '#账号：[20881234567890120156]',
  '#-----------------------------------------业务汇总列表----------------------------------------',
  '门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）,商户优惠净额（元）',
  '合计\t,\t,2\t,1\t,29.90\t,29.90\t,0.00\t,0.00\t,0.00\t,-0.18\t,0.00\t,29.72\t,0.00\t',
  '#----------------------------------------业务汇总列表结束-------------------------------------',
].join('\r\n')

const WECHAT_HEADER =
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'
const WECHAT_ROWS = [
  '`2024-05-01 12:00:04,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000001202405011234567890,`P20240501120000AAAAAAAAAAAA,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`25.00,`0.00,`0,`0,`0.00,`0.00,`,`,`积分充值, 500 积分,`,`0.15000,`0.60%,`25.00,`0.00,`',
  '`2024-05-01 12:30:00,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000001202405011234567891,`P20240501123000CCCCCCCCCCCC,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`测试,`attach,`0.00006,`0.60%,`0.01,`0.00,`',
  '`2024-05-01 18:30:00,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000001202405011234567890,`P20240501120000AAAAAAAAAAAA,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000012024050112345678901,`RP20240501120000AAAAAAAAAAAA1,`5.00,`0.00,`ORIGINAL,`SUCCESS,`积分充值, 500 积分,`,`-0.03000,`0.60%,`0.00,`5.00,`',
]
const WECHAT_TOTALS = '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额'
function wechatText(opts: { bom?: boolean; header?: boolean; rows?: string[]; totals?: string | false } = {}) {
  const rows = opts.rows ?? WECHAT_ROWS
  return [
    `${opts.bom ? '\uFEFF' : ''}${opts.header === false ? '' : WECHAT_HEADER}`,
    ...rows,
    ...(opts.totals === false ? [] : [WECHAT_TOTALS, opts.totals ?? `\`${rows.length},\`25.01,\`5.00,\`0.00,\`0.12006,\`25.01,\`5.00`]),
    '',
  ].join('\r\n')
}
const WECHAT_EXPECTED: BillRow[] = [
  {
    kind: 'PAYMENT',
    outTradeNo: 'P20240501120000AAAAAAAAAAAA',
    tradeNo: '4200000001202405011234567890',
    amount: 2500,
    fee: 15,
    refundNo: null,
    time: cst('2024-05-01 12:00:04'),
    providerStatus: 'SUCCESS',
  },
  {
    kind: 'PAYMENT',
    outTradeNo: 'P20240501123000CCCCCCCCCCCC',
    tradeNo: '4200000001202405011234567891',
    amount: 1,
    fee: 0,
    refundNo: null,
    time: cst('2024-05-01 12:30:00'),
    providerStatus: 'SUCCESS',
  },
  {
    kind: 'REFUND',
    outTradeNo: 'P20240501120000AAAAAAAAAAAA',
    tradeNo: '4200000001202405011234567890',
    amount: 500,
    fee: -3,
    refundNo: 'RP20240501120000AAAAAAAAAAAA1',
    time: cst('2024-05-01 18:30:00'),
    providerStatus: 'REFUND',
    refundState: 'SUCCEEDED',
    refundStatus: 'SUCCESS',
  },
]

const gbk = (s: string) => new Uint8Array(iconv.encode(s, 'gbk'))
const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex')

t.test('bill amounts: signed yuan text to fen, exactly, any size that fits; sub-fen digits round half up', async (t) => {
  const cases: [string, number][] = [
    ['25.00', 2500],
    ['9.9', 990],
    ['-5.00', -500],
    ['0.15000', 15],
    ['-0.03000', -3],
    ['0.00006', 0],
    ['0.00500', 1],
    ['-0.00500', -1],
    ['0.01499', 1],
    ['-0.00', 0],
    ['  1.10\t', 110],
    ['12', 1200],
    // A bill is the provider's word: no cap at what a customer may be charged (@paysys/money's).
    ['1200000.00', 120_000_000],
    ['-2000000.00', -200_000_000],
    ['90071992547409.91', Number.MAX_SAFE_INTEGER],
  ]
  for (const [text, fen] of cases) t.equal(signedYuanToFen(text), fen, JSON.stringify(text))
  for (const bad of ['', 'abc', '1,000.00', '1e3', '--1', '01.00', '1.', '.5', '90071992547409.92', '12345678901234567.00'])
    t.throws(() => signedYuanToFen(bad), JSON.stringify(bad))
  t.same(splitCsvLine('a\t,"b, ""c"""\t,,d'), ['a\t', 'b, "c"\t', '', 'd'], 'quotes, doubled quotes and padding after them')
})

t.test('alipay parser: the detail CSV between its markers; padding trimmed; refunds positive; 服务费 as the fee', async (t) => {
  t.same(parseAlipayBillDetail(alipayDetail()), ALIPAY_EXPECTED)
  t.same(parseAlipayBillDetail(alipayDetail().replace(/\r\n/g, '\n')), ALIPAY_EXPECTED, 'LF line ends too')
  t.same(parseAlipayBillDetail(alipayDetail({ rows: [], footer: ['#交易合计：0笔，商家实收共0.00元'] })), [], 'a day without trades')
  t.same(parseAlipayBillDetail(alipayDetail({ footer: [] })), ALIPAY_EXPECTED, 'the totals lines are optional')
  const trailing = alipayDetail({ rows: [`${ALIPAY_ROWS[0]},`], footer: ['#交易合计：1笔'] })
  t.equal(parseAlipayBillDetail(trailing).length, 1, 'a trailing comma (empty extra value) is tolerated')

  const bad: [string, string, RegExp][] = [
    ['no header line', alipayDetail({ header: false }), /表头缺少/],
    ['cut before the end marker', alipayDetail({ end: false }), /业务明细列表结束/],
    ['no table at all', '#支付宝业务明细查询\r\nfoo,bar\r\n', /业务明细列表/],
    ['an amount that is not one', alipayDetail({ rows: [ALIPAY_ROWS[0]!.replace('\t,25.00\t', '\t,25.0O\t')], footer: [] }), /金额无效/],
    ['an unknown 业务类型', alipayDetail({ rows: [ALIPAY_ROWS[0]!.replace('交易', '冻结')], footer: [] }), /业务类型“冻结”/],
    ['a negative payment', alipayDetail({ rows: [ALIPAY_ROWS[0]!.replace('\t,25.00\t', '\t,-25.00\t')], footer: [] }), /正数/],
    ['a missing column', alipayDetail({ rows: [ALIPAY_ROWS[0]!.replace(',138****0000\t', '')], footer: [] }), /列/],
    ['a bad time', alipayDetail({ rows: [ALIPAY_ROWS[0]!.replace('2024-05-01 12:00:04', '2024/05/01 12:00')], footer: [] }), /完成时间/],
    ['no out_trade_no', alipayDetail({ rows: [ALIPAY_ROWS[0]!.replace('P20240501120000AAAAAAAAAAAA', '')], footer: [] }), /商户订单号/],
    ['fewer rows than 交易合计 says', alipayDetail({ footer: ['#交易合计：3笔，商家实收共34.90元'] }), /交易合计 3 笔/],
    ['more refunds than 退款合计 says', alipayDetail({ footer: ['#退款合计：0笔'] }), /退款合计 0 笔/],
    [
      'an unclosed quote',
      alipayDetail({ rows: [ALIPAY_ROWS[1]!.replace('"商品, 含逗号 ""特价"""', '"商品, 含逗号')], footer: [] }),
      /引号/,
    ],
  ]
  for (const [name, text, message] of bad) await rejectsBill(t, () => parseAlipayBillDetail(text), 'ALIPAY', 'MALFORMED', message)
  t.comment(`${bad.length} malformations`)
})

t.test('alipay zip: the detail CSV is found by its content whatever the entry names, and decoded from GBK', async (t) => {
  const names = { detail: '20881234567890120156_20240501_业务明细.csv', summary: '20881234567890120156_20240501_业务明细(汇总).csv' }
  const zip = zipSync({ [names.summary]: gbk(ALIPAY_SUMMARY), [names.detail]: gbk(alipayDetail()) })
  t.same(readAlipayBillZip(zip), ALIPAY_EXPECTED)
  // Alipay's own ZIPs carry GBK entry names without the UTF-8 flag: they unpack as latin1 garbage.
  const garbled = (s: string) => Buffer.from(iconv.encode(s, 'gbk')).toString('latin1')
  t.same(
    readAlipayBillZip(zipSync({ [garbled(names.detail)]: gbk(alipayDetail()), [garbled(names.summary)]: gbk(ALIPAY_SUMMARY) })),
    ALIPAY_EXPECTED,
  )
  t.not(iconv.decode(Buffer.from(gbk(alipayDetail())), 'utf8'), alipayDetail(), 'GBK bytes are not UTF-8 (the decoding matters)')

  await rejectsBill(t, () => readAlipayBillZip(gbk(alipayDetail())), 'ALIPAY', 'MALFORMED', /ZIP/)
  await rejectsBill(t, () => readAlipayBillZip(zip.subarray(0, zip.length - 30)), 'ALIPAY', 'MALFORMED', /ZIP/)
  await rejectsBill(t, () => readAlipayBillZip(zipSync({ [names.summary]: gbk(ALIPAY_SUMMARY) })), 'ALIPAY', 'MALFORMED', /0 个业务明细/)
  await rejectsBill(
    t,
    () => readAlipayBillZip(zipSync({ 'a.csv': gbk(alipayDetail()), 'b.csv': gbk(alipayDetail()) })),
    'ALIPAY',
    'MALFORMED',
    /2 个/,
  )
  const big = zipSync({ [names.detail]: gbk(alipayDetail()) })
  await rejectsBill(t, () => readAlipayBillZip(big, 100), 'ALIPAY', 'MALFORMED', /0 个业务明细/)
})

t.test('wechat parser: backticked values, commas inside values, totals skipped but counted; refunds give the fee back', async (t) => {
  t.same(parseWechatBill(wechatText()), WECHAT_EXPECTED)
  t.same(parseWechatBill(wechatText({ bom: true }).replace(/\r\n/g, '\n')), WECHAT_EXPECTED, 'BOM and LF')
  t.same(parseWechatBill(wechatText({ rows: [], totals: '`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00' })), [])
  // 交易状态 REVOKED (a reversed payment-code trade, no money moved): counted in 总交易单数, no row of ours.
  const revoked = [WECHAT_ROWS[0]!.replace('`SUCCESS', '`REVOKED'), ...WECHAT_ROWS.slice(1)]
  t.same(parseWechatBill(wechatText({ rows: revoked })), WECHAT_EXPECTED.slice(1), 'a REVOKED row is left out, not a failed day')

  const bad: [string, string, RegExp][] = [
    ['no header line', wechatText({ header: false }), /表头缺少/],
    ['no totals (a cut file)', wechatText({ totals: false }), /汇总/],
    ['totals counting other rows', wechatText({ totals: '`4,`25.01,`5.00,`0.00,`0.12006,`25.01,`5.00' }), /总交易单数 4/],
    ['a row without backticks', wechatText({ rows: [WECHAT_ROWS[0]!.replace(/`/g, '')] }), /反引号/],
    ['a missing value', wechatText({ rows: [WECHAT_ROWS[0]!.replace(',`OTHERS', '')] }), /列/],
    ['an unknown state', wechatText({ rows: [WECHAT_ROWS[0]!.replace('`SUCCESS', '`PAYERROR')] }), /PAYERROR/],
    ['a bad amount', wechatText({ rows: [WECHAT_ROWS[0]!.replace('`0.60%,`25.00', '`0.60%,`25.0x')] }), /金额无效/],
    ['a bad fee', wechatText({ rows: [WECHAT_ROWS[0]!.replace('`0.15000', '`0.15%')] }), /金额无效/],
    ['a zero refund', wechatText({ rows: [WECHAT_ROWS[2]!.replace(/`5\.00,`$/, '`0.00,`')] }), /正数/],
    ['a bad time', wechatText({ rows: [WECHAT_ROWS[0]!.replace('2024-05-01 12:00:04', '20240501120004')] }), /交易时间/],
  ]
  for (const [name, text, message] of bad) {
    t.comment(name)
    await rejectsBill(t, () => parseWechatBill(text), 'WECHAT_PAY', 'MALFORMED', message)
  }
})

t.test('wechat reader: the SHA1 is checked before parsing (on the uncompressed file); then strict UTF-8', async (t) => {
  const text = wechatText()
  t.same(readWechatBill(Buffer.from(text), { gzip: false, hashType: 'SHA1', hashValue: sha1(text) }), WECHAT_EXPECTED)
  t.same(readWechatBill(gzipSync(text), { gzip: true, hashType: 'SHA1', hashValue: sha1(text).toUpperCase() }), WECHAT_EXPECTED)
  await rejectsBill(
    t,
    () => readWechatBill(Buffer.from(text), { gzip: false, hashType: 'SHA1', hashValue: sha1(`${text} `) }),
    'WECHAT_PAY',
    'VERIFICATION_FAILED',
    /SHA1/,
  )
  await rejectsBill(
    t,
    () => readWechatBill(Buffer.from('not a bill'), { gzip: false, hashType: 'SHA1', hashValue: sha1(text) }),
    'WECHAT_PAY',
    'VERIFICATION_FAILED',
    /SHA1/,
  )
  await rejectsBill(
    t,
    () => readWechatBill(gzipSync(text), { gzip: true, hashType: 'SHA1', hashValue: sha1(gzipSync(text)) }),
    'WECHAT_PAY',
    'VERIFICATION_FAILED',
    /SHA1/,
  )
  await rejectsBill(
    t,
    () => readWechatBill(Buffer.from(text), { gzip: false, hashType: 'MD5', hashValue: sha1(text) }),
    'WECHAT_PAY',
    'VERIFICATION_FAILED',
  )
  await rejectsBill(
    t,
    () => readWechatBill(Buffer.from(text), { gzip: false, hashType: 'SHA1', hashValue: 'xyz' }),
    'WECHAT_PAY',
    'VERIFICATION_FAILED',
  )
  await rejectsBill(
    t,
    () => readWechatBill(Buffer.from(text), { gzip: true, hashType: 'SHA1', hashValue: sha1(text) }),
    'WECHAT_PAY',
    'MALFORMED',
    /GZIP/,
  )
  const latin = Buffer.from([0xff, 0xfe, 0x41])
  await rejectsBill(
    t,
    () => readWechatBill(latin, { gzip: false, hashType: 'SHA1', hashValue: sha1(latin) }),
    'WECHAT_PAY',
    'MALFORMED',
    /UTF-8/,
  )
  const cut = text.slice(0, text.indexOf('总交易单数'))
  await rejectsBill(
    t,
    () => readWechatBill(Buffer.from(cut), { gzip: false, hashType: 'SHA1', hashValue: sha1(cut) }),
    'WECHAT_PAY',
    'MALFORMED',
  )
  const huge = gzipSync(Buffer.alloc(10_000, 0x41))
  await rejectsBill(
    t,
    () => readWechatBill(huge, { gzip: true, hashType: 'SHA1', hashValue: sha1('x'), maxBytes: 1000 }),
    'WECHAT_PAY',
    'MALFORMED',
  )

  t.same(billDownloadTarget('https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc', 'http://127.0.0.1:8090/'), {
    url: 'http://127.0.0.1:8090/v3/billdownload/file?token=abc',
    signedPath: '/v3/billdownload/file?token=abc',
  })
  for (const u of ['https://evil.example/steal?token=abc', 'ftp://api.mch.weixin.qq.com/v3/x', 'not a url', 42])
    t.equal(billDownloadTarget(u, 'http://127.0.0.1:8090'), null, String(u))
})

t.test('alipay flow edges against a stand-in gateway: no bill, forged answers, oversize files, nothing listening', async (t) => {
  const keys = generateDevKeys()
  let reply: (m: string) => { node: Record<string, unknown>; signWith?: string } = () => ({ node: {} })
  const gateway = await startFakeGateway(keys.alipay.platformPrivateKey, (call) => reply(call.method))
  t.teardown(gateway.close)
  const big = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/zip' }).end(Buffer.alloc(5000, 1)))
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => big.close(() => r())))
  const sdk = (gatewayUrl: string) =>
    new AlipaySdk({
      appId: keys.alipay.appId,
      privateKey: keys.alipay.merchantPrivateKey,
      alipayPublicKey: keys.alipay.platformPublicKey,
      gateway: gatewayUrl,
      keyType: 'PKCS8',
      signType: 'RSA2',
      timeout: 3000,
      camelcase: true,
    })
  const fetchBill = createAlipayBillFetcher(sdk(gateway.url), { timeoutMs: 3000, maxBytes: 1000 })

  reply = () => ({ node: { code: '40004', msg: 'Business Failed', sub_code: 'isp.bill_not_exist', sub_msg: '账单不存在' } })
  t.same(await fetchBill('2024-05-01'), [], 'no bill for a finished day: no trades')
  t.match(gateway.calls.at(-1), {
    method: 'alipay.data.dataservice.bill.downloadurl.query',
    bizContent: { bill_type: 'trade', bill_date: '2024-05-01' },
  })
  await rejectsBill(t, () => fetchBill(chinaToday()), 'ALIPAY', 'UNAVAILABLE', /isp\.bill_not_exist/)

  const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const port = (big.address() as { port: number }).port
  reply = () => ({ node: { code: '10000', msg: 'Success', bill_download_url: `http://127.0.0.1:${port}/x.zip` }, signWith: wrongKey })
  await rejectsBill(t, () => fetchBill('2024-05-01'), 'ALIPAY', 'VERIFICATION_FAILED', /验签/)
  reply = () => ({ node: { code: '10000', msg: 'Success', bill_download_url: `http://127.0.0.1:${port}/x.zip` } })
  await rejectsBill(t, () => fetchBill('2024-05-01'), 'ALIPAY', 'UNAVAILABLE', /过大|超过/)
  reply = () => ({ node: { code: '10000', msg: 'Success', bill_download_url: 'javascript:alert(1)' } })
  await rejectsBill(t, () => fetchBill('2024-05-01'), 'ALIPAY', 'UNAVAILABLE', /下载地址/)
  const calls = gateway.calls.length
  await rejectsBill(t, () => fetchBill('2024-02-30'), 'ALIPAY', 'UNAVAILABLE', /日期/)
  t.equal(gateway.calls.length, calls, 'an invalid day is never sent')
  await rejectsBill(t, () => createAlipayBillFetcher(sdk(UNREACHABLE_GATEWAY), { timeoutMs: 3000 })('2024-05-01'), 'ALIPAY', 'UNAVAILABLE')
})

t.test('fetchBill against the provider sandbox', async (t) => {
  const keys = generateDevKeys()
  const sandboxDb = await createTestDatabase('sbxbill')
  t.teardown(() => sandboxDb.drop())
  const ports = { main: 9, pay: await freePort(), sandbox: await freePort() }
  const env = stackEnv({
    keys,
    ports,
    databases: { main: 'postgres://unused', pay: 'postgres://unused/pay', sandbox: sandboxDb.url },
    extra: { sandbox: { LOG_LEVEL: 'warn' } },
  })
  const sandbox = await startService('sandbox', env.sandbox)
  t.teardown(() => sandbox.stop())
  const config = loadConfig(env.pay)
  const opts = { publicUrl: config.publicUrl, timeoutMs: 5000 }
  const providers: Record<'alipay' | 'wechat', PaymentProvider> = {
    alipay: createAlipayProvider(config.alipay!, opts),
    wechat: createWechatProvider(config.wechat!, opts),
  }
  const names = { alipay: 'ALIPAY', wechat: 'WECHAT_PAY' } as const
  const control = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const json = (await res.json()) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of a test answer
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
  const fault = (provider: 'alipay' | 'wechat', mode: string) => control('POST', '/control/bills/faults', { provider, mode })

  /** A trade created through the adapter and paid in the sandbox (no notify: nobody listens). */
  const paidTrade = async (provider: 'alipay' | 'wechat', amount: number, pay = true) => {
    const outTradeNo = newOrderNo()
    await providers[provider].createPayment({
      outTradeNo,
      amount,
      subject: '积分充值',
      channel: provider === 'alipay' ? 'qr' : 'native',
      expireAt: null,
    })
    if (!pay) return { outTradeNo, tradeNo: null, paidAt: null }
    const { trade } = await control('POST', `/control/${provider}/trades/${outTradeNo}/pay`, { notify: false })
    return { outTradeNo, tradeNo: (trade.tradeNo ?? trade.transactionId) as string, paidAt: new Date(trade.paidAt as string) }
  }
  const toSecond = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000)
  const day = chinaToday()

  for (const provider of ['alipay', 'wechat'] as const) {
    await t.test(`${provider}: today's payments and refunds in fen, with fees; unpaid trades absent`, async (t) => {
      const p = providers[provider]
      const a = await paidTrade(provider, 2500)
      const b = await paidTrade(provider, 990)
      const unpaid = await paidTrade(provider, 100, false)
      const refundNo = `R${a.outTradeNo}`.slice(0, 64)
      t.match(await p.refund({ outTradeNo: a.outTradeNo, refundNo, amount: 500, reason: '部分退款' }), { state: 'SUCCEEDED' })

      const rows = await p.fetchBill!(day)
      t.equal(rows.length, 3)
      t.notOk(
        rows.some((r) => r.outTradeNo === unpaid.outTradeNo),
        'the unpaid trade is not in the bill',
      )
      const find = (kind: string, no: string) => rows.find((r) => r.kind === kind && r.outTradeNo === no)!
      t.same(find('PAYMENT', a.outTradeNo), {
        kind: 'PAYMENT',
        outTradeNo: a.outTradeNo,
        tradeNo: a.tradeNo,
        amount: 2500,
        fee: 15,
        refundNo: null,
        time: toSecond(a.paidAt!),
        providerStatus: provider === 'alipay' ? '交易' : 'SUCCESS',
      })
      t.match(find('PAYMENT', b.outTradeNo), { amount: 990, fee: 6, tradeNo: b.tradeNo, time: toSecond(b.paidAt!) })
      const refund = find('REFUND', a.outTradeNo)
      t.match(refund, { amount: 500, fee: -3, refundNo, tradeNo: a.tradeNo, providerStatus: provider === 'alipay' ? '退款' : 'REFUND' })
      t.ok(refund.time.getTime() >= toSecond(a.paidAt!).getTime() && refund.time.getTime() <= Date.now())

      await control('POST', `/control/${provider}/trades/${b.outTradeNo}/bill-amount`, { amount: 1090 })
      t.match(
        (await p.fetchBill!(day)).find((r) => r.outTradeNo === b.outTradeNo),
        { kind: 'PAYMENT', amount: 1090, fee: 7 },
        'the bill shows the overridden amount',
      )
      await control('POST', `/control/${provider}/trades/${b.outTradeNo}/bill-amount`, { amount: null })
      t.match(
        (await p.fetchBill!(day)).find((r) => r.outTradeNo === b.outTradeNo),
        { amount: 990 },
      )
    })

    await t.test(`${provider}: every fault maps to its BillError reason; none restores the bill`, async (t) => {
      const p = providers[provider]
      const name = names[provider]
      t.teardown(() => fault(provider, 'none'))
      const cases: [string, BillError['reason']][] = [
        ['download-error', 'UNAVAILABLE'],
        ['query-error', 'UNAVAILABLE'],
        ['corrupt', 'MALFORMED'],
        ['bad-signature', 'VERIFICATION_FAILED'],
        ...(provider === 'wechat' ? ([['hash-mismatch', 'VERIFICATION_FAILED']] as [string, BillError['reason']][]) : []),
      ]
      for (const [mode, reason] of cases) {
        await fault(provider, mode)
        t.comment(`${provider} ${mode}`)
        await rejectsBill(t, () => p.fetchBill!(day), name, reason)
      }
      await fault(provider, 'none')
      t.equal((await p.fetchBill!(day)).length, 3)
    })

    await t.test(`${provider}: a finished day without trades is empty; a future or invalid day is unavailable`, async (t) => {
      const p = providers[provider]
      t.same(await p.fetchBill!('2024-05-01'), [])
      await rejectsBill(t, () => p.fetchBill!('2999-01-01'), names[provider], 'UNAVAILABLE')
      await rejectsBill(t, () => p.fetchBill!('2024-13-01'), names[provider], 'UNAVAILABLE', /日期/)
    })
  }

  await t.test('wechat: nothing listening at WECHAT_BASE_URL → UNAVAILABLE', async (t) => {
    const down = createWechatProvider(loadConfig({ ...env.pay, WECHAT_BASE_URL: 'http://127.0.0.1:9' }).wechat!, opts)
    await rejectsBill(t, () => down.fetchBill!(day), 'WECHAT_PAY', 'UNAVAILABLE')
  })
})
