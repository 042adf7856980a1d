// Idempotency-Key for the admin and member POST routes (DESIGN §4): LVVER on `<scope>:<key>`, the key's
// row committed in the same transaction as the effect, the first answer replayed for the same key.
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import { eq } from 'drizzle-orm'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Tx } from '../db/client.js'
import { idempotencyKeys } from '../db/schema.js'
import { BadRequestError } from '../services/errors.js'
import type { LvverJob } from '../services/lvver.js'
import { sendBusy } from '../routes/busy.js'

/** What a route's effect answers; it is stored under the key and replayed as it was. */
export interface StoredAnswer {
  statusCode: number
  body: Record<string, unknown>
}

export interface IdempotentOptions {
  /** Key space and lock type: `admin_boost`, `badge_purchase`. */
  scope: string
  /** The route's writes, inside the transaction that also records the key. */
  effect: (tx: Tx) => Promise<StoredAnswer>
}

declare module 'fastify' {
  interface FastifyInstance {
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

const KEY = /^[\x21-\x7E]{1,255}$/
export const IDEMPOTENCY_FENCE = 'idempotency_keys_pkey'

/** JSON with sorted keys, so `{a,b}` and `{b,a}` hash alike. */
export function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export function requestHash (scope: string, body: unknown): string {
  return createHash('sha256').update(scope).update('\n').update(canonicalJson(body)).digest('hex')
}

interface Recorded { requestHash: string, answer: StoredAnswer }

export default fp(async function idempotencyPlugin (app) {
  const { db, metrics, config } = app
  const ttlMs = config.lockTtlExtendedSeconds * 1000

  async function find (recordKey: string): Promise<Recorded | undefined> {
    const [row] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, recordKey)).limit(1)
    if (row === undefined) return undefined
    return { requestHash: row.requestHash, answer: { statusCode: row.statusCode, body: row.response as Record<string, unknown> } }
  }

  app.decorate('idempotent', async function idempotent (request: FastifyRequest, reply: FastifyReply, options: IdempotentOptions) {
    const started = performance.now()
    const header = request.headers['idempotency-key']
    if (typeof header !== 'string' || header === '') {
      throw new BadRequestError('The Idempotency-Key header is required')
    }
    if (!KEY.test(header)) {
      throw new BadRequestError('The Idempotency-Key header must be 1-255 printable ASCII characters without spaces')
    }
    const { scope } = options
    const recordKey = `${scope}:${header}`
    const hash = requestHash(scope, request.body)

    const job: LvverJob<Recorded> = {
      scope,
      id: header,
      type: scope,
      ttlMs,
      fenceConstraint: IDEMPOTENCY_FENCE,
      findRecorded: () => find(recordKey),
      validate: () => ({ ok: true }),
      execute: () => db.transaction(async (tx) => {
        const answer = await options.effect(tx)
        await tx.insert(idempotencyKeys).values({
          key: recordKey, scope, requestHash: hash, statusCode: answer.statusCode, response: answer.body
        })
        return { requestHash: hash, answer }
      }),
      recordIgnored: () => { throw new Error('idempotent requests are never ignored') }
    }

    let result = 'error'
    try {
      const outcome = await app.lvver(job)
      result = outcome.kind
      if (outcome.kind === 'in_progress' || outcome.kind === 'fallback_exhausted') {
        return sendBusy(reply, outcome.kind)
      }
      if (outcome.kind === 'processed' || outcome.kind === 'ignored') {
        return reply.code(outcome.result.answer.statusCode).send(outcome.result.answer.body)
      }
      // A duplicate: the first answer is in Postgres (the Redis marker only says that it exists).
      const recorded = outcome.result ?? await find(recordKey)
      if (recorded === undefined) throw new Error(`idempotency key ${recordKey} reported done but not found`)
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
