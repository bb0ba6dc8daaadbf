import { loadConfigOrExit } from '@paysys/config'
import { listenAndHandleSignals } from '@paysys/server-kit'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

const config = loadConfigOrExit(() => loadConfig())
const app = await buildApp(config)
await listenAndHandleSignals(app, config.port, config.host, async () => {})
app.log.info({ mainUrl: config.mainUrl }, `checkout web app on http://localhost:${config.port}`)
