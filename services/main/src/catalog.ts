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
  sku: string | null
  deliveryMethods: string[] | null
  createdAt: Date
  updatedAt: Date
}

export interface DeliveryMethodRow {
  code: string
  name: string
  icon: string
  baseFeeFen: number
  requiresAddress: boolean
  isActive: boolean
  displayOrder: number
}

const COLUMNS = `id, kind, package_code as "packageCode", name, description, credits, price_fen as "priceFen",
  original_price_fen as "originalPriceFen", package_type as "packageType", features, recommended_for as "recommendedFor",
  is_popular as "isPopular", is_active as "isActive", display_order as "displayOrder", min_credits as "minCredits",
  max_credits as "maxCredits", unit_price_fen as "unitPriceFen", image_url as "imageUrl", sku, delivery_methods as "deliveryMethods",
  created_at as "createdAt", updated_at as "updatedAt"`

const DELIVERY_COLUMNS = `code, name, icon, base_fee_fen as "baseFeeFen", requires_address as "requiresAddress", is_active as "isActive",
  display_order as "displayOrder"`

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

/** Seed 001's credit products and a seed-004 style goods item (identified by sku; inserted once). */
export const SEED_PRODUCTS = [
  {
    sku: 'SEED001_CREDITS_100',
    kind: 'credits',
    name: '100积分套餐',
    description: '购买100积分',
    credits: 100,
    priceFen: 990,
    imageUrl: 'https://example.com/images/credits-100.png',
    displayOrder: 11,
  },
  {
    sku: 'SEED001_CREDITS_500',
    kind: 'credits',
    name: '500积分套餐',
    description: '购买500积分',
    credits: 500,
    priceFen: 3990,
    imageUrl: 'https://example.com/images/credits-500.png',
    displayOrder: 12,
  },
  {
    sku: 'GOODS_GIFT_BOX',
    kind: 'goods',
    name: '定制周边礼盒',
    description: '实物商品：支持快递配送、自提和当日达',
    credits: 0,
    priceFen: 9550,
    imageUrl: '/images/goods-gift-box.png',
    displayOrder: 21,
  },
] as const

/** Seed 004's delivery methods. */
export const SEED_DELIVERY_METHODS = [
  { code: 'express', name: '快递配送', icon: '/images/express.png', baseFeeFen: 1000, requiresAddress: true, displayOrder: 1 },
  { code: 'pickup', name: '自提', icon: '/images/pickup.png', baseFeeFen: 0, requiresAddress: false, displayOrder: 2 },
  { code: 'same_day', name: '当日达', icon: '/images/same_day.png', baseFeeFen: 1500, requiresAddress: true, displayOrder: 3 },
] as const

export async function seedCatalogue(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    // Several instances may start at once: one seeds, the others find it done.
    await tx`select pg_advisory_xact_lock(7262003)`
    await seedRows(tx as unknown as Sql)
  })
}

async function seedRows(sql: Sql): Promise<void> {
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
  for (const p of SEED_PRODUCTS) {
    await sql`
      insert into products (kind, sku, name, description, credits, price_fen, original_price_fen, image_url, display_order)
      values (${p.kind}, ${p.sku}, ${p.name}, ${p.description}, ${p.credits}, ${p.priceFen}, ${p.priceFen}, ${p.imageUrl}, ${p.displayOrder})
      on conflict (sku) do nothing`
  }
  for (const d of SEED_DELIVERY_METHODS) {
    await sql`
      insert into delivery_methods (code, name, icon, base_fee_fen, requires_address, display_order)
      values (${d.code}, ${d.name}, ${d.icon}, ${d.baseFeeFen}, ${d.requiresAddress}, ${d.displayOrder})
      on conflict (code) do nothing`
  }
}

export interface ProductInput {
  kind: 'credits' | 'goods'
  name: string
  description: string
  credits: number
  priceFen: number
  originalPriceFen: number
  packageCode: string | null
  sku: string | null
  imageUrl: string | null
  displayOrder: number
  features: string[]
  recommendedFor: string | null
  isPopular: boolean
  isActive: boolean
  deliveryMethods: string[] | null
}

const PRODUCT_FIELDS: Record<keyof ProductInput, string> = {
  kind: 'kind',
  name: 'name',
  description: 'description',
  credits: 'credits',
  priceFen: 'price_fen',
  originalPriceFen: 'original_price_fen',
  packageCode: 'package_code',
  sku: 'sku',
  imageUrl: 'image_url',
  displayOrder: 'display_order',
  features: 'features',
  recommendedFor: 'recommended_for',
  isPopular: 'is_popular',
  isActive: 'is_active',
  deliveryMethods: 'delivery_methods',
}
const JSON_FIELDS = new Set<keyof ProductInput>(['features', 'deliveryMethods'])

