// Kubernetes probes and the security view. None of these routes needs Redis to answer.
import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import { ErrorBody } from '../plugins/errors.js'
import { NotReadyError, ServiceUnavailableError, refusal } from '../services/errors.js'

const Check = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unavailable')]),
  checks: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
}, { additionalProperties: true })

const PING_TIMEOUT_MS = 1000

const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health/live', { schema: { response: { 200: Check } } }, async () => ({ status: 'ok' as const }))

  // A 503 here is a refusal like any other (one error path): `{ error, message }` plus the checks.
  const notReady = (message: string, checks: Record<string, unknown>) =>
    refusal(new NotReadyError(message), { body: { status: 'unavailable', checks } })

  app.get('/health/ready', { schema: { response: { 200: Check, 503: ErrorBody } } }, async (request) => {
    if (app.lifecycle.shuttingDown) throw notReady('The service is stopping.', { shuttingDown: true })
    try {
      await withTimeout(app.database.ping(), PING_TIMEOUT_MS)
    } catch (err) {
      request.log.warn({ err }, 'readiness: database unreachable')
      throw notReady('Postgres does not answer.', { database: 'unreachable', migrations: 'applied' })
    }
    // The db plugin applies migrations before the app can serve, so reaching here means applied.
    return { status: 'ok' as const, checks: { database: 'ok', migrations: 'applied' } }
  })

  app.get('/health/security', { schema: { response: { 200: Check, 503: ErrorBody } } }, async () => {
    const { lockStore, metrics, redisHealth } = app
    const ready = lockStore.isReady()
    const health = redisHealth?.state()
    const counters = async (metric: { get(): Promise<{ values: Array<{ value: number, labels: object }> }> }) =>
      (await metric.get()).values.map(({ value, labels }) => ({ labels, value }))
    const body = {
      status: ready ? 'ok' as const : 'degraded' as const,
      checks: {
        lockStore: lockStore.kind,
        redis: app.redis === null ? 'not_configured' : app.redis.status,
        ...(redisHealth !== null && health !== undefined
          ? { topology: redisHealth.topology, ...(health.reason !== undefined ? { reason: health.reason } : {}), since: new Date(health.since).toISOString() }
          : {}),
        failClosed: ready ? 'open' : 'lock routes answer 503',
        counters: {
          security_fail_closed_total: await counters(metrics.failClosed),
          redis_lock_fallback_total: await counters(metrics.lockFallback),
          local_rate_limiter_requests_total: await counters(metrics.rateLimiter),
          lock_ttl_exhausted_total: await counters(metrics.ttlExhausted)
        }
      }
    }
    if (!ready) {
      throw refusal(new ServiceUnavailableError('Redis is not healthy: the lock routes fail closed.'), { body })
    }
    return body
  })
}

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export default healthRoutes
