/**
 * `/api/admin/*` (role admin, checked against the database on every request, not only the token):
 * one file per resource under routes/admin/ — products, orders (refunds, shipping), users and credit
 * adjustments, daily stats — plus reconciliation and pay's event outbox, forwarded to pay.
 */
import { AppError } from '@paysys/contracts'
import type { MainApp } from '../deps.ts'
import { adminOrderRoutes } from './admin/orders.ts'
import { adminProductRoutes } from './admin/products.ts'
import { adminStatsRoutes } from './admin/stats.ts'
import { adminUserRoutes } from './admin/users.ts'
import { eventAdminRoutes } from './events-admin.ts'
import { adminConsoleRoutes } from './admin-console.ts'
import { reconciliationAdminRoutes } from './reconciliations.ts'

export async function adminRoutes(app: MainApp) {
  const { users } = app.deps

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/admin/') && req.url !== '/api/admin') return
    await app.requireUser(req, reply)
    const me = await users.findById(req.user.id)
    if (!me) throw new AppError(401, 'UNAUTHORIZED', '用户不存在')
    if (me.role !== 'admin') throw new AppError(403, 'FORBIDDEN', '需要管理员权限')
  })

  // Registered inside this plugin, so the admin check above applies to every one of them.
  await app.register(adminProductRoutes)
  await app.register(adminOrderRoutes)
  await app.register(adminUserRoutes)
  await app.register(adminStatsRoutes)
  await app.register(reconciliationAdminRoutes)
  await app.register(eventAdminRoutes)
  await app.register(adminConsoleRoutes)
}
