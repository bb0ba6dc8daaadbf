/**
 * Provider bills as they really come: rows quoted from public sources (each fixture names its
 * source; values are kept byte for byte, ids and anonymisation included), through pay's parsers
 * and comparer. Then the five cases real bills broke: WeChat refunds dated at acceptance with
 * 退款状态 read, WeChat's four layouts, amounts past @paysys/money's cap, a bare comma in an
 * Alipay 商品名称, and fees on the provider's fee base. Rows marked "derived" are a quoted row with
 * the named values changed.
 */
import t from 'tap'
import { parseAlipayBillDetail } from '../src/providers/alipay/bill.ts'
import { parseWechatBill } from '../src/providers/wechat/bill.ts'
import { compareBill, type LocalAttempt, type LocalRefund } from '../src/reconciliation/compare.ts'
import { BillError, type BillRow } from '../src/reconciliation/types.ts'

const cst = (s: string) => new Date(`${s.replace(' ', 'T')}+08:00`)
const lines = (...l: string[]) => [...l, ''].join('\r\n')

// ---- WeChat ----

const V3_ALL_HEADER =
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'
const V3_TOTALS = '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额'

/** ALL, 27 columns. Source: github.com/gunsluo/wechatpay-go, helper_test.go (mockDataWithDownloadFile, bill_type ALL), a v3 tradebill file of merchant 1601959334. */
const WECHATPAY_GO_ALL = lines(
  V3_ALL_HEADER,
  '`2021-01-28 17:07:11,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000925202101284997714292,`S20210128170702357723,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`',
  '`2021-01-28 15:35:18,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000910202101282955148400,`S20210128153505214586,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`',
  '`2021-01-28 16:59:46,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000926202101281412639609,`S20210128165824499930,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`',
  V3_TOTALS,
  '`3,`0.03,`0.00,`0.00,`0.00000,`0.03,`0.00',
)

/** REFUND, 29 columns. Source: github.com/gunsluo/wechatpay-go, tradebill_test.go (RefundBill case), same merchant. */
const WECHATPAY_GO_REFUND = lines(
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注',
  '`2021-01-24 16:16:25,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000844202101245866928772,`S20210124161554311546,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`2021-02-01 14:33:21,`2021-02-01 14:33:24,`50300807172021020106006664916,`S20210201143320649393,`0.01,`0.00,`ORIGINAL,`SUCCESS,`for testing,`cipher code,`0.00000,`1.00%,`0.00,`0.01,`',
  '`2021-01-19 16:31:18,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000846202101197461830397,`S20210119083100844726118382,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`2021-02-01 14:00:45,`2021-02-01 14:00:50,`50300907032021020105978998710,`S20210201140044552846,`0.01,`0.00,`ORIGINAL,`SUCCESS,`Package Venue,`,`0.00000,`1.00%,`0.00,`0.01,`',
  V3_TOTALS,
  '`2,`0.00,`0.02,`0.00,`0.00000,`0.00,`0.02',
)

/**
 * SUCCESS, 20 columns. Source: github.com/binarywang/WxJava, weixin-java-pay WxPayBillResultTest
 * (PAY_BILL_RESULT_SUCCESS_CONTENT; anonymised by WxJava). Its fixture keeps one of 31 rows, so the
 * totals line here is ours, with the 4 totals WeChat's format page gives the SUCCESS bill.
 */
const WXJAVA_SUCCESS = lines(
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注',
  '`2019-07-23 18:46:41,`XXXX,`XXX,`XXX,`,`XXX,`XXX,`XXX,`JSAPI,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`XXX,`XXXX,`0.00000,`0.60%,`0.01,`',
  '总交易单数,应结订单总金额,手续费总金额,订单总金额',
  '`1,`0.01,`0.00000,`0.01',
)

/**
 * The early layout, ALL, 24 columns: a whole day (2018-05-07) of merchant 1488511392, refund row
 * first. Source: a public GitHub project's WeixinUtil.java (package com.summ.mnas.utils, comment in
 * weiXinOrderQuery: "返回结果示例").
 */
