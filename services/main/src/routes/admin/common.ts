/** Pieces shared by the admin routes (role admin: checked by the hook in routes/admin.ts). */
import { Type } from 'typebox'
import { USER } from '../schemas.ts'
import { NumericId } from '../common.ts'

export const ADMIN = { tags: ['admin'], security: USER }
export const IdParams = Type.Object({ id: NumericId })
export const Text = (maxLength: number, minLength = 0) => Type.String({ minLength, maxLength })
