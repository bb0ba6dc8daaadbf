/** JWT (HS256 pinned) for users; optional auth for guest checkout; role checks. */
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '@paysys/contracts'

export interface AuthUser {
  id: number
  email: string
  role: 'user' | 'admin'
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; email: string; role: 'user' | 'admin' }
    user: AuthUser
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    requireUser: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
    optionalUser: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
    signToken: (u: AuthUser) => string
  }
}

export const authPlugin = fp<{ secret: string; expiresIn: string }>(
  async (app, opts) => {
    await app.register(jwt, {
      secret: opts.secret,
      sign: { algorithm: 'HS256', expiresIn: opts.expiresIn },
      // Verified tokens are cached (bounded, until their expiry): payment-status polls repeat the same token.
      verify: { algorithms: ['HS256'], cache: 10_000 },
      formatUser: (p) => ({ id: Number(p.sub), email: p.email, role: p.role }),
    })
    app.decorate('signToken', (u: AuthUser) => app.jwt.sign({ sub: String(u.id), email: u.email, role: u.role }))
    app.decorate('requireUser', async (req: FastifyRequest) => {
      if (!req.headers.authorization) throw new AppError(401, 'UNAUTHORIZED', '未登录或缺少令牌')
      try {
        await req.jwtVerify()
      } catch {
        throw new AppError(401, 'UNAUTHORIZED', '令牌无效或已过期')
      }
      if (!Number.isSafeInteger(req.user.id) || req.user.id <= 0) throw new AppError(401, 'UNAUTHORIZED', '令牌无效')
    })
    app.decorate('optionalUser', async (req: FastifyRequest) => {
      if (!req.headers.authorization) return
      try {
        await req.jwtVerify()
      } catch {
        // A token that was sent but is bad is an error, not a silent guest checkout.
        throw new AppError(401, 'UNAUTHORIZED', '令牌无效或已过期')
      }
    })
  },
  { name: 'auth' },
)

/** The logged-in user when the request carried a valid token, else undefined. */
export function currentUser(req: FastifyRequest): AuthUser | undefined {
  return (req as { user?: AuthUser }).user
}