const LEGACY_ROWS = [
  '`2018-05-07 10:54:45,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000113201805074559498485,`152566112349603496538,`oOmPo0-gjIhFsT3WRFvL5l_iOtok,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`50000506642018050704485755976,`484316432018050745594984851525661661,`0.02,`0.00,`ORIGINAL,`SUCCESS,`家有官家--扫码充值,`3496--32,`0.00000,`0.60%',
  '`2018-05-07 10:45:37,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000113201805074559498485,`152566112349603496538,`oOmPo0-gjIhFsT3WRFvL5l_iOtok,`NATIVE,`SUCCESS,`CFT,`CNY,`0.02,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`3496--32,`0.00000,`0.60%',
  '`2018-05-07 10:50:09,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000120201805074525206991,`1525661389973034968085,`oOmPo0-gjIhFsT3WRFvL5l_iOtok,`NATIVE,`SUCCESS,`CFT,`CNY,`0.03,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`3496--32,`0.00000,`0.60%',
  '`2018-05-07 17:08:34,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000121201805074782619515,`050717082815022,`oOmPo01XvctZOVPBB18wO0yrjVO4,`APP,`SUCCESS,`CFT,`CNY,`1000.00,`0.00,`0,`0,`0.00,`0.00,`,`,`余额充值,`2414-何嘉-13122828856-长寿路店,`6.00000,`0.60%',
  '`2018-05-07 09:15:36,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000124201805074008280074,`152565572473204622142,`oOmPo0xSwKp0ThSMG5tyut3xW008,`NATIVE,`SUCCESS,`CFT,`CNY,`400.00,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`4622--161,`2.40000,`0.60%',
  '`2018-05-07 09:27:25,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000126201805074357341528,`1525656429469008589548,`oOmPo0zBBc6qttMNAKUv0muubK9Y,`NATIVE,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`858--34,`0.00000,`0.60%',
  '`2018-05-07 10:41:09,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000129201805074414966070,`1525660847944034968827,`oOmPo0-gjIhFsT3WRFvL5l_iOtok,`NATIVE,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`3496--32,`0.00000,`0.60%',
  '`2018-05-07 09:28:27,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000129201805074505137945,`1525656496782046222532,`oOmPo0xSwKp0ThSMG5tyut3xW008,`NATIVE,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`4622--161,`0.00000,`0.60%',
  '`2018-05-07 09:21:46,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000130201805074448612378,`1525656090484008234429,`oOmPo0zBBc6qttMNAKUv0muubK9Y,`NATIVE,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`823--34,`0.00000,`0.60%',
  '`2018-05-07 10:38:47,`wx1024cb31dfbae7cc,`1488511392,`0,`,`4200000132201805074503706681,`1525660710228010479040,`oOmPo0yIRnnXO4TqobyqiTSDKHfQ,`NATIVE,`SUCCESS,`CFT,`CNY,`1000.00,`0.00,`0,`0,`0.00,`0.00,`,`,`家有官家--扫码充值,`1047--144,`6.00000,`0.60%',
]
const LEGACY_HEADER =
  '交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率'
const LEGACY_TOTALS = '总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额'
const legacyAll = (rows = LEGACY_ROWS) =>
  lines(LEGACY_HEADER, ...rows, LEGACY_TOTALS, `\`${rows.length},\`2400.09,\`0.02,\`0.00,\`14.40000`)

/**
 * The early layout, REFUND, 26 columns (退款申请时间 / 退款成功时间). Source: a public GitHub test of a
 * payment channel module (qdingnet, responseFefundData), merchant 1510598081, sub-merchant 1511458511.
 */
const LEGACY_REFUND = lines(
  '交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率',
  '`2018-08-20 14:40:09,`wx34723380b2d8a699,`1510598081,`1511458511,`,`4200000145201808202300523655,`2018082010,`oDodT0XcpFfrHVR9Kc_VgpFOj8lQ,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`2018-08-21 18:13:10,`2018-08-21 18:13:12,`50000707812018082106030155182,`1012413262018082023005236551534846383,`0.01,`0.00,`ORIGINAL,`SUCCESS,`微信下单单元测试-2,`,`0.00000,`1.00%',
  '`2018-08-20 16:38:50,`wx34723380b2d8a699,`1510598081,`1511458511,`,`4200000153201808209352891155,`2018082012,`oDodT0XcpFfrHVR9Kc_VgpFOj8lQ,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`2018-08-21 18:11:13,`2018-08-21 18:11:15,`50000307952018082106030149502,`1012413262018082093528911551534846254,`0.01,`0.00,`ORIGINAL,`SUCCESS,`微信下单开发环境测试,`,`0.00000,`1.00%',
  '`2018-08-20 16:33:51,`wx34723380b2d8a699,`1510598081,`1511458511,`,`4200000158201808206112598907,`2018082011,`oDodT0XcpFfrHVR9Kc_VgpFOj8lQ,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`2018-08-21 18:12:37,`2018-08-21 18:12:38,`50000307862018082106030153581,`1012413262018082061125989071534846349,`0.01,`0.00,`ORIGINAL,`SUCCESS,`微信下单开发环境测试,`,`0.00000,`1.00%',
  LEGACY_TOTALS,
  '`3,`0.00,`0.03,`0.00,`0.00000',
)

