/** Accounts: registering (a guest account is claimed), signing in, reading and updating one's profile. */
import { AppError } from '@paysys/contracts'
import { hashPassword, verifyPassword } from './passwords.ts'
import { EMAIL_RE, type UserRow, type UsersRepo } from './users.ts'

const gone = () => new AppError(401, 'UNAUTHORIZED', '用户不存在')

export function createAccounts(deps: { users: UsersRepo }) {
  const { users } = deps
  return {
    /** 400 for a malformed email, 409 EMAIL_TAKEN for a registered one. */
    async register(b: { email: string; password: string; name?: string }): Promise<UserRow> {
      if (!EMAIL_RE.test(b.email.trim())) throw new AppError(400, 'INVALID_PARAMS', '邮箱格式无效')
      const user = await users.register(b.email, await hashPassword(b.password), b.name?.trim() ?? '')
      if (!user) throw new AppError(409, 'EMAIL_TAKEN', '该邮箱已注册')
      return user
    },

    /** 401 INVALID_CREDENTIALS alike for an unknown email and a wrong password. */
    async login(email: string, password: string): Promise<UserRow> {
      const user = await users.findByEmail(email)
      if (!(await verifyPassword(password, user?.passwordHash ?? null)) || !user) {
        throw new AppError(401, 'INVALID_CREDENTIALS', '邮箱或密码错误')
      }
      return user
    },

    async me(userId: number): Promise<UserRow> {
      const user = await users.findById(userId)
      if (!user) throw gone()
      return user
    },

    async updateProfile(userId: number, p: { name?: string; wechatOpenid?: string | null }): Promise<UserRow> {
      const user = await users.updateProfile(userId, p)
      if (!user) throw gone()
      return user
    },
  }
}
export type Accounts = ReturnType<typeof createAccounts>
