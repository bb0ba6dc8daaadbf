/**
 * What routes are given: the app (`MainApp`, fastify with TypeBox types) decorated with `deps`.
 * Routes import their types from here, never from app.ts, so no route depends on the file that
 * registers it (no import loops). Routes validate, call a service and present; no SQL handle is here.
 */
import type { App } from '@paysys/server-kit'
import type { MainConfig } from './config.ts'
import type { Accounts } from './accounts.ts'
import type { AdminConsole } from './admin-console.ts'
import type { CatalogRepo } from './catalog.ts'
import type { CatalogAdmin } from './catalog-admin.ts'
import type { CheckoutService } from './checkout.ts'
import type { CreditsService } from './credits.ts'
import type { Ledger } from './ledger.ts'
import type { MiniProgram } from './dialects/mini-program/service.ts'
import type { OrderSweeper } from './orders/sweeper.ts'
import type { OrdersRepo } from './orders/repo.ts'
import type { PayClient } from './pay-client.ts'
import type { PaymentsService } from './payments.ts'
import type { RefundService } from './refunds.ts'
import type { NonceStore } from './service-calls.ts'
import type { Stats } from './stats.ts'
import type { UsersRepo } from './users.ts'

export interface MainDeps {
  config: Readonly<MainConfig>
  users: UsersRepo
  accounts: Accounts
  catalog: CatalogRepo
  catalogAdmin: CatalogAdmin
  orders: OrdersRepo
  pay: PayClient
  payments: PaymentsService
  checkout: CheckoutService
  ledger: Ledger
  credits: CreditsService
  refunds: RefundService
  stats: Stats
  /** Read-only queries of the operator console (routes/admin-console.ts). */
  adminConsole: AdminConsole
  /** Replay protection of signed service calls. */
  nonces: NonceStore
  /** Expiry / trade close / refund retry / reconciliation tasks; server.ts starts them on pg-boss, closing the app stops them. */
  sweeper: OrderSweeper
  /** Seed 001's dialect (dialects/mini-program/). */
  miniProgram: MiniProgram
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: MainDeps
  }
  interface FastifyRequest {
    rawBody?: string
  }
}

/** The app as routes see it. */
export type MainApp = App
