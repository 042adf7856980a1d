// What the service is: its plugins, registered by hand in an order that is itself a security property
// (the guard must sit between the lock store and every lock route), then its routes.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { DestinationStream } from 'pino'
import type { Config } from './config.js'
import { safeErrorSerializer } from './services/safe-error.js'
import authPlugin from './plugins/auth.js'
import catalogPlugin from './plugins/catalog.js'
import configPlugin from './plugins/config.js'
import dbPlugin from './plugins/db.js'
import errorsPlugin from './plugins/errors.js'
import idempotencyPlugin from './plugins/idempotency.js'
import inboxPlugin from './plugins/inbox.js'
import lifecyclePlugin from './plugins/lifecycle.js'
import lockPlugin from './plugins/lock.js'
import metricsPlugin from './plugins/metrics.js'
import reconcilerPlugin from './plugins/reconciler.js'
import redisGuard from './plugins/redis-guard.js'
import redisPlugin from './plugins/redis.js'
import retentionPlugin from './plugins/retention.js'
import adminBoostRoutes from './routes/admin/boosts.js'
import adminEventRoutes from './routes/admin/events.js'
import adminReconcileRoutes from './routes/admin/reconcile.js'
import badgeRoutes from './routes/badges/purchase.js'
import benchRoutes from './routes/bench.js'
import webhookRoutes from './routes/billing/webhook.js'
import healthRoutes from './routes/health.js'
import metricsRoute from './routes/metrics.js'

export interface BuildOptions {
  /** Where pino writes (tests capture every line here); stdout by default. */
  logStream?: DestinationStream
}

/** Header values and config fields that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["paddle-signature"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["paddle-signature"]',
  'config.webhookSecrets',
  'config.adminTokens',
  'config.databaseUrl',
  'config.redisUrl',
  'config.redisPassword',
  'config.redisSentinelPassword',
  'config.paddleApiKey'
]

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // drizzle's errors carry SQL parameters and Postgres's quote row values: never logged.
      serializers: { err: safeErrorSerializer },
      ...(options.logStream !== undefined ? { stream: options.logStream } : {})
    },
    // Fastify would take any X-Request-Id as it is; genReqId reads it instead, and keeps it only when it is
    // short and plain, so one id follows a request across services and no log line carries a caller's essay.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    bodyLimit: config.bodyLimitBytes,
    // In-flight requests finish during a stop; the provider retries what the closed port refuses.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // Order matters (ARCHITECTURE.md, "Plugin order"): config and logging, the one error handler, the price
  // catalogue (a bad file stops the start before anything connects), Postgres, Redis, metrics, the fail-closed guard, the lock, authentication, the inbox
  // and idempotency keys that run on all of it, and only then the routes.
  await app.register(configPlugin, { config })
  await app.register(lifecyclePlugin)
  await app.register(errorsPlugin)
  await app.register(catalogPlugin)
  await app.register(dbPlugin)
  await app.register(redisPlugin)
  await app.register(metricsPlugin)
  await app.register(redisGuard)
  await app.register(lockPlugin)
  await app.register(authPlugin)
  await app.register(inboxPlugin)
  await app.register(idempotencyPlugin)
  await app.register(retentionPlugin)
  await app.register(reconcilerPlugin)

  await app.register(healthRoutes)
  await app.register(metricsRoute)
  await app.register(webhookRoutes)
  await app.register(adminEventRoutes)
  await app.register(adminReconcileRoutes)
  await app.register(adminBoostRoutes)
  await app.register(badgeRoutes)
  if (config.benchRoutes) await app.register(benchRoutes)

  return app
}
