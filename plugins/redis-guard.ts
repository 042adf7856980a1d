// Fail closed: routes whose config says `lock: true` answer 503 while Redis is not healthy, before the
// body is parsed and before any handler runs. Modelled on @fastify/under-pressure: the hook only reads a
// flag (no I/O per request), and the error is built once and handed to the error handler.
import fp from 'fastify-plugin'
import { ServiceUnavailableError, refusal } from '../services/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route runs LVVER and must not serve without a healthy lock store. */
    lock?: boolean
  }
}

export default fp(async function redisGuard (app) {
  const { lockStore, metrics, config } = app
  const unavailable = refusal(
    new ServiceUnavailableError('The lock store (Redis) is unavailable; this route fails closed. Retry later.'),
    { retryAfter: config.retryAfterSeconds }
  )

  app.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.config.lock !== true || lockStore.isReady()) {
      done()
      return
    }
    metrics.failClosed.inc({ route: request.routeOptions.url ?? 'unknown' })
    done(unavailable)
  })
}, { name: 'redis-guard', dependencies: ['redis', 'metrics', 'errors'] })
