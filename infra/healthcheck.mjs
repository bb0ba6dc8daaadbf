// Docker HEALTHCHECK (and docker-compose's): exit 0 when GET /readyz on this container answers 2xx.
// /readyz also checks the database of main, pay and the sandbox. PORT falls back to the service's
// default, as in its config.ts.
const DEFAULT_PORTS = { main: 8080, pay: 8081, sandbox: 8090, web: 3000 }
const port = process.env.PORT || DEFAULT_PORTS[process.env.SERVICE ?? ''] || 8080
try {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2500) })
  process.exit(res.ok ? 0 : 1)
} catch {
  process.exit(1)
}
