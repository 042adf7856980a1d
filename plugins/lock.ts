// Wires the LVVER pipeline to this instance: the lock store, per-type fallback buckets, metrics and the
// TTL policy. Everything lock-dependent runs through `app.lvver`.
import fp from 'fastify-plugin'
import { HANDLED_EVENT_TYPES } from '../services/events/index.js'
import { runLvver, type LvverJob, type LvverOutcome } from '../services/lvver.js'
import { TokenBuckets } from '../services/token-bucket.js'
import { lockTtlMs } from '../services/ttl-policy.js'
import { ROUTE_LOCK_TYPES } from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    lvver<P, R>(job: LvverJob<P, R>): Promise<LvverOutcome<R>>
  }
}

export default fp(async function lockPlugin (app) {
  const { config, metrics, lockStore } = app
  const buckets = new TokenBuckets(
    config.fallbackBucketSize,
    config.fallbackRefillPerSecond,
    new Set([...HANDLED_EVENT_TYPES, ...ROUTE_LOCK_TYPES])
  )
  const deps = {
    locks: lockStore,
    buckets,
    log: app.log,
    ttlMs: (type: string) => lockTtlMs(type, config),
    markerTtlMs: config.processedTtlSeconds * 1000,
    metrics: {
      lockContention: (type: string) => { metrics.lockContention.inc({ event_type: metrics.typeLabel(type) }) },
      lockFallback: (type: string, allowed: boolean) => {
        metrics.lockFallback.inc()
        metrics.rateLimiter.inc({ event_type: buckets.keyFor(type), result: allowed ? 'allowed' : 'rejected' })
      },
      lockTtlExhausted: () => { metrics.ttlExhausted.inc() }
    }
  }
  app.decorate('lvver', <P, R>(job: LvverJob<P, R>) => runLvver(deps, job))
}, { name: 'lock', dependencies: ['config', 'redis', 'metrics'] })
