import { Type } from 'typebox'
import { AppError, errorResponses, ok, OkEnvelope } from '@paysys/contracts'
import type { MainApp } from '../deps.ts'
import { hashPassword, verifyPassword } from '../passwords.ts'
import { EMAIL_RE, presentUser } from '../users.ts'
import { AuthResultSchema, USER, UserSchema } from './schemas.ts'

const Credentials = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254 }),
  password: Type.String({ minLength: 8, maxLength: 128 }),
  name: Type.Optional(Type.String({ maxLength: 64 })),
})

// OpenAPI (/docs) and response serialisation: see schemas.ts.
const registerSchema = {
  tags: ['auth'],
  summary: 'Register (or claim the guest account of that email)',
  body: Credentials,
  response: { 200: OkEnvelope(AuthResultSchema), ...errorResponses(400, 409, 429) },
}
const loginSchema = {
  tags: ['auth'],
  summary: 'Log in: a JWT for bearerAuth',
  body: Credentials,
  response: { 200: OkEnvelope(AuthResultSchema), ...errorResponses(400, 401, 429) },
}
const meSchema = {
  tags: ['auth'],
  summary: 'My profile and credit balance',
  security: USER,
  response: { 200: OkEnvelope(UserSchema), ...errorResponses(401) },
}

export async function authRoutes(app: MainApp) {
  const { accounts } = app.deps

  app.post('/api/auth/register', { schema: registerSchema }, async (req) => {
    const user = await accounts.register(req.body)
    return ok({ token: app.signToken(user), user: presentUser(user) }, '注册成功')
  })

  app.post('/api/auth/login', { schema: loginSchema }, async (req) => {
    const user = await accounts.login(req.body.email, req.body.password)
    return ok({ token: app.signToken(user), user: presentUser(user) }, '登录成功')
  })

  app.get('/api/users/me', { preHandler: app.requireUser, schema: meSchema }, async (req) => {
    return ok(presentUser(await accounts.me(req.user.id)))
  })

  app.patch(
    '/api/users/me',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['auth'],
        summary: 'Update my name or my openid binding (channels that require the openid)',
        security: USER,
        response: { 200: OkEnvelope(UserSchema), ...errorResponses(400, 401) },
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            wechatOpenid: Type.Optional(Type.Union([Type.String({ pattern: '^[A-Za-z0-9_-]{6,128}$' }), Type.Null()])),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
      },
    },
    async (req) => {
      const user = await accounts.updateProfile(req.user.id, req.body)
      return ok(presentUser(user), '更新成功')
    },
  )
}
