// Idempotency-Key for the admin and member POST routes (DESIGN §4): a thin adapter from a request to the
// idempotency LVVER job (services/idempotency-job.ts), and from its outcome to the answer: the first
// answer for a new key, that same answer replayed for the same key and body, 422 for another body.
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Tx } from '../db/client.js'
import { BadRequestError } from '../services/errors.js'
import {
  findRecorded, idempotencyJob, requestHash, type StoredAnswer
} from '../services/idempotency-job.js'
import { sendBusy } from '../routes/busy.js'

export { canonicalJson, IDEMPOTENCY_FENCE, requestHash, type StoredAnswer } from '../services/idempotency-job.js'

export interface IdempotentOptions {
  /** Key space and lock type: `admin_boost`, `badge_purchase`. */
  scope: string
  /** The route's writes, inside the transaction that also records the key. */
  effect: (tx: Tx) => Promise<StoredAnswer>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Answers an Idempotency-Key request: LVVER on `<scope>:<key>`, then the first answer or its replay. */
    idempotent(request: FastifyRequest, reply: FastifyReply, options: IdempotentOptions): Promise<FastifyReply>
  }
}

/** The answers an idempotent route gives besides its own success: 409 (in progress, or the route's own
 * conflict), 422 (key reused), 429 (fallback spent). 400, 401 and 503 come from the error handler and the guard. */
const ErrorAnswer = Type.Object({
  error: Type.String(),
  message: Type.String(),
  status: Type.Optional(Type.String()),
  retryAfter: Type.Optional(Type.Integer())
})
export const IDEMPOTENT_ERROR_RESPONSES = { 409: ErrorAnswer, 422: ErrorAnswer, 429: ErrorAnswer }

// Printable ASCII without space: safe in a Redis key, a log line and a Postgres text key alike.
const KEY = /^[\x21-\x7E]{1,255}$/

/** The request's Idempotency-Key, or a 400 that names the header. */
export function idempotencyKeyOf (request: FastifyRequest): string {
  const header = request.headers['idempotency-key']
  if (header === undefined || header === '') {
    throw new BadRequestError('The Idempotency-Key header is required')
  }
  if (typeof header !== 'string' || !KEY.test(header)) {
    throw new BadRequestError('The Idempotency-Key header must be 1-255 printable ASCII characters without spaces')
  }
  return header
}

export default fp(async function idempotencyPlugin (app) {
  const { db, metrics, config } = app
  const ttlMs = config.lockTtlExtendedSeconds * 1000

  app.decorate('idempotent', async function idempotent (request: FastifyRequest, reply: FastifyReply, options: IdempotentOptions) {
    const started = performance.now()
    const { scope } = options
    let key: string
    try {
      key = idempotencyKeyOf(request)
    } catch (err) {
      metrics.webhookEvents.inc({ event_type: metrics.typeLabel(scope), result: 'invalid' })
      throw err
    }
    const hash = requestHash(scope, request.body)

    let result = 'error'
    try {
      const outcome = await app.lvver(idempotencyJob(db, { scope, key, hash, ttlMs, effect: options.effect }))
      result = outcome.kind
      if (outcome.kind === 'in_progress' || outcome.kind === 'fallback_exhausted') {
        return sendBusy(reply, outcome.kind)
      }
      if (outcome.kind === 'processed' || outcome.kind === 'ignored') {
        return reply.code(outcome.result.answer.statusCode).send(outcome.result.answer.body)
      }
      // A duplicate: the first answer is in Postgres (the Redis marker and the fence only say that it exists).
      const recorded = outcome.result ?? await findRecorded(db, scope, key)
      if (recorded === undefined) throw new Error(`idempotency key ${scope}:${key} reported done but not found`)
      if (recorded.requestHash !== hash) {
        result = 'key_reused'
        return reply.code(422).send({
          error: 'idempotency_key_reused',
          message: 'This Idempotency-Key was used with a different request body; use a new key for a new request.'
        })
      }
      return reply.code(recorded.answer.statusCode).header('idempotent-replayed', 'true').send(recorded.answer.body)
    } finally {
      metrics.observe(scope, result, started)
    }
  })
}, { name: 'idempotency', dependencies: ['db', 'lock', 'metrics'] })
