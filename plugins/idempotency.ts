// Idempotency-Key on this instance (services/idempotency.ts): the admin and member POST routes call
// `app.idempotency.run(...)` through their services.
import fp from 'fastify-plugin'
import { Idempotency } from '../services/idempotency.js'

declare module 'fastify' {
  interface FastifyInstance {
    idempotency: Idempotency
  }
}

export default fp(async function idempotencyPlugin (app) {
  const { metrics } = app
  app.decorate('idempotency', new Idempotency({
    database: app.database,
    lvver: (job) => app.lvver(job),
    observe: (scope, result, startedAt) => { metrics.observe(scope, result, startedAt) }
  }))
}, { name: 'idempotency', dependencies: ['db', 'lock', 'metrics'] })
