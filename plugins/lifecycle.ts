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
  // A keep-alive connection whose request is still running when the stop begins would stay open after
  // its answer and hold server.close() for Fastify's keepAliveTimeout (72 s), past the grace period. So
  // from the stop on, every answer closes its connection.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.shuttingDown) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'lifecycle' })