t.test('wechat ALL (27 columns, wechatpay-go): three payments in fen', async (t) => {
  const rows = parseWechatBill(WECHATPAY_GO_ALL)
  t.same(rows[0], {
    kind: 'PAYMENT',
    outTradeNo: 'S20210128170702357723',
    tradeNo: '4200000925202101284997714292',
    amount: 1,
    fee: 0,
    refundNo: null,
    time: cst('2021-01-28 17:07:11'),
    providerStatus: 'SUCCESS',
  })
  t.same(
    rows.map((r) => [r.kind, r.outTradeNo, r.amount]),
    [
      ['PAYMENT', 'S20210128170702357723', 1],
      ['PAYMENT', 'S20210128153505214586', 1],
      ['PAYMENT', 'S20210128165824499930', 1],
    ],
  )
  t.same(parseWechatBill(`\uFEFF${WECHATPAY_GO_ALL.replace(/\r\n/g, '\n')}`), rows, 'with a BOM and LF line ends')
})

t.test('wechat REFUND (29 columns, wechatpay-go): refunds dated by 退款申请时间, not the payment’s 交易时间', async (t) => {
  const rows = parseWechatBill(WECHATPAY_GO_REFUND)
  t.same(rows[0], {
    kind: 'REFUND',
    outTradeNo: 'S20210124161554311546',
    tradeNo: '4200000844202101245866928772',
    amount: 1,
    fee: 0,
    refundNo: 'S20210201143320649393',
    time: cst('2021-02-01 14:33:21'),
    providerStatus: 'REFUND',
    refundState: 'SUCCEEDED',
    refundStatus: 'SUCCESS',
  })
  t.same(
    rows.map((r) => [r.refundNo, r.time.toISOString()]),
    [
      ['S20210201143320649393', cst('2021-02-01 14:33:21').toISOString()],
      ['S20210201140044552846', cst('2021-02-01 14:00:45').toISOString()],
    ],
  )
})

t.test('wechat SUCCESS (20 columns, WxJava): no refund columns needed', async (t) => {
  t.same(parseWechatBill(WXJAVA_SUCCESS), [
    {
      kind: 'PAYMENT',
      outTradeNo: 'XXX',
      tradeNo: 'XXX',
      amount: 1,
      fee: 0,
      refundNo: null,
      time: cst('2019-07-23 18:46:41'),
      providerStatus: 'SUCCESS',
    },
  ])
  // A REFUND row in a layout without refund columns cannot be read: MALFORMED, not a guess.
  const refundIn = WXJAVA_SUCCESS.replace('`JSAPI,`SUCCESS', '`JSAPI,`REFUND')
  t.throws(() => parseWechatBill(refundIn), { reason: 'MALFORMED', message: /商户退款单号/ })
})

