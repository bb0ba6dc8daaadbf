/**
 * Row types come from the drizzle schema (`typeof table.$inferSelect`); this turns the same schema
 * into a select list (`order_no as "orderNo", …`) for the raw SQL the repositories write, so a
 * column added to the schema is read everywhere without a hand-kept list to update.
 */
import { getTableColumns, type Table } from 'drizzle-orm'

export function selectList(table: Table, alias?: string): string {
  const prefix = alias ? `${alias}.` : ''
  return Object.entries(getTableColumns(table))
    .map(([key, column]) => (column.name === key ? `${prefix}${column.name}` : `${prefix}${column.name} as "${key}"`))
    .join(', ')
}
