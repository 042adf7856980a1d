// GET /metrics: Prometheus text format from this instance's registry.
import type { FastifyPluginAsync } from 'fastify'

const metricsRoute: FastifyPluginAsync = async (app) => {
  app.get('/metrics', async (_request, reply) => {
    const { registry } = app.metrics
    return reply.header('content-type', registry.contentType).send(await registry.metrics())
  })
}

export default metricsRoute
