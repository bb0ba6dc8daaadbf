/** Credit packages (seed 000) and products (seed 001): one `products` table. */
import type { Sql } from '@paysys/db'
import { fenToYuanNumber } from '@paysys/money'

export interface ProductRow {
  id: number
  kind: 'credits' | 'goods'
  packageCode: string | null
  name: string
  description: string
  credits: number
  priceFen: number
  originalPriceFen: number
  packageType: 'STANDARD' | 'CUSTOM'
  features: string[]
  recommendedFor: string | null
  isPopular: boolean
  isActive: boolean
  displayOrder: number
  minCredits: number | null
  maxCredits: number | null
  unitPriceFen: number | null
  imageUrl: string | null
  createdAt: Date
  updatedAt: Date
}

const COLUMNS = `id, kind, package_code as "packageCode", name, description, credits, price_fen as "priceFen",
  original_price_fen as "originalPriceFen", package_type as "packageType", features, recommended_for as "recommendedFor",
  is_popular as "isPopular", is_active as "isActive", display_order as "displayOrder", min_credits as "minCredits",
  max_credits as "maxCredits", unit_price_fen as "unitPriceFen", image_url as "imageUrl", created_at as "createdAt", updated_at as "updatedAt"`

/** The seed-000 catalogue, inserted once (existing rows are left as an admin may have edited them). */
export const SEED_PACKAGES = [
  {
    packageCode: 'CREDITS_200',
    name: '基础套餐',
    description: '适合轻度使用的用户',
    credits: 200,
    priceFen: 1000,
    features: ['200积分', '适用于所有AI服务', '永不过期'],
    recommendedFor: '轻度使用用户',
    displayOrder: 1,
  },
  {
    packageCode: 'CREDITS_500',
    name: '标准套餐',
    description: '最受欢迎的选择',
    credits: 500,
    priceFen: 2500,
    features: ['500积分', '适用于所有AI服务', '永不过期', '性价比最高'],
    recommendedFor: '中度使用用户',
    displayOrder: 2,
    isPopular: true,
  },
  {
    packageCode: 'CREDITS_1000',
    name: '高级套餐',
    description: '重度用户的最佳选择',
    credits: 1000,
    priceFen: 4900,
    features: ['1000积分', '适用于所有AI服务', '永不过期', '大容量优惠'],
    recommendedFor: '重度使用用户',
    displayOrder: 3,
  },
  {
    packageCode: 'CREDITS_CUSTOM',
    name: '自定义积分',
    description: '按需购买，灵活选择',
    credits: 0,
    priceFen: 0,
    features: ['自定义积分数量', '最低100积分起购', '按0.05元/积分计费', '适用于所有AI服务'],
    recommendedFor: '有特定需求的用户',
    displayOrder: 4,
    packageType: 'CUSTOM',
    minCredits: 100,
    maxCredits: 10000,
    unitPriceFen: 5,
  },
] as const

export async function seedCatalogue(sql: Sql): Promise<void> {
  for (const p of SEED_PACKAGES) {
    const row = p as (typeof SEED_PACKAGES)[number] & {
      isPopular?: boolean
      packageType?: string
      minCredits?: number
      maxCredits?: number
      unitPriceFen?: number
    }
    await sql`
      insert into products (kind, package_code, name, description, credits, price_fen, original_price_fen, package_type,
        features, recommended_for, is_popular, display_order, min_credits, max_credits, unit_price_fen)
      values ('credits', ${row.packageCode}, ${row.name}, ${row.description}, ${row.credits}, ${row.priceFen}, ${row.priceFen},
        ${row.packageType ?? 'STANDARD'}, ${sql.json([...row.features])}, ${row.recommendedFor}, ${row.isPopular ?? false},
        ${row.displayOrder}, ${row.minCredits ?? null}, ${row.maxCredits ?? null}, ${row.unitPriceFen ?? null})
      on conflict (package_code) do nothing`
  }
}

export function createCatalogRepo(sql: Sql) {
  return {
    async listActivePackages(): Promise<ProductRow[]> {
      return sql.unsafe<ProductRow[]>(
        `select ${COLUMNS} from products where kind = 'credits' and package_code is not null and is_active order by display_order, id`,
      )
    },
    async findPackage(code: string): Promise<ProductRow | undefined> {
      const rows = await sql.unsafe<ProductRow[]>(`select ${COLUMNS} from products where package_code = $1 and kind = 'credits'`, [code])
      return rows[0]
    },
  }
}
export type CatalogRepo = ReturnType<typeof createCatalogRepo>

/** Seed 000's package shape. Prices are yuan JSON numbers; costPerCredit as the seed shows it. */
export function presentPackage(p: ProductRow) {
  const custom = p.packageType === 'CUSTOM'
  const costPerCredit = custom ? fenToYuanNumber(p.unitPriceFen ?? 0) : p.credits > 0 ? Math.round((p.priceFen / p.credits) * 10) / 1000 : 0
  const discount = p.originalPriceFen > 0 ? Math.round((1 - p.priceFen / p.originalPriceFen) * 100) : 0
  return {
    id: p.id,
    packageCode: p.packageCode,
    packageName: p.name,
    packageDescription: p.description,
    credits: p.credits,
    originalPrice: fenToYuanNumber(p.originalPriceFen),
    currentPrice: fenToYuanNumber(p.priceFen),
    discount,
    packageType: p.packageType,
    isActive: p.isActive,
    displayOrder: p.displayOrder,
    features: p.features,
    costPerCredit,
    ...(custom ? { minCredits: p.minCredits, maxCredits: p.maxCredits } : {}),
    recommendedFor: p.recommendedFor,
    ...(p.isPopular ? { isPopular: true } : {}),
  }
}