t.test('wechat early layout (24 columns, a real day of 2018): 总金额 and 退款金额 read, totals agree', async (t) => {
  const rows = parseWechatBill(legacyAll())
  t.equal(rows.length, 10)
  const payments = rows.filter((r) => r.kind === 'PAYMENT')
  t.equal(
    payments.reduce((a, r) => a + r.amount, 0),
    240009,
    '总交易额 2400.09',
  )
  t.equal(
    rows.reduce((a, r) => a + r.fee, 0),
    1440,
    '手续费总金额 14.40000',
  )
  t.same(rows[0], {
    kind: 'REFUND',
    outTradeNo: '152566112349603496538',
    tradeNo: '4200000113201805074559498485',
    amount: 2,
    fee: 0,
    refundNo: '484316432018050745594984851525661661',
    // Its payment is at 10:45:37; 10:54:45 is the refund's (acceptance) time.
    time: cst('2018-05-07 10:54:45'),
    providerStatus: 'REFUND',
    refundState: 'SUCCEEDED',
    refundStatus: 'SUCCESS',
  })
  t.match(
    rows.find((r) => r.outTradeNo === '050717082815022'),
    { kind: 'PAYMENT', amount: 100000, fee: 600 },
  )
  t.notOk(
    rows.some((r) => 'feeBase' in r),
    '总金额 is the fee base: nothing separate',
  )

  const refunds = parseWechatBill(LEGACY_REFUND)
  t.same(
    refunds.map((r) => [r.refundNo, r.amount, r.time.toISOString(), r.refundState]),
    [
      ['1012413262018082023005236551534846383', 1, cst('2018-08-21 18:13:10').toISOString(), 'SUCCEEDED'],
      ['1012413262018082093528911551534846254', 1, cst('2018-08-21 18:11:13').toISOString(), 'SUCCEEDED'],
      ['1012413262018082061125989071534846349', 1, cst('2018-08-21 18:12:37').toISOString(), 'SUCCEEDED'],
    ],
    'early REFUND layout (26 columns): dated by 退款申请时间',
  )
})

// ---- Alipay ----

const ALIPAY_HEADER =
  '支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注'

/**
 * 业务明细 of 2019-09-16, account 20880211096256330156, with refunds. Source: a public GitHub test,
 * AlipayGeneralPaymentHandlerTest.java (package com.payment.alipay.junit, qdingnet), alipayBill().
 */
const ALIPAY_2019_ROWS = [
  '2019091622001458860515315453\t,service_1568601259302\t,交易\t,下单测试,2019-09-16 10:55:16,2019-09-16 10:55:23,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,下单测试',
  '2019091622001458860515315453\t,service_1568601259302\t,退款\t,下单测试,2019-09-16 10:55:16,2019-09-16 10:56:48,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,-0.01,-0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,re_test_1568602607356\t,0.00,0.00,下单测试',
  '2019091622001458860513822558\t,service_1568603173853\t,交易\t,下单测试,2019-09-16 11:07:03,2019-09-16 11:07:09,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,下单测试',
  '2019091622001458860513822558\t,service_1568603173853\t,退款\t,下单测试,2019-09-16 11:07:03,2019-09-16 11:26:55,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,-0.01,-0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,re_test_1568604414433\t,0.00,0.00,下单测试',
  '2019091622001458860516395930\t,service_1568613406000\t,交易\t,下单测试,2019-09-16 13:57:42,2019-09-16 13:57:52,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,下单测试',
  '2019091622001458860516395930\t,service_1568613406000\t,退款\t,下单测试,2019-09-16 13:57:42,2019-09-16 14:15:12,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,-0.01,-0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,re_test_1568614511552\t,0.00,0.00,下单测试',
  '2019091622001458860516993488\t,qd_201909161455139634Sjad2vy\t,交易\t,RPC_GENERAL接口测试,2019-09-16 14:56:35,2019-09-16 14:57:19,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,RPC_GENERAL接口测试',
  '2019091622001458860516993488\t,qd_201909161455139634Sjad2vy\t,退款\t,RPC_GENERAL接口测试,2019-09-16 14:56:35,2019-09-16 15:00:38,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,-0.01,-0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,re_20190916150216125q8Lmiodp\t,0.00,0.00,RPC_GENERAL接口测试',
  '2019091622001465870515233238\t,20190916165659224L3VUQRL9\t,交易\t,千丁订单INSURANCE88100011909161658423172,2019-09-16 16:58:56,2019-09-16 16:58:58,\t,\t,\t,\t,*庚辰(182****01)\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,',
  '2019091622001458860517860493\t,qd_201909161844073417CB0wPzR\t,交易\t,RPC_GENERAL接口测试,2019-09-16 18:43:06,2019-09-16 18:43:34,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,RPC_GENERAL接口测试',
]
function alipay2019(
  rows = ALIPAY_2019_ROWS,
  footer = ['#交易合计：6笔，商家实收共0.06元，商家优惠共0.00元', '#退款合计：4笔，商家实收退款共-0.04元，商家优惠退款共0.00元'],
) {
  return [
    '#支付宝业务明细查询',
    '#账号：[20880211096256330156]',
    '#起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]',
    '#-----------------------------------------业务明细列表----------------------------------------',
    ALIPAY_HEADER,
    ...rows,
    '#-----------------------------------------业务明细列表结束------------------------------------',
    ...footer,
    '#导出时间：[2019年09月17日 05:46:49]',
    '',
  ].join('\n')
}

