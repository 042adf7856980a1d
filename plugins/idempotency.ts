// Idempotency-Key on this instance (services/idempotency.ts): the admin and member POST routes call
// `app.idempotency.run(...)` through their services.
import fp from 'fastify-plugin'
import type { FastifyReply } from 'fastify'
import { Idempotency, type StoredAnswer } from '../services/idempotency.js'

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

/** Answers what an Idempotency-Key request got: the first answer, or its replay marked as such. */
export function sendIdempotent (reply: FastifyReply, { answer, replayed }: { answer: StoredAnswer, replayed: boolean }): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true')
  return reply.code(answer.statusCode).send(answer.body)
}
