// The inbox on this instance: every event's way through LVVER (services/inbox.ts), fed by the webhook
// route, the operator's replays and the reconciler; and the gauges of what waits in it.
import fp from 'fastify-plugin'
import { Inbox } from '../services/inbox.js'

declare module 'fastify' {
  interface FastifyInstance {
    inbox: Inbox
  }
}

export default fp(async function inboxPlugin (app) {
  const { config, metrics } = app
  const inbox = new Inbox({
    database: app.database,
    catalog: app.catalog,
    lvver: (job) => app.lvver(job),
    lockReady: () => app.lockStore.isReady(),
    webhook: { secrets: config.webhookSecrets, toleranceSeconds: config.webhookToleranceSeconds },
    log: app.log,
    observe: (type, result, startedAt) => { metrics.observe(type, result, startedAt) }
  })
  metrics.inboxProbe = () => inbox.waiting()
  app.decorate('inbox', inbox)
}, { name: 'inbox', dependencies: ['db', 'catalog', 'lock', 'metrics'] })
