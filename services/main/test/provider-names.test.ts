/**
 * main keeps no provider list: which methods exist, their channels, device defaults, aliases and display
 * data come from pay (`GET /api/pay/methods`). This test reads every file in main's src/ and fails on a
 * provider's name, so a list (or an `if (method === …)`) cannot creep back in. Names are matched as
 * whole words (`wechatOpenid`, `createPay` and `latePayment` are not hits), in Latin letters any case,
 * and in Chinese.
 *
 * Allowed, each for its reason (file → the exact text allowed there):
 * - routes/orders.ts: seed 003's public route `POST /api/orders/:id/alipay` answers an Alipay page payment
 *   by its contract, so it names the method and its schema says what it is.
 * - dialects/mini-program/seed-names.ts: seed 001 is a WeChat mini program — it pays with wx.requestPayment (a JSAPI
 *   prepay) and logs in at its `/api/auth/wechat-login`; the dialect's other files use these two constants.
 * - dialects/v1-payment/vocabulary.ts: seed 004's `payment_method` words (`alipay | wechat | card | wallet`) are
 *   its contract; they are resolved through pay's method aliases, never mapped to a provider here.
 * - dialects/points-shop/service.ts: seed 002's contract names its payment types (alipay, wechat, qq, bank);
 *   which provider serves each is pay's (method and channel aliases).
 * Not provider names: `wechatOpenid` / `wechat_openid` (the buyer's openid for channels that require one,
 * a user profile field of seed 004) and DEVICES (`wechat`, `alipay`: where the buyer is, seed 002), which
 * main imports from @paysys/contracts rather than writes.
 */
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = fileURLToPath(new URL('../src', import.meta.url))

/** Provider (and provider-derived method) names, as words: codes, spellings, and Chinese names. */
export const PROVIDER_NAME =
  /\b(?:ALIPAY|WECHAT(?:_PAY)?|EPAY|BANK_CARD|STRIPE|alipay|wechat(?:_pay)?|epay|wxpay|qqpay|Alipay|WeChat|Wechat|Epay|Stripe)\b|支付宝|微信|易支付|QQ钱包|网银/

const ALLOWED: Record<string, RegExp[]> = {
  'dialects/points-shop/service.ts': [/^export const PAYMENT_TYPES = \['alipay', 'wechat', 'qq', 'bank'\] as const$/],
  'routes/orders.ts': [
    /app\.post\('\/api\/orders\/:id\/alipay'/,
    /checkout\.payThrough\(req\.user\.id, req\.params\.id, \{ method: 'ALIPAY', channel: 'page' \}/,
    /^const alipaySchema = \{$/,
    /summary: 'Seed 003: an Alipay page payment/,
    /\/\/ Seed 003: .* the seed's route names its provider and channel\.$/,
  ],
  'dialects/mini-program/seed-names.ts': [
    /^export const MINI_PROGRAM_PAYMENT = \{ method: 'WECHAT_PAY', channel: 'jsapi' \} as const$/,
    /^export const MINI_PROGRAM_LOGIN_ROUTE = '\/api\/auth\/wechat-login'$/,
  ],
  'dialects/v1-payment/vocabulary.ts': [/^export const V1_METHODS = \['alipay', 'wechat', 'card', 'wallet'\] as const$/],
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : []
  })
}

/** Every line of main's src that names a provider and is not allowed: `file:line: text`. */
export function providerNameHits(root = SRC): string[] {
  const hits: string[] = []
  for (const path of files(root)) {
    const file = relative(root, path)
    readFileSync(path, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!PROVIDER_NAME.test(line)) return
        if ((ALLOWED[file] ?? []).some((allowed) => allowed.test(line.trim()))) return
        hits.push(`${file}:${i + 1}: ${line.trim()}`)
      })
  }
  return hits
}

t.test("no provider name in main's source", async (t) => {
  t.same(providerNameHits(), [], 'move it to pay (its provider registry) or, if a seed contract needs it, allow it above with a reason')
})

t.test('the check finds a planted name, in every spelling it guards', async (t) => {
  for (const planted of [
    "if (method === 'ALIPAY') return",
    "const m = 'WECHAT_PAY'",
    "provider: 'EPAY'",
    "code: 'BANK_CARD'",
    'aliases: { wxpay: 1 }',
    "name: '支付宝'",
    "name: '微信支付'",
    "name: '易支付'",
    '// WeChat Pay needs it',
    "icon: '/icons/epay.svg'",
  ])
    t.ok(PROVIDER_NAME.test(planted), planted)
  for (const fine of ['user.wechatOpenid', 'wechat_openid = $4', 'createPayClient', 'latePayment', 'paymentProvider'])
    t.notOk(PROVIDER_NAME.test(fine), fine)
  // And through the file walk: a planted file in a copy of src/ is reported.
  const { mkdtempSync, writeFileSync, cpSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const copy = mkdtempSync(join(tmpdir(), 'main-src-'))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  cpSync(SRC, copy, { recursive: true })
  writeFileSync(join(copy, 'routes', 'planted.ts'), "export const methods = ['ALIPAY', 'CREDITS']\n")
  t.same(providerNameHits(copy), ["routes/planted.ts:1: export const methods = ['ALIPAY', 'CREDITS']"])
})
