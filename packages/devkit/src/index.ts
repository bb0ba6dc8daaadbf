export * from './postgres.ts'
export * from './keys.ts'
export * from './stack.ts'