/**
 * Two rows of 2017-08-31, account 20885212319120680156 (备注 with spaces and a colon). Source: a
 * public GitHub project's Alipay bill service, comment above parseText(); markers and footer ours.
 */
const ALIPAY_2017_ROWS = [
  '2017083121001004720299453898\t,cd6ece976b514130977cb06048359684\t,交易\t,支付宝APP支付,2017-08-31 00:06:14,2017-08-31 00:06:15,\t,\t,\t,\t,*杨(137****2600)\t,20.00,20.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,挂号付费-XXX医院 XX xxxxx 2017-09-01 10:30-11:00 订单编号：71676691',
  '2017083121001004900267628590\t,02d2e6d6cf524395b8799b5d97d521d6\t,交易\t,支付宝APP支付,2017-08-31 00:06:16,2017-08-31 00:06:17,\t,\t,\t,\t,*杨(137****2600)\t,20.00,20.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,挂号付费-XXX医院 XX xxxxx 2017-09-06 10:30-11:00 订单编号：72840250',
]

t.test('alipay 业务明细 of 2019 with refunds: refunds positive, numbered, dated by 完成时间; the 2017 rows too', async (t) => {
  const rows = parseAlipayBillDetail(alipay2019())
  t.equal(rows.length, 10)
  t.same(rows[1], {
    kind: 'REFUND',
    outTradeNo: 'service_1568601259302',
    tradeNo: '2019091622001458860515315453',
    amount: 1,
    fee: 0,
    refundNo: 're_test_1568602607356',
    time: cst('2019-09-16 10:56:48'),
    providerStatus: '退款',
  })
  t.same(
    rows.filter((r) => r.kind === 'REFUND').map((r) => r.refundNo),
    ['re_test_1568602607356', 're_test_1568604414433', 're_test_1568614511552', 're_20190916150216125q8Lmiodp'],
  )
  t.equal(rows.filter((r) => r.kind === 'PAYMENT').length, 6)

  const y2017 = parseAlipayBillDetail(alipay2019(ALIPAY_2017_ROWS, ['#交易合计：2笔']))
  t.same(
    y2017.map((r) => [r.outTradeNo, r.amount, r.fee, r.time.toISOString()]),
    [
      ['cd6ece976b514130977cb06048359684', 2000, 0, cst('2017-08-31 00:06:15').toISOString()],
      ['02d2e6d6cf524395b8799b5d97d521d6', 2000, 0, cst('2017-08-31 00:06:17').toISOString()],
    ],
  )
})

// ---- the five cases ----

const at = new Date('2026-11-21T10:00:00+08:00')
const attempt = (over: Partial<LocalAttempt> = {}): LocalAttempt => ({
  id: 'a1',
  orderNo: 'P1',
  outTradeNo: 'P1',
  provider: 'WECHAT_PAY',
  amount: 10000,
  status: 'PAID',
  tradeNo: 'T1',
  paidAt: at,
  ...over,
})
const refund = (over: Partial<LocalRefund> = {}): LocalRefund => ({
  refundNo: 'R1',
  outTradeNo: 'P1',
  amount: 300,
  status: 'SUCCEEDED',
  refundedAt: at,
  ...over,
})
const compare = (rows: BillRow[], refunds: LocalRefund[], refundedOnDay: LocalRefund[] = [], attempts: LocalAttempt[] = []) =>
  compareBill({ provider: 'WECHAT_PAY', rows, attempts, refunds, paidOnDay: attempts, refundedOnDay, feeRate: 0.006 })

/** The 2018 legacy refund row (derived: 退款状态 as given). */
const legacyRefundWith = (status: string) =>
  parseWechatBill(
    legacyAll([LEGACY_ROWS[0]!.replace('`ORIGINAL,`SUCCESS', `\`ORIGINAL,\`${status}`)]).replace('`1,`2400.09', '`1,`0.00'),
  )[0]!

