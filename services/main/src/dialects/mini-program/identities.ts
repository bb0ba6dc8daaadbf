/** `miniapp_identities` (its one writer): which user an openid of a mini program is. */
import { randomBytes } from 'node:crypto'
import type { Sql } from '@paysys/db'
import { insertPasswordlessUser, type UserRow, type UsersRepo } from '../../users.ts'

class Taken extends Error {}

export function createMiniappIdentities(sql: Sql, users: UsersRepo) {
  async function userOf(appid: string, openid: string): Promise<UserRow | undefined> {
    const [row] = await sql<{ userId: number }[]>`
      select user_id as "userId" from miniapp_identities where appid = ${appid} and openid = ${openid}`
    return row ? users.findById(row.userId) : undefined
  }

  return {
    userOf,

    /** The user of that openid, created (user and identity in one transaction) on the first login. */
    async findOrCreate(appid: string, openid: string): Promise<{ user: UserRow; created: boolean }> {
      const known = await userOf(appid, openid)
      if (known) return { user: known, created: false }
      try {
        const user = await sql.begin(async (tx) => {
          const t = tx as unknown as Sql
          const email = `mp-${randomBytes(12).toString('hex')}@miniapp.invalid`
          const user = await insertPasswordlessUser(t, email, '小程序用户', openid)
          const linked = await t`insert into miniapp_identities (appid, openid, user_id) values (${appid}, ${openid}, ${user.id})
            on conflict do nothing returning 1`
          if (!linked.length) throw new Taken() // a concurrent first login linked it: roll this user back
          return user
        })
        return { user, created: true }
      } catch (err) {
        if (!(err instanceof Taken)) throw err
        return { user: (await userOf(appid, openid))!, created: false }
      }
    },

    /** The openid `userId` logged in with (JSAPI payments pay as it), if any. */
    async openidOf(appid: string, userId: number): Promise<string | undefined> {
      const [row] = await sql<{ openid: string }[]>`
        select openid from miniapp_identities where appid = ${appid} and user_id = ${userId}`
      return row?.openid
    },
  }
}
export type MiniappIdentities = ReturnType<typeof createMiniappIdentities>
