/**
 * Building blocks for the OpenAPI (/docs) description of a provider's notify route. Documentation
 * only, never validated: every notification, whatever it contains, must reach the handler and be
 * logged with its verdict; a schema check would answer before that.
 */
import { Type } from 'typebox'

export { errorResponses, OpenObject } from '@paysys/contracts'
export { Type }

export const Text = (description: string) => ({ description, content: { 'text/plain': { schema: Type.String() } } })
export const Field = (description?: string) => Type.String(description ? { description } : {})
export const Optional = (description?: string) => Type.Optional(Field(description))