t.test(
  'case 1: WeChat refund rows dated at acceptance, 退款状态 read; local refunds matched by number, expected by acceptance',
  async (t) => {
    const processing = legacyRefundWith('PROCESSING')
    t.match(processing, { refundState: 'PROCESSING', refundStatus: 'PROCESSING', time: cst('2018-05-07 10:54:45') })
    t.match(legacyRefundWith('REFUNDCLOSE'), { refundState: 'FAILED' })
    t.match(legacyRefundWith('CHANGE'), { refundState: 'FAILED' })
    t.match(legacyRefundWith('ABNORMAL'), { refundState: 'FAILED' })

    const row: BillRow = { ...processing, outTradeNo: 'P1', refundNo: 'R1', amount: 300 }
    // Accepted on the bill's day, succeeded the next: the bill still says PROCESSING — not a difference.
    const done = compare([row], [refund({ refundedAt: new Date(at.getTime() + 86_400_000) })])
    t.same(done.differences, [])
    t.equal(done.matched, 1)
    // Failed since: a difference a person has to look at.
    const failed = compare([row], [refund({ status: 'FAILED', refundedAt: null })])
    t.match(failed.differences, [
      { class: 'REFUND_MISMATCH', refundNo: 'R1', billStatus: 'REFUND/PROCESSING', localStatus: 'FAILED', detail: /失败/ },
    ])
    // Still in progress on both sides: not done — shown until a later run of the day sees how it ended.
    t.match(compare([row], [refund({ status: 'PENDING', refundedAt: null })]).differences, [
      { class: 'REFUND_MISMATCH', billStatus: 'REFUND/PROCESSING', localStatus: 'PENDING', detail: /处理中/ },
    ])
    // The bill says it failed while we hold it refunded.
    t.match(compare([{ ...row, refundState: 'FAILED', refundStatus: 'ABNORMAL' }], [refund()]).differences, [
      { class: 'REFUND_MISMATCH', billStatus: 'REFUND/ABNORMAL', localStatus: 'SUCCEEDED' },
    ])
    // Not listed though we asked for it that day (pending or done) → a difference; listed → none.
    t.match(compare([], [], [refund({ status: 'PENDING', refundedAt: null })]).differences, [
      { class: 'REFUND_MISMATCH', localStatus: 'PENDING', detail: /渠道账单没有此退款/ },
    ])
  },
)

t.test('case 2: every WeChat layout parses to the same kind of rows (above); a header of none of them is MALFORMED', async (t) => {
  const counts = [WECHATPAY_GO_ALL, WECHATPAY_GO_REFUND, WXJAVA_SUCCESS, legacyAll(), LEGACY_REFUND].map((text) => [
    text.split('\r\n')[0]!.split(',').length,
    parseWechatBill(text).length,
  ])
  t.same(counts, [
    [27, 3],
    [29, 2],
    [20, 1],
    [24, 10],
    [26, 3],
  ])
  t.throws(() => parseWechatBill(legacyAll().replace(',总金额,', ',金额,')), { reason: 'MALFORMED', message: /订单金额/ })
})

t.test('case 3: an amount past @paysys/money’s cap is the provider’s word: parsed, not a MALFORMED day', async (t) => {
  // Derived from the first 2019 row: 1,200,000.00 yuan.
  const big = ALIPAY_2019_ROWS[0]!.replace('\t,0.01,0.01,', '\t,1200000.00,1200000.00,')
  const rows = parseAlipayBillDetail(alipay2019([big], ['#交易合计：1笔']))
  t.match(rows, [{ kind: 'PAYMENT', amount: 120_000_000 }])
  // Derived from the 2018 WeChat day: a 90 071 992 547 409.91 yuan payment is the largest exact one.
  const huge = LEGACY_ROWS[3]!.replace('`1000.00,`0.00', '`90071992547409.91,`0.00')
  t.match(parseWechatBill(legacyAll([huge]).replace('`1,`2400.09', '`1,`0.00')), [{ amount: Number.MAX_SAFE_INTEGER }])
  const tooBig = LEGACY_ROWS[3]!.replace('`1000.00,`0.00', '`90071992547409.92,`0.00')
  t.throws(() => parseWechatBill(legacyAll([tooBig])), BillError, 'beyond exact fen: MALFORMED, not a rounded number')
})

