// Wires the reconciler to this instance: Paddle's event log through the inbox, its metrics, and its timer
// (started once the app is ready, stopped on close). Without PADDLE_API_KEY there is no reconciler.
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
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
  'processed', 'duplicate', 'ignored', 'needs_review', 'failed', 'in_progress', 'unavailable', 'skipped'
]

export default fp(async function reconcilerPlugin (app) {
  const { config } = app
  const registers = [app.metrics.registry]
  let reconciler: Reconciler | null = null

  const events = new Counter({
    name: 'reconcile_events_total',
    help: 'Events read from Paddle\'s event log by reconciliation passes, by how each was settled',
    labelNames: ['result'],
    registers
  })
  new Gauge({
    name: 'reconcile_lag_seconds',
    help: 'Now minus the time up to which Paddle\'s event log is known settled (the cursor\'s event, or the last pass that read the log to its end); 0 on a replica that has not run a pass',
    registers,
    collect () { this.set(reconciler?.lagSeconds() ?? 0) }
  })
  // Every result exists from the start, so a rate over it is defined before the first event.
  for (const result of RECONCILE_RESULTS) events.inc({ result }, 0)

  if (config.paddleApiKey === undefined) {
    app.decorate('reconciler', null)
    return
  }
  const log = app.log.child({ component: 'reconcile' })
  reconciler = new Reconciler({
    db: app.db,
    client: new PaddleEventsClient({ apiKey: config.paddleApiKey, baseUrl: config.paddleApiUrl, clock: systemClock, log }),
    apply: app.inbox.apply,
    log,
    metrics: { event: (result) => { events.inc({ result }) } },
    intervalMs: config.reconcileIntervalSeconds * 1000,
    lookbackMs: config.reconcileLookbackHours * 3600 * 1000
  })
  const running = reconciler
  app.decorate('reconciler', running)
  // Passes start after the app is ready and never hold up the start. A stop interrupts a pass between two
  // events as soon as it begins (an admin request running one would otherwise hold the close), and the
  // lease is given back before Postgres closes.
  app.addHook('onReady', async () => { running.start() })
  app.addHook('preClose', async () => { await running.stop() })
  app.addHook('onClose', async () => { await running.stop() })
}, { name: 'reconciler', dependencies: ['config', 'db', 'metrics', 'inbox'] })
