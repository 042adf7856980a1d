// Shutdown state: readiness turns 503 the moment a stop begins, before the port closes.
import fp from 'fastify-plugin'

export interface Lifecycle {
  shuttingDown: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

export default fp(async function lifecyclePlugin (app) {
  const lifecycle: Lifecycle = { shuttingDown: false }
  app.decorate('lifecycle', lifecycle)
  app.addHook('preClose', async () => { lifecycle.shuttingDown = true })
}, { name: 'lifecycle' })
