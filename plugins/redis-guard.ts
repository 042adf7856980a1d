// Fail closed: routes whose config says `lock: true` answer 503 while Redis is not ready, before the
// body is parsed and before any handler runs. Modelled on @fastify/under-pressure: the hook only reads
// a state flag (no I/O per request), and the error body is built once.
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route runs LVVER and must not serve without a lock store. */
    lock?: boolean
  }
}

export default fp(async function redisGuard (app) {
  const { lockStore, metrics, config } = app
  const retryAfter = String(config.retryAfterSeconds)
  const body = JSON.stringify({
    error: 'service_unavailable',
    message: 'The lock store (Redis) is unavailable; this route fails closed. Retry later.',
    retryAfter: config.retryAfterSeconds
  })

  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config.lock !== true || lockStore.isReady()) {
      done()
      return
    }
    metrics.failClosed.inc({ route: request.routeOptions.url ?? 'unknown' })
    reply.code(503)
      .header('retry-after', retryAfter)
      .header('content-type', 'application/json; charset=utf-8')
      .send(body)
  })
}, { name: 'redis-guard', dependencies: ['redis', 'metrics'] })
