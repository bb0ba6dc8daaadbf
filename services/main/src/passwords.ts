import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

const N = 16384
const KEYLEN = 32

function scryptAsync(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((res, rej) => scrypt(password, salt, KEYLEN, { N, r: 8, p: 1 }, (err, key) => (err ? rej(err) : res(key))))
}

/** `scrypt$N$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scryptAsync(password, salt)
  return `scrypt$${N}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (!stored) {
    // Spend the same time for unknown users so timing does not reveal which emails exist.
    await scryptAsync(password, Buffer.alloc(16))
    return false
  }
  const [scheme, , salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'))
  const expected = Buffer.from(hash, 'base64url')
  return expected.length === key.length && timingSafeEqual(expected, key)
}
