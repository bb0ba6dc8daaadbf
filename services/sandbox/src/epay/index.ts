/**
 * Epay (彩虹易支付) in the sandbox: merchant endpoints (submit.php, mapi.php, api.php), QR contents,
 * the cashier plug-in, the control API, and what the shared plumbing needs to know.
 */
import { tradeRoutes } from '../control.ts'
import type { SandboxProvider } from '../provider.ts'
import { registerEpayApi, type EpayContext } from './api.ts'
import { registerEpayV2Api } from './api-v2.ts'
import { epayCashier, registerEpayQrRoutes } from './cashier.ts'
import { readEpaySandbox, type EpaySandboxConfig } from './config.ts'
import { epayTradeControl, registerEpayControl } from './control.ts'
import { epayAck, epayScaledSchedule } from './notify.ts'

export const epay: SandboxProvider<'epay', EpaySandboxConfig> = {
  name: 'epay',
  title: '易支付',
  readConfig: readEpaySandbox,
  delivery: (config) => ({ ack: epayAck, schedule: epayScaledSchedule(config) }),

  faults: {
    // Epay has no close API.
    operations: ['create', 'query', 'refund'],
    classify(req) {
      if (req.routeUrl === '/mapi.php') return { operation: 'create', apiMethod: 'mapi' }
      if (req.routeUrl === '/api/pay/create') return { operation: 'create', apiMethod: 'v2.create' }
      if (req.routeUrl === '/api/pay/query') return { operation: 'query', apiMethod: 'v2.query' }
      if (req.routeUrl === '/api/pay/refund') return { operation: 'refund', apiMethod: 'v2.refund' }
      if (req.routeUrl !== '/api.php') return null
      const q = req.query && typeof req.query === 'object' ? (req.query as Record<string, unknown>) : {}
      if (q.act === 'order') return { operation: 'query', apiMethod: 'order' }
      if (q.act === 'refund') return { operation: 'refund', apiMethod: 'refund' }
      return null
    },
    unavailable: (reply) =>
      reply
        .header('content-type', 'text/html')
        .send(
          '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
        ),
    // A PHP error in front of a cut-short answer.
    garbage: (reply) =>
      reply
        .header('content-type', 'text/html; charset=UTF-8')
        .send(
          '<br />\n<b>Fatal error</b>:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /www/includes/lib/PdoHelper.php:21\n{"code":1,"msg":"su',
        ),
  },

  mount(app, { config, settings, sql, deliveries }) {
    const ctx: EpayContext = { config, epay: settings, sql, deliveries, modes: { refundBalanceInsufficient: false, ipLimit: null } }
    registerEpayApi(app, ctx)
    if (settings.v2) registerEpayV2Api(app, ctx)
    registerEpayQrRoutes(app, ctx)
    registerEpayControl(app, ctx)
    return { cashier: epayCashier(ctx), control: tradeRoutes(epayTradeControl(ctx)) }
  },
}
