// Wires the LVVER pipeline to this instance: lock store, per-type fallback buckets, metrics, TTL policy.
import fp from 'fastify-plugin'
import { HANDLED_EVENT_TYPES } from '../services/events/index.js'
import { runLvver, type LvverJob, type LvverOutcome } from '../services/lvver.js'
import { TokenBuckets } from '../services/token-bucket.js'
import { lockTtlMs } from '../services/ttl-policy.js'
import { ROUTE_LOCK_TYPES } from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    lvver<R>(job: LvverJob<R>): Promise<LvverOutcome<R>>
    /** Lock TTL in ms for a `custom_data.type` (or an admin route's lock type). */
    lockTtlMs(customType: unknown): number
    fallbackBuckets: TokenBuckets
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
  app.decorate('fallbackBuckets', buckets)
  app.decorate('lvver', <R>(job: LvverJob<R>) => runLvver(deps, job))
  app.decorate('lockTtlMs', (customType: unknown) => lockTtlMs(customType, config))
}, { name: 'lock', dependencies: ['config', 'redis', 'metrics'] })
