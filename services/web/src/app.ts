/**
 * The checkout web app's server: static files from `public/` (plain ES modules, no build step),
 * `/api/*` (and seed 002's `/payment/*`) proxied to main so the browser stays same-origin, and an SPA fallback so deep links
 * such as `/order/123` (where pay's browser return lands) open the app.
 */
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { dirname, extname } from 'node:path'
import fastifyStatic from '@fastify/static'
import { Agent, request, errors as undiciErrors } from 'undici'
import { createApp } from '@paysys/server-kit'
import { fail } from '@paysys/contracts'
import type { WebConfig } from './config.ts'

export const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url))
/** The operator console's charts (uPlot, from the npm registry): served from node_modules, never a CDN. */
export const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'))
const VENDOR_FILES = new Set(['uPlot.esm.js', 'uPlot.min.css'])

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1), plus ones we set ourselves. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])
/** Not forwarded to main: undici sets its own. */
const REQUEST_ONLY = new Set(['host', 'content-length'])

/**
 * CSP of the app's pages (the other security headers are server-kit's). The Alipay/Epay forms post to the
 * provider's gateway (another origin): form-action allows http(s).
 */
export const PAGE_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"

export async function buildApp(config: Readonly<WebConfig>) {
  const app = createApp({
    name: 'web',
    logLevel: config.logLevel,
    bodyLimit: 1024 * 1024,
    metricsToken: config.metricsToken,
    http: config.http,
    pageCsp: PAGE_CSP,
  })
  const agent = new Agent({ connections: 64, headersTimeout: config.proxyTimeoutMs, bodyTimeout: config.proxyTimeoutMs })
  // Live order streams (SSE) hold their upstream connection for minutes: a pool of their own, so they never
  // take the API's 64 connections (main caps streams itself; its heartbeats keep bodyTimeout from firing).
  const streams = new Agent({ headersTimeout: config.proxyTimeoutMs, bodyTimeout: config.proxyTimeoutMs })
  const isStream = (url: string) => /^\/api\/orders\/[^/?]+\/events(\?|$)/.test(url)
  app.addHook('onClose', async () => {
    await agent.close()
    await streams.destroy()
  })

  // Runtime settings for the browser (no secrets): where the sandbox's scanner is, in development.
  app.get('/app-config.json', async (_req, reply) => {
    reply.header('cache-control', 'no-store')
    return { sandboxUrl: config.sandboxUrl ?? null }
  })

  // ---- /api/* → main, same origin for the browser -------------------------------------------
  await app.register(async (api) => {
    // Bodies are forwarded as the exact bytes received, whatever their type.
    api.removeAllContentTypeParsers()
    api.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

    const forward = async (req: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
      const headers: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(req.headers)) {
        if (v === undefined || HOP_BY_HOP.has(k) || REQUEST_ONLY.has(k)) continue
        headers[k] = v
      }
      const peer = req.socket.remoteAddress ?? ''
      const xff = req.headers['x-forwarded-for']
      headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${peer}` : peer
      headers['x-forwarded-proto'] = req.protocol
      if (req.headers.host) headers['x-forwarded-host'] = req.headers.host
      headers['x-request-id'] = req.id
      const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined
      try {
        const res = await request(`${config.mainUrl}${req.url}`, {
          method: req.method as 'GET',
          headers,
          body,
          dispatcher: isStream(req.url) ? streams : agent,
        })
        reply.status(res.statusCode)
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined || HOP_BY_HOP.has(k)) continue
          reply.header(k, v)
        }
        // Streamed through: nothing is buffered or rewritten.
        return reply.send(res.body)
      } catch (err) {
        const timeout = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError
        req.log.warn({ err: { message: (err as Error).message }, url: req.url.split('?')[0] }, 'main unreachable')
        return reply
          .status(timeout ? 504 : 502)
          .send(fail(timeout ? 504 : 502, 'SERVICE_UNAVAILABLE', timeout ? '主服务响应超时，请稍后再试' : '主服务暂时不可用，请稍后再试'))
      }
    }
    api.all('/api/*', forward)
    // Seed 002's own paths: a points-shop frontend served from this origin calls them with relative URLs.
    api.all('/payment/*', forward)
  })

  // ---- static files and the SPA fallback ------------------------------------------------------
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    wildcard: false, // one route per file; everything else falls through to the SPA route below
    cacheControl: false,
    setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
  })
  await app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: '/vendor/uplot/',
    decorateReply: false,
    wildcard: false,
    allowedPath: (path) => VENDOR_FILES.has(path.replace(/^\//, '')),
    cacheControl: false,
    setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
  })
  // The operator console (/admin…) is its own page: the admins' shell, same session as the checkout.
  const adminShell = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    reply.header('cache-control', 'no-cache')
    return reply.type('text/html; charset=utf-8').sendFile('admin.html')
  }
  app.get('/admin', adminShell)
  app.get('/admin/*', async (req, reply) => {
    const path = req.url.split('?')[0]!
    if (extname(path) !== '') return reply.status(404).send(fail(404, 'NOT_FOUND', `未找到: ${req.method} ${path}`))
    return adminShell(req, reply)
  })
  // Any other GET that is not an API call and does not look like a file is a page of the app.
  app.get('/*', async (req, reply) => {
    const path = req.url.split('?')[0]!
    if (path.startsWith('/api/') || extname(path) !== '') {
      return reply.status(404).send(fail(404, 'NOT_FOUND', `未找到: ${req.method} ${path}`))
    }
    reply.header('cache-control', 'no-cache')
    return reply.type('text/html; charset=utf-8').sendFile('index.html')
  })
  return app
}
