/**
 * Money is an integer number of fen (1 yuan = 100 fen) everywhere inside the system.
 * Conversions to yuan happen only at the edges: API display (JSON numbers, ≤ 2 decimals)
 * and provider adapters (Alipay/Epay want "25.00"). No float arithmetic on money.
 */
export type Fen = number & { readonly __fen: unique symbol }

/** Largest single amount we accept: 1,000,000.00 yuan. */
export const MAX_FEN = 100_000_000

export class MoneyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MoneyError'
  }
}

export function isFen(value: unknown): value is Fen {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_FEN
}

/** Asserts an integer fen amount (0 ≤ n ≤ MAX_FEN). */
export function fen(value: number): Fen {
  if (!isFen(value)) throw new MoneyError(`not a fen amount: ${value}`)
  return value
}

const YUAN_RE = /^(0|[1-9]\d{0,8})(?:\.(\d{1,2}))?$/

/**
 * Parses a yuan amount given as a JSON number or a decimal string ("25", "25.5", "25.50")
 * into fen without floating-point arithmetic. Rejects negatives, NaN, exponents,
 * more than two decimals and amounts above MAX_FEN.
 */
export function parseYuan(input: number | string): Fen {
  let text: string
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new MoneyError('amount is not a finite number')
    // Shortest round-trip representation: 9.9 → "9.9", 0.1 + 0.2 → "0.30000000000000004" (rejected).
    text = String(input)
  } else if (typeof input === 'string') {
    text = input.trim()
  } else {
    throw new MoneyError('amount must be a number or a string')
  }
  const m = YUAN_RE.exec(text)
  if (!m) throw new MoneyError(`invalid yuan amount: ${JSON.stringify(input)}`)
  const whole = Number(m[1])
  const frac = Number((m[2] ?? '').padEnd(2, '0'))
  const total = whole * 100 + frac
  if (total > MAX_FEN) throw new MoneyError('amount too large')
  return total as Fen
}

/** Yuan as a JSON number for API display: 2500 → 25, 990 → 9.9. Exact because fen/100 with ≤ 2 decimals round-trips. */
export function fenToYuanNumber(amount: number): number {
  return Number(fenToYuanString(amount))
}

/** Yuan as a fixed two-decimal string for providers: 2500 → "25.00". */
export function fenToYuanString(amount: number): string {
  if (!Number.isSafeInteger(amount)) throw new MoneyError(`not an integer fen amount: ${amount}`)
  const sign = amount < 0 ? '-' : ''
  const abs = Math.abs(amount)
  const whole = Math.floor(abs / 100)
  const frac = abs % 100
  return `${sign}${whole}.${frac.toString().padStart(2, '0')}`
}

/** Multiplies a fen price by an integer quantity, refusing overflow past MAX_FEN. */
export function multiplyFen(price: number, quantity: number): Fen {
  if (!Number.isSafeInteger(quantity) || quantity < 0) throw new MoneyError('quantity must be a non-negative integer')
  return fen(price * quantity)
}
