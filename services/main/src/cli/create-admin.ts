/**
 * Creates the first admin (or promotes an existing account), for when ADMIN_EMAIL/ADMIN_PASSWORD
 * are not set at start-up:
 *
 *   DATABASE_URL=postgres://… pnpm --filter @paysys/main admin:create --email admin@example.com --password '…'
 *
 * The password may also come from ADMIN_PASSWORD (keeps it out of the shell history). An existing
 * account keeps its password unless --reset-password is given.
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect, runMigrations } from '@paysys/db'
import { hashPassword } from '../passwords.ts'
import { EMAIL_RE, normaliseEmail, createUsersRepo } from '../users.ts'

export async function createAdmin(
  databaseUrl: string,
  email: string,
  password: string,
  resetPassword = false,
): Promise<{ id: number; created: boolean }> {
  const normalised = normaliseEmail(email)
  if (!EMAIL_RE.test(normalised)) throw new Error(`not an email address: ${email}`)
  if (password.length < 8 || password.length > 128) throw new Error('the password must be 8 to 128 characters')
  await runMigrations(databaseUrl, fileURLToPath(new URL('../../drizzle', import.meta.url)))
  const sql = connect(databaseUrl, { max: 1 })
  try {
    const existing = await createUsersRepo(sql).findByEmail(normalised)
    const hash = await hashPassword(password)
    await createUsersRepo(sql).ensureAdmin(normalised, hash)
    if (resetPassword) await sql`update users set password_hash = ${hash}, updated_at = now() where email = ${normalised}`
    const [row] = await sql<{ id: number }[]>`select id from users where email = ${normalised}`
    return { id: row!.id, created: !existing }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    // `pnpm run x -- --email …` may pass the `--` through.
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: { email: { type: 'string' }, password: { type: 'string' }, 'reset-password': { type: 'boolean', default: false } },
  })
  const email = values.email ?? process.env.ADMIN_EMAIL
  const password = values.password ?? process.env.ADMIN_PASSWORD
  const databaseUrl = process.env.DATABASE_URL
  if (!email || !password || !databaseUrl) {
    console.error(
      'usage: DATABASE_URL=… admin:create --email <email> --password <password> [--reset-password]  (or ADMIN_EMAIL / ADMIN_PASSWORD)',
    )
    process.exit(2)
  }
  try {
    const r = await createAdmin(databaseUrl, email, password, values['reset-password'])
    console.log(`${r.created ? 'created' : 'promoted'} admin ${normaliseEmail(email)} (id ${r.id})`)
  } catch (err) {
    console.error(`admin:create failed: ${(err as Error).message}`)
    process.exit(1)
  }
}
