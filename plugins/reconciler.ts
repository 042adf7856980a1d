// Wires the reconciler to this instance: Paddle's event log through the inbox, its metrics, and its timer
// (started once the app is ready, stopped on close). Without PADDLE_API_KEY there is no reconciler.
import fp from 'fastify-plugin'
import { PaddleEventsClient } from '../services/reconcile/client.js'
import { systemClock } from '../services/reconcile/clock.js'
import { Reconciler } from '../services/reconcile/scheduler.js'
import type { EventResult } from '../services/reconcile/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when PADDLE_API_KEY is unset. */
    reconciler: Reconciler | null
  }
}

export const RECONCILE_RESULTS: readonly EventResult[] = [
  'processed', 'duplicate', 'ignored', 'needs_review', 'failed', 'in_progress', 'unavailable', 'skipped', 'invalid'
]

export default fp(async function reconcilerPlugin (app) {
  const { config, metrics } = app
  if (config.paddleApiKey === undefined) {
    app.decorate('reconciler', null)
    return
  }
  // Every result exists from the start, so a rate over it is defined before the first event.
  for (const result of RECONCILE_RESULTS) metrics.reconcileEvents.inc({ result }, 0)
  const log = app.log.child({ component: 'reconcile' })
  const reconciler = new Reconciler({
    database: app.database,
    client: new PaddleEventsClient({ apiKey: config.paddleApiKey, baseUrl: config.paddleApiUrl, clock: systemClock, log }),
    apply: (event, source) => app.inbox.apply(event, source),
    log,
    metrics: { event: (result) => { metrics.reconcileEvents.inc({ result }) } },
    intervalMs: config.reconcileIntervalSeconds * 1000,
    lookbackMs: config.reconcileLookbackHours * 3600 * 1000
  })
  metrics.reconcileLagProbe = () => reconciler.lagSeconds()
  app.decorate('reconciler', reconciler)
  // Passes start after the app is ready and never hold up the start. A stop interrupts a pass between two
  // events as soon as it begins (an admin request running one would otherwise hold the close), and the
  // lease is given back before Postgres closes.
  app.addHook('onReady', async () => { reconciler.start() })
  app.addHook('preClose', async () => { await reconciler.stop() })
  app.addHook('onClose', async () => { await reconciler.stop() })
}, { name: 'reconciler', dependencies: ['config', 'db', 'metrics', 'inbox'] })