/** `lookups`: the pool with cached generic plans for reads of one product by a key (see orders/repo.ts). */
export function createCatalogRepo(sql: Sql, lookups: Sql = sql) {
  return {
    async listActivePackages(): Promise<ProductRow[]> {
      return sql.unsafe<ProductRow[]>(
        `select ${COLUMNS} from products where kind = 'credits' and package_code is not null and is_active order by display_order, id`,
        [],
        { prepare: true },
      )
    },
    async findPackage(code: string): Promise<ProductRow | undefined> {
      const query = `select ${COLUMNS} from products where package_code = $1 and kind = 'credits'`
      return (await lookups.unsafe<ProductRow[]>(query, [code], { prepare: true }))[0]
    },
    async findProduct(id: number): Promise<ProductRow | undefined> {
      // Product ids are int4: a larger id names no product (and must not reach the database as an error).
      if (!Number.isSafeInteger(id) || id < 1 || id > 2_147_483_647) return undefined
      return (await lookups.unsafe<ProductRow[]>(`select ${COLUMNS} from products where id = $1`, [id], { prepare: true }))[0]
    },
    /** Seed 001's list (credit products and goods), in display order. */
    async listProducts(
      f: { kind?: 'credits' | 'goods'; activeOnly: boolean; inactiveOnly?: boolean; fixedPriceOnly?: boolean },
      page: { limit: number; offset: number },
    ): Promise<{ rows: ProductRow[]; total: number }> {
      const where: string[] = []
      const args: unknown[] = []
      if (f.activeOnly) where.push('is_active')
      if (f.fixedPriceOnly) where.push(`package_type <> 'CUSTOM'`)
      if (f.inactiveOnly) where.push('not is_active')
      if (f.kind) {
        args.push(f.kind)
        where.push(`kind = $${args.length}`)
      }
      const cond = where.length ? `where ${where.join(' and ')}` : ''
      const [rows, count] = await Promise.all([
        sql.unsafe<ProductRow[]>(
          // Paging values are bound too, never spliced into the text.
          `select ${COLUMNS} from products ${cond} order by display_order, id limit $${args.length + 1} offset $${args.length + 2}`,
          [...args, page.limit, page.offset] as never[],
        ),
        sql.unsafe<{ n: number }[]>(`select count(*)::int as n from products ${cond}`, args as never[]),
      ])
      return { rows, total: count[0]!.n }
    },
    /** Undefined when a unique code (packageCode / sku) is taken. */
    async createProduct(p: ProductInput): Promise<ProductRow | undefined> {
      const keys = Object.keys(PRODUCT_FIELDS) as (keyof ProductInput)[]
      const values = keys.map((k) => (JSON_FIELDS.has(k) && p[k] !== null ? sql.json(p[k] as never) : p[k]))
      const rows = await sql.unsafe<ProductRow[]>(
        `insert into products (${keys.map((k) => PRODUCT_FIELDS[k]).join(', ')})
         values (${keys.map((_, i) => `$${i + 1}`).join(', ')})
         on conflict do nothing returning ${COLUMNS}`,
        values as never[],
      )
      return rows[0]
    },
    /** 'CONFLICT' when a unique code is taken; undefined when there is no such product. */
    async updateProduct(id: number, patch: Partial<ProductInput>): Promise<ProductRow | 'CONFLICT' | undefined> {
      const keys = (Object.keys(patch) as (keyof ProductInput)[]).filter((k) => patch[k] !== undefined && k in PRODUCT_FIELDS)
      const values = keys.map((k) => (JSON_FIELDS.has(k) && patch[k] !== null ? sql.json(patch[k] as never) : patch[k]))
      const sets = keys.map((k, i) => `${PRODUCT_FIELDS[k]} = $${i + 2}`)
      try {
        const rows = await sql.unsafe<ProductRow[]>(
          `update products set ${[...sets, 'updated_at = now()'].join(', ')} where id = $1 returning ${COLUMNS}`,
          [id, ...values] as never[],
        )
        return rows[0]
      } catch (err) {
        if ((err as { code?: string }).code === '23505') return 'CONFLICT'
        throw err
      }
    },
    async listDeliveryMethods(activeOnly = true): Promise<DeliveryMethodRow[]> {
      return sql.unsafe<DeliveryMethodRow[]>(
        `select ${DELIVERY_COLUMNS} from delivery_methods ${activeOnly ? 'where is_active' : ''} order by display_order, code`,
      )
    },
  }
}

/** The delivery methods a product offers: none for credits; its own list (or every active one) for goods. */
export function deliveryOptions(p: ProductRow, methods: DeliveryMethodRow[]): DeliveryMethodRow[] {
  if (p.kind !== 'goods') return []
  return methods.filter((m) => m.isActive && (p.deliveryMethods === null || p.deliveryMethods.includes(m.code)))
}

export function presentDeliveryMethod(m: DeliveryMethodRow) {
  return {
    id: m.code,
    code: m.code,
    name: m.name,
    icon: m.icon,
    baseFee: fenToYuanNumber(m.baseFeeFen),
    requiresAddress: m.requiresAddress,
  }
}

/** Seed 001's product shape (camelCase), for credit products and goods alike. */
export function presentProduct(p: ProductRow) {
  const custom = p.packageType === 'CUSTOM'
  return {
    id: p.id,
    kind: p.kind,
    name: p.name,
    description: p.description,
    credits: p.credits,
    price: fenToYuanNumber(p.priceFen),
    originalPrice: fenToYuanNumber(p.originalPriceFen),
    imageUrl: p.imageUrl,
    isActive: p.isActive,
    sortOrder: p.displayOrder,
    packageCode: p.packageCode,
    packageType: p.packageType,
    sku: p.sku,
    ...(custom ? { minCredits: p.minCredits, maxCredits: p.maxCredits, unitPrice: fenToYuanNumber(p.unitPriceFen ?? 0) } : {}),
    ...(p.kind === 'goods' ? { deliveryMethods: p.deliveryMethods } : {}),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
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
