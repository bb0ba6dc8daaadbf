/**
 * The baselines `pnpm bench` compares against: a bare fastify answering main's catalogue bytes, and a bare
 * fastify doing one postgres.js primary-key SELECT. Run as its own process, like the services.
 */
import Fastify from 'fastify'
import postgres from 'postgres'

const port = Number(process.env.PORT)
const sql = postgres(process.env.DATABASE_URL!, { max: 20, onnotice: () => {} })
const app = Fastify({ logger: false })
// The same bytes as main's GET /api/credits/packages (body and headers), fetched once: the gap the bench
// measures is then main's pipeline (server-kit hooks, headers, request ids, metrics), not a smaller answer.
const catalogue = await fetch(`${process.env.MAIN_URL}/api/credits/packages`)
if (!catalogue.ok) throw new Error(`baseline: main's catalogue answered ${catalogue.status}`)
const catalogueBody = Buffer.from(await catalogue.arrayBuffer())
// Its headers too, as fixed values (the request id one of the same length): the work of making them is main's pipeline,
// the bytes on the wire are the answer's. Node writes date, length and the connection's own.
const perConnection = new Set(['date', 'content-length', 'connection', 'keep-alive', 'transfer-encoding'])
const catalogueHeaders = Object.fromEntries(
  [...catalogue.headers]
    .filter(([name]) => !perConnection.has(name))
    .map(([name, value]) => [name, name === 'x-request-id' ? 'r'.repeat(value.length) : value]),
)
app.get('/catalogue', (_req, reply) => {
  void reply.headers(catalogueHeaders).send(catalogueBody)
})
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
