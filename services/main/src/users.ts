import type { Sql } from '@paysys/db'

export interface UserRow {
  id: number
  email: string
  passwordHash: string | null
  name: string
  role: 'user' | 'admin'
  wechatOpenid: string | null
  creditBalance: number
  createdAt: Date
}

const COLUMNS = `id, email, password_hash as "passwordHash", name, role, wechat_openid as "wechatOpenid",
  credit_balance as "creditBalance", created_at as "createdAt"`

export const EMAIL_RE = /^[^\s@"'<>()\\,;:]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$/

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase()
}

/**
 * A user without a password or a reachable email, created in the caller's transaction (seed 001's mini
 * program users, known by their openid). The email is unguessable, so neither registration nor guest
 * checkout can claim the account.
 */
export async function insertPasswordlessUser(tx: Sql, email: string, name: string, wechatOpenid: string): Promise<UserRow> {
  const rows = await tx.unsafe<UserRow[]>(`insert into users (email, name, wechat_openid) values ($1, $2, $3) returning ${COLUMNS}`, [
    normaliseEmail(email),
    name,
    wechatOpenid,
  ])
  return rows[0]!
}

/** `lookups`: the pool with cached generic plans for reads of one user by a key (see orders/repo.ts). */
export function createUsersRepo(sql: Sql, lookups: Sql = sql) {
  return {
    async findById(id: number): Promise<UserRow | undefined> {
      return (await lookups.unsafe<UserRow[]>(`select ${COLUMNS} from users where id = $1`, [id], { prepare: true }))[0]
    },
    async findByEmail(email: string): Promise<UserRow | undefined> {
      return (
        await lookups.unsafe<UserRow[]>(`select ${COLUMNS} from users where email = $1`, [normaliseEmail(email)], { prepare: true })
      )[0]
    },
    /**
     * Registers: creates the user, or claims a guest account (no password yet) of the same email.
     * Returns undefined when the email already belongs to a registered user.
     */
    async register(email: string, passwordHash: string, name: string): Promise<UserRow | undefined> {
      const rows = await sql.unsafe<UserRow[]>(
        `insert into users (email, password_hash, name) values ($1, $2, $3)
         on conflict (email) do update set password_hash = excluded.password_hash,
           name = case when excluded.name <> '' then excluded.name else users.name end, updated_at = now()
         where users.password_hash is null
         returning ${COLUMNS}`,
        [normaliseEmail(email), passwordHash, name],
      )
      return rows[0]
    },
    /** Guest checkout: the account of that email, created without a password if new. */
    async findOrCreateGuest(email: string, name: string): Promise<UserRow> {
      const rows = await sql.unsafe<UserRow[]>(
        `insert into users (email, name) values ($1, $2)
         on conflict (email) do update set email = excluded.email
         returning ${COLUMNS}`,
        [normaliseEmail(email), name],
        { prepare: true },
      )
      return rows[0]!
    },
    async updateProfile(id: number, p: { name?: string; wechatOpenid?: string | null }): Promise<UserRow | undefined> {
      const rows = await sql.unsafe<UserRow[]>(
        `update users set name = coalesce($2, name),
           wechat_openid = case when $3::boolean then $4 else wechat_openid end, updated_at = now()
         where id = $1 returning ${COLUMNS}`,
        [id, p.name ?? null, p.wechatOpenid !== undefined, p.wechatOpenid ?? null] as never[],
      )
      return rows[0]
    },
    /** Creates or promotes the configured first admin. */
    async ensureAdmin(email: string, passwordHash: string): Promise<void> {
      await sql`insert into users (email, password_hash, name, role) values (${normaliseEmail(email)}, ${passwordHash}, '管理员', 'admin')
        on conflict (email) do update set role = 'admin', password_hash = coalesce(users.password_hash, excluded.password_hash)`
    },
  }
}
export type UsersRepo = ReturnType<typeof createUsersRepo>

export function presentUser(u: UserRow) {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    creditBalance: u.creditBalance,
    wechatOpenid: u.wechatOpenid,
    registered: u.passwordHash !== null,
    createdAt: u.createdAt.toISOString(),
  }
}
