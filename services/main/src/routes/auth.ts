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
  const { users } = app.deps

  app.post('/api/auth/register', { schema: registerSchema }, async (req) => {
    const { email, password, name } = req.body
    if (!EMAIL_RE.test(email.trim())) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
    const user = await users.register(email, await hashPassword(password), name?.trim() ?? '')
    if (!user) throw new AppError(409, 'EMAIL_TAKEN', '该邮箱已注册')
    return ok({ token: app.signToken(user), user: presentUser(user) }, '注册成功')
  })

  app.post('/api/auth/login', { schema: loginSchema }, async (req) => {
    const user = await users.findByEmail(req.body.email)
    if (!(await verifyPassword(req.body.password, user?.passwordHash ?? null)) || !user) {
      throw new AppError(401, 'INVALID_CREDENTIALS', '邮箱或密码错误')
    }
    return ok({ token: app.signToken(user), user: presentUser(user) }, '登录成功')
  })

  app.get('/api/users/me', { preHandler: app.requireUser, schema: meSchema }, async (req) => {
    const user = await users.findById(req.user.id)
    if (!user) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
    return ok(presentUser(user))
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
      const user = await users.updateProfile(req.user.id, req.body)
      if (!user) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
      return ok(presentUser(user), '更新成功')
    },
  )
}
