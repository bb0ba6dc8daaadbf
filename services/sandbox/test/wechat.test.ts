/**
 * The WeChat Pay v3 sandbox, refereed by wechatpay-node-v3: the SDK's signed requests are
 * accepted, its `verifySign` accepts the sandbox's response and notify signatures over the raw
 * body, it decrypts /v3/certificates; anything tampered with is refused.
 */
import t from 'tap'
import { createDecipheriv, createVerify, randomBytes } from 'node:crypto'
import { generateDevKeys } from '@paysys/devkit'
import { ConfigError } from '@paysys/config'
import { loadConfig } from '../src/config.ts'
import { WECHAT_RETRY_SCHEDULE_MS, wechatScaledSchedule } from '../src/wechat/notify.ts'
import { parseAuthorization, verifyMerchantRequest } from '../src/wechat/signing.ts'
import { controlJson, countButtons, getManual, postForm, sleep } from './fixtures/harness.ts'
import { decryptChecked, startWechatReceiver, startWechatSandbox, wechatClient, wechatEnv } from './fixtures/wechat.ts'

let seq = 0
const orderNo = () => `P${Date.now()}${randomBytes(4).toString('hex').toUpperCase()}${seq++}`

t.test('config: all six SANDBOX_WECHAT_* or none; the platform key must match its certificate', async (t) => {
  const keys = generateDevKeys()
  const base = { DATABASE_URL: 'postgres://x/y' }
  t.equal(loadConfig(base).wechat, null)
  const full = loadConfig({ ...base, ...wechatEnv(keys) }).wechat!
  t.equal(full.mchId, keys.wechat.mchId)
  t.throws(() => loadConfig({ ...base, SANDBOX_WECHAT_APPID: keys.wechat.appId }), ConfigError)
  const mismatched = { ...wechatEnv(keys), SANDBOX_WECHAT_PLATFORM_PRIVATE_KEY: keys.wechat.merchantPrivateKey }
  t.throws(() => loadConfig({ ...base, ...mismatched }), /not the certificate of/)
  t.throws(() => loadConfig({ ...base, ...wechatEnv(keys), SANDBOX_WECHAT_APIV3_KEY: 'short' }), /32 characters/)
})

t.test('signing unit: Authorization parsing and the request window', async (t) => {
  t.equal(parseAuthorization('Bearer x'), null)
  t.equal(parseAuthorization('WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="1",serial_no="S"'), null, 'signature missing')
  t.same(parseAuthorization('WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="2",serial_no="S",signature="sig"'), {
    mchid: '1',
    nonce_str: 'n',
    timestamp: '2',
    serial_no: 'S',
    signature: 'sig',
  })
  t.equal(parseAuthorization('WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",timestamp="2",serial_no="S",signature="s"'), null)
  t.same(wechatScaledSchedule({ timeFactor: 0.01, minRetryMs: 200 }).slice(0, 4), [200, 200, 300, 1800])
  t.equal(WECHAT_RETRY_SCHEDULE_MS.length, 15)
  const keys = generateDevKeys().wechat
  const pay = wechatClient('http://127.0.0.1:9', keys).pay
  const nonce = 'abc'
  const ts = String(Math.floor(Date.now() / 1000) - 600)
  const signature = pay.getSignature('GET', nonce, ts, '/v3/certificates')
  const { X509Certificate } = await import('node:crypto')
  const cert = new X509Certificate(keys.merchantCert)
  const check = verifyMerchantRequest(
    { method: 'GET', url: '/v3/certificates', authorization: pay.getAuthorization(nonce, ts, signature), body: '' },
    { mchId: keys.mchId, merchantSerial: cert.serialNumber, merchantPublic: cert.publicKey },
  )
  t.match(check, { ok: false, message: /时间戳/ }, 'a 10-minute-old request is refused')
})

