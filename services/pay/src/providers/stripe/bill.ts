/**
 * Stripe's "bill" of a day: its balance transactions created in that China-time day
 * (`GET /v1/balance_transactions?created[gte]&created[lt]`, every page, sources expanded), charges and
 * refunds with their fees, as BillRows. Stripe has no bill file: the list is the bill.
 */
import type Stripe from 'stripe'
import { BillError, type BillDay, type BillRow } from '../../reconciliation/types.ts'
import { assertBillDay } from '../bill-common.ts'
import { billRowFromBalanceTransaction, type BalanceTransactionLike } from './transformers.ts'

const MAX_ROWS = 200_000

export async function fetchStripeBill(stripe: Stripe, currency: string, day: BillDay): Promise<BillRow[]> {
  assertBillDay(day, 'STRIPE')
  const start = Math.floor(new Date(`${day}T00:00:00+08:00`).getTime() / 1000)
  const rows: BillRow[] = []
  let seen = 0
  try {
    const list = stripe.balanceTransactions.list({ created: { gte: start, lt: start + 86_400 }, limit: 100, expand: ['data.source'] })
    for await (const bt of list) {
      if (++seen > MAX_ROWS) throw new BillError('Stripe 余额明细过多', 'STRIPE', 'MALFORMED')
      const row = billRowFromBalanceTransaction(bt as unknown as BalanceTransactionLike, currency)
      if (row === 'invalid') throw new BillError(`Stripe 余额明细无法对账: ${bt.id}`, 'STRIPE', 'MALFORMED')
      if (row) rows.push(row)
    }
  } catch (err) {
    if (err instanceof BillError) throw err
    throw new BillError(`Stripe 余额明细获取失败: ${(err as Error).message}`, 'STRIPE', 'UNAVAILABLE')
  }
  return rows
}