t.test('case 4: a comma in an unquoted Alipay 商品名称 (or 备注) is aligned by the header; quoted, the same row', async (t) => {
  const expected = parseAlipayBillDetail(alipay2019([ALIPAY_2019_ROWS[0]!], ['#交易合计：1笔']))
  const bare = ALIPAY_2019_ROWS[0]!.replace('\t,下单测试,2019', '\t,下单,测试,2019')
  const quoted = ALIPAY_2019_ROWS[0]!.replace('\t,下单测试,2019', '\t,"下单,测试",2019')
  const twoCommas = ALIPAY_2019_ROWS[0]!.replace('\t,下单测试,2019', '\t,下单,测试,套餐,2019').replace(/,下单测试$/, ',备注,有逗号')
  for (const [name, row] of [
    ['bare', bare],
    ['quoted', quoted],
    ['in the name and in 备注', twoCommas],
  ] as const) {
    const rows = parseAlipayBillDetail(alipay2019([row], ['#交易合计：1笔']))
    t.same(rows, expected, name)
  }
  // What cannot be aligned stays MALFORMED (no two times after the name).
  const broken = ALIPAY_2019_ROWS[0]!.replace('\t,下单测试,2019-09-16 10:55:16,2019', '\t,下单,测试,x,2019')
  t.throws(() => parseAlipayBillDetail(alipay2019([broken], [])), { reason: 'MALFORMED', message: /列/ })
})

t.test('case 5: fees on the provider’s fee base — WeChat 应结订单金额 (less 免充值券), Alipay 商家实收; 服务费 by magnitude', async (t) => {
  // Derived from the first wechatpay-go row: 订单金额 100.00 with a 20.00 免充值券 → 应结订单金额 80.00, 手续费 0.48000 (0.6 %).
  const couponRow = WECHATPAY_GO_ALL.split('\r\n')[1]!.replace(
    '`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`',
    '`80.00,`20.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.48000,`0.60%,`100.00,`0.00,`',
  )
  const [row] = parseWechatBill(lines(V3_ALL_HEADER, couponRow, V3_TOTALS, '`1,`80.00,`0.00,`0.00,`0.48000,`100.00,`0.00'))
  t.match(row, { amount: 10000, feeBase: 8000, fee: 48 })
  const local = attempt({ outTradeNo: row!.outTradeNo, tradeNo: row!.tradeNo })
  const r = compare([row!], [], [], [local])
  t.same(r.differences, [], 'no FEE_MISMATCH: 0.6 % of 80.00')
  t.equal(r.matched, 1)
  t.match(
    compare([{ ...row!, feeBase: undefined }], [], [], [local]).differences,
    [{ class: 'FEE_MISMATCH' }],
    'on 订单金额 it would be one',
  )
  t.throws(
    () => parseWechatBill(lines(V3_ALL_HEADER, couponRow.replace('`80.00,`20.00', '`180.00,`20.00'), V3_TOTALS, '`1,`0,`0,`0,`0,`0,`0')),
    {
      reason: 'MALFORMED',
      message: /应结订单金额/,
    },
  )

  // Alipay (derived from the 2019 row): 订单金额 100.00, 商家优惠 20.00, 商家实收 80.00, 服务费 -0.48 or 0.48.
  const alipayRow = (fee: string) =>
    ALIPAY_2019_ROWS[0]!
      .replace('\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,', '\t,100.00,80.00,0.00,0.00,0.00,20.00,0.00,')
      .replace(',\t,0.00,0.00,下单测试', `,\t,${fee},0.00,下单测试`)
  for (const fee of ['-0.48', '0.48']) {
    const [a] = parseAlipayBillDetail(alipay2019([alipayRow(fee)], ['#交易合计：1笔']))
    t.match(a, { amount: 10000, feeBase: 8000, fee: 48 }, `服务费 ${fee}: charged 0.48`)
  }
  const refundRow = ALIPAY_2019_ROWS[1]!.replace(',re_test_1568602607356\t,0.00,', ',re_test_1568602607356\t,-0.01,')
  t.match(
    parseAlipayBillDetail(alipay2019([refundRow], ['#退款合计：1笔'])),
    [{ kind: 'REFUND', fee: -1 }],
    'given back on a refund, whatever the sign',
  )
})
