// A prom-client registry owned by this app instance, with every metric the service exports (README, Metrics).
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { HANDLED_EVENT_TYPES } from '../services/events/index.js'

export interface Metrics {
  registry: Registry
  webhookEvents: Counter<'event_type' | 'result'>
  processingSeconds: Histogram<'result'>
  lockContention: Counter<'event_type'>
  failClosed: Counter<'route'>
  lockFallback: Counter
  rateLimiter: Counter<'event_type' | 'result'>
  ttlExhausted: Counter
  redisUp: Gauge
  inboxEvents: Gauge<'status'>
  inboxOldestSeconds: Gauge<'status'>
  /** Reads the inbox's waiting rows when Prometheus scrapes; set by the inbox plugin. */
  inboxProbe?: () => Promise<Array<{ status: string, count: number, oldestSeconds: number }>>
  retentionDeleted: Counter<'table'>
  reconcileEvents: Counter<'result'>
  reconcileLagSeconds: Gauge
  /** Set by the reconciler: its lag in seconds now, undefined on a replica that has not run a pass. */
  reconcileLagProbe?: () => number | undefined
  redisUnhealthy: Counter<'reason'>
  redisPendingCommands: Gauge
  /** Bounded label for an event type: unknown types share `other`. */
  typeLabel(type: string): string
  /** Counts one answered lock-route request and observes its duration from `startedAt` (performance.now()). */
  observe(type: string, result: string, startedAt: number): void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Lock types of the non-webhook routes, labelled like event types. */
export const ROUTE_LOCK_TYPES: ReadonlySet<string> = new Set(['admin_boost', 'badge_purchase'])

export default fp(async function metricsPlugin (app) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const { lockStore, redisHealth } = app
  const registers = [registry]
  const known = new Set([...HANDLED_EVENT_TYPES, ...ROUTE_LOCK_TYPES])

  const metrics: Metrics = {
    registry,
    webhookEvents: new Counter({
      name: 'webhook_events_total',
      help: 'Requests through the lock routes, by event type and result',
      labelNames: ['event_type', 'result'],
      registers
    }),
    processingSeconds: new Histogram({
      name: 'webhook_processing_seconds',
      help: 'Time from a verified request to its answer, through the LVVER pipeline',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    lockContention: new Counter({
      name: 'webhook_lock_contention_total',
      help: 'Requests answered 409 because another request held the lock',
      labelNames: ['event_type'],
      registers
    }),
    failClosed: new Counter({
      name: 'security_fail_closed_total',
      help: 'Requests answered 503 by redis-guard because Redis was not ready',
      labelNames: ['route'],
      registers
    }),
    lockFallback: new Counter({
      name: 'redis_lock_fallback_total',
      help: 'Lock attempts that failed on Redis after the guard and fell back to the token bucket',
      registers
    }),
    rateLimiter: new Counter({
      name: 'local_rate_limiter_requests_total',
      help: 'Token-bucket decisions during Redis fallback',
      labelNames: ['event_type', 'result'],
      registers
    }),
    ttlExhausted: new Counter({
      name: 'lock_ttl_exhausted_total',
      help: 'Locks that expired before their holder released them',
      registers
    }),
    redisUp: new Gauge({
      name: 'redis_up',
      help: '1 when Redis answers the health check (a write within its deadline), else 0 (also 0 with the in-process lock store)',
      registers,
      collect () { this.set(lockStore.kind === 'redis' && lockStore.isReady() ? 1 : 0) }
    }),
    inboxEvents: new Gauge({
      name: 'webhook_inbox_events',
      help: 'Inbox rows waiting for someone: failed (retried by the provider, a replay or the reconciler) and needs_review',
      labelNames: ['status'],
      registers,
      async collect () { await refreshInboxOnce() }
    }),
    inboxOldestSeconds: new Gauge({
      name: 'webhook_inbox_oldest_seconds',
      help: 'Age of the oldest inbox row waiting in each status',
      labelNames: ['status'],
      registers,
      async collect () { await refreshInboxOnce() }
    }),
    retentionDeleted: new Counter({
      name: 'retention_deleted_total',
      help: 'Rows deleted by retention, by table',
      labelNames: ['table'],
      registers
    }),
    reconcileEvents: new Counter({
      name: 'reconcile_events_total',
      help: 'Events seen by reconciliation passes, by outcome',
      labelNames: ['result'],
      registers
    }),
    reconcileLagSeconds: new Gauge({
      name: 'reconcile_lag_seconds',
      help: 'Now minus the time up to which Paddle\'s event log is known settled: occurred_at of the cursor\'s event, or when the last pass read the log to its end (0 on a replica that has run no pass)',
      registers,
      collect () { this.set(metrics.reconcileLagProbe?.() ?? 0) }
    }),
    redisUnhealthy: new Counter({
      name: 'redis_unhealthy_total',
      help: 'Times the Redis health check closed the lock routes, by reason',
      labelNames: ['reason'],
      registers
    }),
    redisPendingCommands: new Gauge({
      name: 'redis_pending_commands',
      help: 'Commands the Redis client holds (sent and unanswered, or waiting); bounded however long Redis stalls',
      registers,
      collect () { this.set(redisHealth?.pending() ?? 0) }
    }),
    typeLabel: (type) => known.has(type) ? type : 'other',
    observe (type, result, startedAt) {
      this.webhookEvents.inc({ event_type: this.typeLabel(type), result })
      this.processingSeconds.observe({ result }, (performance.now() - startedAt) / 1000)
    }
  }
  // Both inbox gauges come from one query. A scrape collects its metrics concurrently, so each gauge
  // awaits the same query in flight: neither may be read before it ends. A scrape never waits more
  // than a second for it, and a failed one leaves the last values.
  let refreshing: Promise<void> | undefined
  function refreshInboxOnce (): Promise<void> {
    refreshing ??= refreshInbox().finally(() => { refreshing = undefined })
    return refreshing
  }
  async function refreshInbox (): Promise<void> {
    if (metrics.inboxProbe === undefined) return
    try {
      const waiting = await Promise.race([metrics.inboxProbe(), new Promise<never>((_resolve, reject) => {
        setTimeout(() => { reject(new Error('inbox probe timed out')) }, 1000).unref()
      })])
      for (const status of ['failed', 'needs_review']) {
        const row = waiting.find((entry) => entry.status === status)
        metrics.inboxEvents.set({ status }, row?.count ?? 0)
        metrics.inboxOldestSeconds.set({ status }, row?.oldestSeconds ?? 0)
      }
    } catch (err) {
      app.log.warn({ err }, 'could not read the inbox for its gauges')
    }
  }
  redisHealth?.on('change', (state) => { if (state.reason !== undefined) metrics.redisUnhealthy.inc({ reason: state.reason }) })
  app.decorate('metrics', metrics)
}, { name: 'metrics', dependencies: ['redis'] })
