/**
 * The baselines `pnpm bench` compares against: a bare fastify with a constant route, and a bare
 * fastify doing one postgres.js primary-key SELECT. Run as its own process, like the services.
 */
import Fastify from 'fastify'
import postgres from 'postgres'

const port = Number(process.env.PORT)
const sql = postgres(process.env.DATABASE_URL!, { max: 20, onnotice: () => {} })
const app = Fastify({ logger: false })
const constant = { code: 200, message: 'ok', data: [{ id: 1, packageCode: 'CREDITS_200' }], timestamp: 0 }
app.get('/const', async () => constant)
app.get('/order/:id', async (req) => {
  const rows = await sql`select id, order_no, status, paid_at from orders where id = ${Number((req.params as { id: string }).id)}`
  return { code: 200, data: rows[0] ?? null }
})
app.get('/healthz', async () => ({ ok: true }))
await app.listen({ port, host: '127.0.0.1' })
process.on(
  'SIGTERM',
  () =>
    void app
      .close()
      .then(() => sql.end())
      .then(() => process.exit(0)),
)
