/** Minimal server-rendered pages (Chinese). Every dynamic value goes through escapeHtml. */
import type { FastifyReply } from 'fastify'
import { escapeHtml } from './util.ts'

const STYLE = `
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f5f6f7;margin:0;color:#222}
main{max-width:420px;margin:48px auto;background:#fff;border-radius:8px;padding:28px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:20px;margin:0 0 16px}
.amount{font-size:32px;color:#1677ff;margin:12px 0}
.meta{color:#666;font-size:14px;line-height:1.8}
.banner{background:#fffbe6;border:1px solid #ffe58f;padding:6px 10px;font-size:12px;color:#ad6800;border-radius:4px;margin-bottom:16px}
.actions{display:flex;gap:12px;margin-top:24px}
.actions form{flex:1;margin:0}
button{width:100%;padding:12px;font-size:16px;border-radius:6px;border:1px solid #1677ff;cursor:pointer}
button.primary{background:#1677ff;color:#fff}
button.secondary{background:#fff;color:#1677ff}
button[disabled]{opacity:.5;cursor:not-allowed}
.error{color:#cf1322}
`

/** A full HTML document. `bodyHtml` must already be escaped. */
export function layout(title: string, bodyHtml: string): string {
  return `<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>
<div class="banner">沙箱环境 · 仅用于开发和测试，不会产生真实扣款</div>
${bodyHtml}
</main></body></html>`
}

/** A message page (result, error) with an optional list of label/value rows. */
export function messagePage(title: string, message: string, opts: { error?: boolean; rows?: [string, string][] } = {}): string {
  const rows = (opts.rows ?? []).map(([k, v]) => `<div>${escapeHtml(k)}：${escapeHtml(v)}</div>`).join('')
  return layout(
    title,
    `<h1${opts.error ? ' class="error"' : ''}>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
${rows ? `<div class="meta">${rows}</div>` : ''}`,
  )
}

export function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.status(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(html)
}