t.test('WeChat Pay sandbox', async (t) => {
  const sbx = await startWechatSandbox()
  t.teardown(() => sbx.close())
  const receiver = await startWechatReceiver()
  t.teardown(() => receiver.close())
  const keys = sbx.keys.wechat
  const client = wechatClient(sbx.base, keys)
  const { pay } = client
  const notifyPath = (p: string) => receiver.url(`/notify/${p}`)

  const native = (no: string, total = 2500, path = 'n') =>
    pay.transactions_native({
      description: '积分充值 500 积分',
      out_trade_no: no,
      notify_url: notifyPath(path),
      amount: { total, currency: 'CNY' },
    })

  await t.test(
    'native: the SDK-signed request is accepted; the answer verifies with verifySign (certificates fetched and decrypted by the SDK)',
    async (t) => {
      const no = orderNo()
      const res = await native(no)
      t.equal(res.status, 200, JSON.stringify(res))
      t.match(res.data.code_url, /^weixin:\/\/wxpay\/bizpayurl\?pr=[a-z0-9]{24}$/)
      const raw = client.last()
      t.equal(raw.headers['wechatpay-serial'], keys.platformCertSerial)
      t.ok(raw.headers['request-id'])
      t.equal(await client.verify(raw), true, 'response signature verified by the SDK')
      t.equal(await client.verify({ ...raw, text: raw.text.replace('pr=', 'pr=x') }), false, 'an altered body does not verify')

      // The same request again: the same code_url; another amount: refused.
      t.equal((await native(no)).data.code_url, res.data.code_url)
      const other = await native(no, 2600)
      t.equal(other.status, 400)
      t.match(JSON.parse(other.error), { code: 'INVALID_REQUEST' })
      t.equal(await client.verify(client.last()), true, 'error answers are signed too')

      // Scanning the code_url opens the cashier: exactly one 支付 and one 取消.
      const scan = await getManual(`${sbx.base}/scan?code=${encodeURIComponent(res.data.code_url)}`)
      t.equal(scan.status, 302)
      const cashierPath = scan.headers.get('location')!
      t.match(cashierPath, /^\/cashier\/wx_[a-z0-9]{24}$/)
      const page = await (await fetch(`${sbx.base}${cashierPath}`)).text()
      t.equal(countButtons(page, '支付'), 1)
      t.equal(countButtons(page, '取消'), 1)
      t.match(page, /微信支付/)
      t.match(page, /25\.00/)

      // Before payment: NOTPAY, no transaction_id.
      const before = await pay.query({ out_trade_no: no })
      t.match(before, {
        status: 200,
        data: { trade_state: 'NOTPAY', out_trade_no: no, mchid: keys.mchId, appid: keys.appId, amount: { total: 2500 } },
      })
      t.notOk(before.data.transaction_id)
      t.equal(await client.verify(client.last()), true)

      // 取消 leaves it payable; 支付 pays once and notifies.
      const cancel = await postForm(`${sbx.base}${cashierPath}/cancel`)
      t.equal(cancel.status, 200)
      t.match(await cancel.text(), /已取消/)
      const paid = await postForm(`${sbx.base}${cashierPath}/pay`)
      t.equal(paid.status, 200)
      t.match(await paid.text(), /支付成功/)
      const [n] = await receiver.waitFor('/notify/n', 1)
      t.equal(n!.headers['content-type'], 'application/json')
      t.equal(await client.verify(n!), true, 'notify signature verified by the SDK over the raw body')
      const body = JSON.parse(n!.text)
      t.match(body, {
        event_type: 'TRANSACTION.SUCCESS',
        resource_type: 'encrypt-resource',
        resource: { algorithm: 'AEAD_AES_256_GCM', original_type: 'transaction', associated_data: 'transaction' },
      })
      t.equal(body.resource.nonce.length, 12)
      const tx = JSON.parse(decryptChecked(body.resource, keys.apiV3Key))
      t.match(tx, {
        mchid: keys.mchId,
        appid: keys.appId,
        out_trade_no: no,
        trade_type: 'NATIVE',
        trade_state: 'SUCCESS',
        amount: { total: 2500, payer_total: 2500, currency: 'CNY' },
        payer: { openid: /^o/ },
        success_time: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/,
        transaction_id: /^\d{28}$/,
      })
      t.same(
        pay.decipher_gcm(body.resource.ciphertext, body.resource.associated_data, body.resource.nonce),
        tx,
        "the SDK's decipher agrees",
      )

      const after = await pay.query({ out_trade_no: no })
      t.match(after.data, { trade_state: 'SUCCESS', transaction_id: tx.transaction_id, amount: { total: 2500, payer_total: 2500 } })
      const byId = await pay.query({ transaction_id: tx.transaction_id })
      t.equal(byId.data.out_trade_no, no)
      t.equal((await native(no)).status, 400, 'a paid out_trade_no cannot be ordered again')
      t.match(JSON.parse(client.last().text), { code: 'ORDERPAID' })
      const again = await postForm(`${sbx.base}${cashierPath}/pay`)
      t.match(await again.text(), /已支付过/)
      await sleep(100)
      t.equal(receiver.received('/notify/n').length, 1, 'paying twice notifies once')
    },
  )

  await t.test(
    'anything not signed by the merchant key and certificate is 401 SIGN_ERROR, unsigned as WeChat answers requests it cannot verify',
    async (t) => {
      const other = generateDevKeys().wechat
      const cases = {
        'another private key': wechatClient(sbx.base, keys, { privateKey: other.merchantPrivateKey }),
        'another certificate serial': wechatClient(sbx.base, keys, { serial_no: other.merchantCertSerial }),
        'another mchid': wechatClient(sbx.base, keys, { mchid: '1900000109' }),
      }
      for (const [what, c] of Object.entries(cases)) {
        const res = await c.pay.transactions_native({
          description: 'x',
          out_trade_no: orderNo(),
          notify_url: notifyPath('x'),
          amount: { total: 1 },
        })
        t.equal(res.status, 401, what)
        t.match(JSON.parse(res.error), { code: 'SIGN_ERROR' }, what)
        t.equal(c.last().headers['wechatpay-signature'], undefined, `${what}: the error is not signed`)
      }
      // Body changed after signing.
      const no = orderNo()
      const params = {
        appid: keys.appId,
        mchid: keys.mchId,
        description: 'x',
        out_trade_no: no,
        notify_url: notifyPath('x'),
        amount: { total: 100 },
      }
      const nonce = 'n0nce'
      const ts = String(Math.floor(Date.now() / 1000))
      const sig = pay.getSignature('POST', nonce, ts, '/v3/pay/transactions/native', params)
      const headers = { 'content-type': 'application/json', authorization: pay.getAuthorization(nonce, ts, sig) }
      const tampered = await fetch(`${sbx.base}/v3/pay/transactions/native`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ ...params, amount: { total: 1 } }),
      })
      t.equal(tampered.status, 401)
      t.equal((await tampered.json()).code, 'SIGN_ERROR')
      const honest = await fetch(`${sbx.base}/v3/pay/transactions/native`, { method: 'POST', headers, body: JSON.stringify(params) })
      t.equal(honest.status, 200, 'the same signature over the real body is accepted')
      const unsigned = await fetch(`${sbx.base}/v3/pay/transactions/out-trade-no/${no}?mchid=${keys.mchId}`)
      t.equal(unsigned.status, 401)
      // The query string is signed as part of the URL.
      const q = await pay.query({ out_trade_no: no })
      t.equal(q.status, 200)
      const unknown = await pay.query({ out_trade_no: 'NOSUCHORDER1' })
      t.match(unknown, { status: 404 })
      t.match(JSON.parse(unknown.error), { code: 'ORDER_NOT_EXIST' })
      t.equal(await client.verify(client.last()), true)
    },
  )

  await t.test('jsapi: prepay_id, and the SDK signs the JSAPI parameters; openid is required', async (t) => {
    const no = orderNo()
    const res = await pay.transactions_jsapi({
      description: '商品',
      out_trade_no: no,
      notify_url: notifyPath('j'),
      amount: { total: 990 },
      payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
    })
    t.equal(res.status, 200, JSON.stringify(res))
    const prepayId = /"prepay_id":"([^"]+)"/.exec(client.last().text)![1]!
    t.match(res.data, { appId: keys.appId, package: `prepay_id=${prepayId}`, signType: 'RSA' })
    const signed = `${res.data.appId}\n${res.data.timeStamp}\n${res.data.nonceStr}\n${res.data.package}\n`
    t.ok(createVerify('RSA-SHA256').update(signed).verify(keys.merchantCert, res.data.paySign, 'base64'), 'paySign by the merchant key')
    t.equal(await client.verify(client.last()), true)
    const noOpenid = await pay.transactions_jsapi({
      description: 'x',
      out_trade_no: orderNo(),
      notify_url: notifyPath('j'),
      amount: { total: 1 },
      payer: {} as never,
    })
    t.equal(noOpenid.status, 400)
    t.match(JSON.parse(noOpenid.error), { code: 'PARAM_ERROR', message: /openid/ })
    // WeixinJSBridge stands in as /scan?code=<package>.
    const scan = await getManual(`${sbx.base}/scan?code=${encodeURIComponent(res.data.package)}`)
    t.equal(scan.status, 302)
    const paid = await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/pay`, {})
    t.equal(paid.status, 200)
    t.match(paid.json.trade, { tradeState: 'SUCCESS', tradeType: 'JSAPI', payerOpenid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' })
    const [n] = await receiver.waitFor('/notify/j', 1)
    t.match(JSON.parse(decryptChecked(JSON.parse(n!.text).resource, keys.apiV3Key)), {
      payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
      trade_type: 'JSAPI',
    })
  })

  await t.test('h5: h5_url opens the cashier; after 支付 the browser goes to redirect_url', async (t) => {
    const no = orderNo()
    const res = await pay.transactions_h5({
      description: '商品',
      out_trade_no: no,
      notify_url: notifyPath('h'),
      amount: { total: 100 },
      scene_info: { payer_client_ip: '203.0.113.9', h5_info: { type: 'Wap', app_name: 'shop' } },
    })
    t.equal(res.status, 200, JSON.stringify(res))
    t.match(res.data.h5_url, new RegExp(`^${sbx.publicUrl}/wechat/checkmweb\\?prepay_id=wx`))
    const noScene = await pay.transactions_h5({
      description: 'x',
      out_trade_no: orderNo(),
      notify_url: notifyPath('h'),
      amount: { total: 1 },
    } as never)
    t.equal(noScene.status, 400)
    const back = 'http://127.0.0.1:9/api/pay/return?out_trade_no=' + no
    const open = await getManual(`${res.data.h5_url.replace(sbx.publicUrl, sbx.base)}&redirect_url=${encodeURIComponent(back)}`)
    t.equal(open.status, 302)
    const cashier = open.headers.get('location')!
    const page = await (await fetch(`${sbx.base}${cashier}`)).text()
    t.equal(countButtons(page, '支付'), 1)
    t.equal(countButtons(page, '取消'), 1)
    const paid = await postForm(`${sbx.base}${cashier}/pay`)
    t.equal(paid.status, 302)
    t.equal(paid.headers.get('location'), back)
    await receiver.waitFor('/notify/h', 1)
  })

  await t.test('a Native code_url lives 2 hours: scanned later, its cashier refuses to pay (二维码已过期)', async (t) => {
    const no = orderNo()
    const res = await native(no, 700, 'old')
    t.equal(res.status, 200)
    const cashierOf = async () => {
      const scan = await getManual(`${sbx.base}/scan?code=${encodeURIComponent(res.data.code_url)}`)
      t.equal(scan.status, 302)
      return `${sbx.base}${scan.headers.get('location')!}`
    }
    t.match(await (await fetch(await cashierOf())).text(), /id="state">待支付</, 'alive: payable')
    // Two hours pass (the trade has no time_expire: only the code dies).
    await sbx.sql`update wechat_trades set created_at = created_at - interval '2 hours' where out_trade_no = ${no}`
    t.match(await (await fetch(await cashierOf())).text(), /id="state">交易已关闭</, 'dead: not payable')
    const paid = await postForm(`${await cashierOf()}/pay`)
    t.equal(paid.status, 409)
    t.match(await paid.text(), /二维码已过期/)
    t.match((await pay.query({ out_trade_no: no })).data, { trade_state: 'NOTPAY' }, 'nothing paid')
    await sleep(100)
    t.equal(receiver.received('/notify/old').length, 0)
  })

  await t.test('close: 204 (signed empty body); a closed trade cannot be paid or ordered again; a paid one cannot be closed', async (t) => {
    const no = orderNo()
    const created = await native(no, 300, 'c')
    const close = await pay.close(no)
    t.equal(close.status, 204)
    const raw = client.last()
    t.equal(raw.text, '')
    t.equal(await client.verify(raw), true, 'the empty 204 body is signed')
    t.equal((await pay.close(no)).status, 204, 'closing twice is fine')
    t.equal((await pay.query({ out_trade_no: no })).data.trade_state, 'CLOSED')
    t.equal((await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/pay`, {})).status, 409)
    const scan = await getManual(`${sbx.base}/scan?code=${encodeURIComponent(created.data.code_url)}`)
    const refused = await postForm(`${sbx.base}${scan.headers.get('location')}/pay`)
    t.equal(refused.status, 409)
    t.match(await refused.text(), /订单已关闭/)
    const reorder = await native(no, 300, 'c')
    t.equal(reorder.status, 400)
    t.match(JSON.parse(reorder.error), { code: 'ORDER_CLOSED' })
    t.equal(receiver.received('/notify/c').length, 0)

    const paidNo = orderNo()
    await native(paidNo, 300, 'c')
    await controlJson(sbx.base, 'POST', `/control/wechat/trades/${paidNo}/pay`, { notify: false })
    const closePaid = await pay.close(paidNo)
    t.equal(closePaid.status, 400)
    t.match(JSON.parse(closePaid.error), { code: 'ORDERPAID' })
    t.equal((await pay.close('NOSUCHORDER1')).status, 404)

    const expiring = orderNo()
    const past = new Date(Date.now() - 1000)
    const iso = new Date(past.getTime() + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00'
    await pay.transactions_native({
      description: 'x',
      out_trade_no: expiring,
      notify_url: notifyPath('c'),
      amount: { total: 1 },
      time_expire: iso,
    })
    t.equal((await pay.query({ out_trade_no: expiring })).data.trade_state, 'CLOSED', 'past time_expire: closed')
  })

  await t.test('refunds: partial, cumulative cap, idempotent per out_refund_no, query', async (t) => {
    const no = orderNo()
    await native(no, 1000, 'r')
    const unpaid = await pay.refunds({ out_trade_no: no, out_refund_no: `R${no}`, amount: { refund: 100, total: 1000, currency: 'CNY' } })
    t.equal(unpaid.status, 400)
    await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/pay`, { notify: false })
    const r1 = await pay.refunds({
      out_trade_no: no,
      out_refund_no: `R1${no}`,
      reason: '退货',
      amount: { refund: 400, total: 1000, currency: 'CNY' },
    })
    t.equal(r1.status, 200, JSON.stringify(r1))
    t.match(r1.data, { out_refund_no: `R1${no}`, out_trade_no: no, status: 'SUCCESS', amount: { refund: 400, total: 1000 } })
    t.equal(await client.verify(client.last()), true)
    const replay = await pay.refunds({ out_trade_no: no, out_refund_no: `R1${no}`, amount: { refund: 400, total: 1000, currency: 'CNY' } })
    t.equal(replay.data!.refund_id, r1.data!.refund_id, 'same out_refund_no: the same refund')
    const discordant = await pay.refunds({
      out_trade_no: no,
      out_refund_no: `R1${no}`,
      amount: { refund: 500, total: 1000, currency: 'CNY' },
    })
    t.equal(discordant.status, 400)
    const wrongTotal = await pay.refunds({
      out_trade_no: no,
      out_refund_no: `R2${no}`,
      amount: { refund: 100, total: 999, currency: 'CNY' },
    })
    t.equal(wrongTotal.status, 400)
    const over = await pay.refunds({ out_trade_no: no, out_refund_no: `R3${no}`, amount: { refund: 601, total: 1000, currency: 'CNY' } })
    t.equal(over.status, 400)
    t.match(JSON.parse(over.error), { code: 'INVALID_REQUEST', message: /可退金额/ })
    const rest = await pay.refunds({ out_trade_no: no, out_refund_no: `R4${no}`, amount: { refund: 600, total: 1000, currency: 'CNY' } })
    t.equal(rest.status, 200)
    const found = await pay.find_refunds(`R1${no}`)
    t.match(found, { status: 200, data: { refund_id: r1.data!.refund_id, status: 'SUCCESS', amount: { refund: 400 } } })
    t.equal((await pay.find_refunds('NOSUCHREFUND')).status, 404)
    t.match((await pay.query({ out_trade_no: no })).data, { trade_state: 'REFUND' })
  })

  await t.test(
    'refund notifies: REFUND.SUCCESS / ABNORMAL / CLOSED to the refund request’s notify_url, verified and decrypted by the SDK, retried',
    async (t) => {
      const no = orderNo()
      await native(no, 1000, 'rn')
      await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/pay`, { notify: false })
      const mode = (status: string) => controlJson(sbx.base, 'POST', '/control/wechat/refund-mode', { status })
      t.teardown(() => mode('SUCCESS'))
      const refund = (outRefundNo: string, amount: number, path?: string) =>
        pay.refunds({
          out_trade_no: no,
          out_refund_no: outRefundNo,
          ...(path ? { notify_url: notifyPath(path) } : {}),
          amount: { refund: amount, total: 1000, currency: 'CNY' },
        })
      /** The one notify at `path`, checked by the SDK: signature over the raw body, then AEAD with the APIv3 key. */
      const notified = async (path: string, eventType: string) => {
        const [n] = await receiver.waitFor(`/notify/${path}`, 1)
        t.equal(await client.verify(n!), true, `${eventType}: signature verified by the SDK`)
        const body = JSON.parse(n!.text)
        t.match(body, {
          event_type: eventType,
          resource_type: 'encrypt-resource',
          resource: { algorithm: 'AEAD_AES_256_GCM', original_type: 'refund', associated_data: 'refund' },
        })
        const plain = pay.decipher_gcm<Record<string, unknown>>(
          body.resource.ciphertext,
          body.resource.associated_data,
          body.resource.nonce,
        )
        t.same(plain, JSON.parse(decryptChecked(body.resource, keys.apiV3Key)), 'the SDK decrypts what the tag-checked decrypt does')
        return plain
      }

      // SUCCESS at once: notified at once, with its success_time; 204 stops the retries.
      t.equal((await refund(`RS${no}`, 300, 'rs')).status, 200)
      t.match(await notified('rs', 'REFUND.SUCCESS'), {
        mchid: keys.mchId,
        out_trade_no: no,
        out_refund_no: `RS${no}`,
        refund_id: /^50\d+$/,
        transaction_id: /^\d{28}$/,
        refund_status: 'SUCCESS',
        success_time: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/,
        amount: { total: 1000, refund: 300, payer_total: 1000, payer_refund: 300 },
      })

      // PROCESSING: nothing yet; ABNORMAL then SUCCESS by hand: one notify each, retried until acknowledged.
      await mode('PROCESSING')
      receiver.statuses.set('/notify/ra', [500, 204])
      t.equal((await refund(`RA${no}`, 200, 'ra')).status, 200)
      await sleep(300)
      t.equal(receiver.received('/notify/ra').length, 0, 'a PROCESSING refund is not notified')
      t.equal((await controlJson(sbx.base, 'POST', `/control/wechat/refunds/RA${no}`, { status: 'ABNORMAL' })).status, 200)
      const abnormal = await receiver.waitFor('/notify/ra', 2)
      t.equal(abnormal[0]!.text, abnormal[1]!.text, 'a refused notify is sent again, the same notification')
      const plain = JSON.parse(decryptChecked(JSON.parse(abnormal[1]!.text).resource, keys.apiV3Key))
      t.match(plain, { out_refund_no: `RA${no}`, refund_status: 'ABNORMAL' })
      t.notOk('success_time' in plain, 'no success_time before SUCCESS')
      // The sandbox records an attempt once the answer is in: wait for the second.
      let list = await controlJson(sbx.base, 'GET', `/control/wechat/notifications?outTradeNo=RA${no}`)
      for (let i = 0; i < 100 && list.json.length < 2; i++) {
        await sleep(50)
        list = await controlJson(sbx.base, 'GET', `/control/wechat/notifications?outTradeNo=RA${no}`)
      }
      t.same(
        list.json.map((d: { attempt: number; status: number }) => [d.attempt, d.status]),
        [
          [1, 500],
          [2, 204],
        ],
        'listed under the out_refund_no, on WeChat’s schedule',
      )

      // CLOSED: the money stays with the merchant (refundable again), REFUND.CLOSED says so.
      t.equal((await refund(`RC${no}`, 500, 'rc')).status, 200)
      t.equal((await controlJson(sbx.base, 'POST', `/control/wechat/refunds/RC${no}`, { status: 'CLOSED' })).status, 200)
      t.match(await notified('rc', 'REFUND.CLOSED'), { out_refund_no: `RC${no}`, refund_status: 'CLOSED', amount: { refund: 500 } })
      t.equal((await controlJson(sbx.base, 'POST', `/control/wechat/refunds/RC${no}`, { status: 'SUCCESS' })).status, 409)
      await sleep(300)
      t.equal(receiver.received('/notify/rc').length, 1, 'a final refund is not settled (or notified) again')

      // Without notify_url there is nowhere to send it (WeChat would use the merchant platform's setting).
      await mode('SUCCESS')
      t.equal((await refund(`RN${no}`, 100)).status, 200)
      await sleep(300)
      t.same((await controlJson(sbx.base, 'GET', `/control/wechat/notifications?outTradeNo=RN${no}`)).json, [])
      const ftp = await pay.refunds({
        out_trade_no: no,
        out_refund_no: `RX${no}`,
        notify_url: 'ftp://x',
        amount: { refund: 1, total: 1000, currency: 'CNY' },
      })
      t.equal(ftp.status, 400, 'a notify_url that is not http(s) is refused')
    },
  )

  await t.test('notify retries on WeChat schedule until 200/204, each attempt signed anew', async (t) => {
    const no = orderNo()
    await native(no, 500, 'retry')
    receiver.statuses.set('/notify/retry', [500, 503, 204])
    await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/pay`, {})
    const got = await receiver.waitFor('/notify/retry', 3)
    await sleep(300)
    t.equal(receiver.received('/notify/retry').length, 3, 'stops after the 204')
    const bodies = new Set(got.map((g) => g.text))
    t.equal(bodies.size, 1, 'the same notification each time')
    t.equal(new Set(got.map((g) => g.headers['wechatpay-nonce'])).size, 3, 'a fresh nonce (and signature) per attempt')
    for (const g of got) t.equal(await client.verify(g), true)
    // SANDBOX_TIME_FACTOR 0.001 with the 200 ms floor: 15 s → 200 ms.
    t.ok(got[1]!.at - got[0]!.at >= 180, `first retry after ${got[1]!.at - got[0]!.at} ms`)
    const list = await controlJson(sbx.base, 'GET', `/control/wechat/notifications?outTradeNo=${no}`)
    t.same(
      list.json.map((d: { attempt: number; status: number; kind: string }) => [d.kind, d.attempt, d.status]),
      [
        ['auto', 1, 500],
        ['auto', 2, 503],
        ['auto', 3, 204],
      ],
    )
    t.equal(list.json[2].deliveryState, 'DELIVERED')
  })

  await t.test('control notify: duplicates, tampering, wrong key or serial, corrupted ciphertext', async (t) => {
    const no = orderNo()
    await native(no, 2500, 'ctl')
    const send = async (body: Record<string, unknown>) => {
      const before = receiver.received('/notify/ctl').length
      const r = await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/notify`, body)
      t.equal(r.status, 200, JSON.stringify(r.json))
      const got = receiver.received('/notify/ctl').slice(before)
      return { r, got }
    }
    const dup = await send({ times: 3 })
    t.equal(dup.got.length, 3)
    t.same(
      dup.r.json.deliveries.map((d: { status: number }) => d.status),
      [204, 204, 204],
    )
    for (const g of dup.got) t.equal(await client.verify(g), true)

    const tampered = await send({ tamper: { amount_total: 1, mchid: '1900000109' } })
    t.equal(await client.verify(tampered.got[0]!), true, 'tampered values are signed (only cross-checks catch them)')
    t.match(JSON.parse(decryptChecked(JSON.parse(tampered.got[0]!.text).resource, keys.apiV3Key)), {
      amount: { total: 1 },
      mchid: '1900000109',
    })

    const wrongKey = await send({ wrongKey: true })
    t.equal(await client.verify(wrongKey.got[0]!), false, 'wrongKey: the SDK rejects the signature')

    const wrongSerial = await send({ wrongSerial: true })
    t.not(wrongSerial.got[0]!.headers['wechatpay-serial'], keys.platformCertSerial)
    await t.rejects(client.verify(wrongSerial.got[0]!), /序列号/, 'wrongSerial: no certificate with that serial')

    const corrupt = await send({ corruptCiphertext: true })
    t.equal(await client.verify(corrupt.got[0]!), true, 'the corrupted notify is validly signed')
    const resource = JSON.parse(corrupt.got[0]!.text).resource
    t.throws(() => decryptChecked(resource, keys.apiV3Key), /authenticate/, 'the GCM tag check catches it')
    const unchecked = pay.decipher_gcm<Record<string, unknown>>(resource.ciphertext, resource.associated_data, resource.nonce)
    t.match(
      unchecked,
      { out_trade_no: no, trade_state: 'SUCCESS', amount: { total: 2500 } },
      'without the tag check it decrypts to plausible JSON…',
    )
    t.not(unchecked.transaction_id, corrupt.r.json.resource.transaction_id, '…for another transaction id')

    const raw = await controlJson(sbx.base, 'POST', '/control/wechat/notify-raw', {
      notifyUrl: notifyPath('raw'),
      resource: { mchid: keys.mchId, appid: keys.appId, out_trade_no: 'NOSUCHORDER1', trade_state: 'SUCCESS', amount: { total: 1 } },
    })
    t.equal(raw.json.status, 204)
    const [n] = await receiver.waitFor('/notify/raw', 1)
    t.equal(await client.verify(n!), true)
    const notifications = await controlJson(sbx.base, 'GET', `/control/wechat/notifications?outTradeNo=${no}`)
    t.ok(notifications.json.filter((d: { kind: string }) => d.kind === 'manual').length >= 7)
    t.equal((await controlJson(sbx.base, 'GET', `/control/wechat/trades/${no}`)).json.tradeState, 'NOTPAY', 'manual notifies do not pay')
    t.equal((await controlJson(sbx.base, 'GET', '/control/wechat/trades/NOSUCHORDER1')).status, 404)
    t.equal((await controlJson(sbx.base, 'POST', `/control/wechat/trades/${no}/notify`, { tamper: { bogus: 1 } })).status, 400)
  })

  await t.test('/v3/certificates: the platform certificate, encrypted with the APIv3 key', async (t) => {
    const certs = await pay.get_certificates(keys.apiV3Key)
    t.equal(certs.length, 1)
    t.equal(certs[0]!.serial_no, keys.platformCertSerial)
    const enc = (
      JSON.parse(client.last().text) as { data: { encrypt_certificate: { ciphertext: string; nonce: string; associated_data: string } }[] }
    ).data[0]!.encrypt_certificate
    t.equal(decryptChecked(enc, keys.apiV3Key).trim(), keys.platformCert.trim())
    t.equal(await client.verify(client.last()), true)
    const wrongKey = createDecipheriv('aes-256-gcm', Buffer.alloc(32, 1), Buffer.from(enc.nonce))
    t.throws(() => {
      const data = Buffer.from(enc.ciphertext, 'base64')
      wrongKey.setAuthTag(data.subarray(data.length - 16))
      wrongKey.setAAD(Buffer.from(enc.associated_data))
      wrongKey.update(data.subarray(0, data.length - 16))
      wrongKey.final()
    })
  })
})
