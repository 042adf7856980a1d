// Idempotency-Key for the admin and member POST routes: LVVER on `<scope>:<key>`, the key's row written
// in the same transaction as the route's effect, and the first answer replayed for the same key and body.
import { createHash } from 'node:crypto'
import type { Database, Queryable } from '../db/client.js'
import { statements } from '../db/statements.js'
import {
  BUSY_RETRY_AFTER_SECONDS, BadRequestError, FallbackExhaustedError, InProgressError, KeyReusedError, isRefusal, refusal
} from './errors.js'
import type { LvverJob, LvverOutcome } from './lvver.js'

/** What a route's effect answers; stored under the key and replayed as it was. */
export interface StoredAnswer {
  statusCode: number
  body: Record<string, unknown>
}

/** A key's record: the hash of the request that made it, and that request's answer. */
export interface Recorded {
  requestHash: string
  answer: StoredAnswer
}

export interface IdempotencyDeps {
  database: Database
  lvver<P, R>(job: LvverJob<P, R>): Promise<LvverOutcome<R>>
  /** Counts one request and its duration; called exactly once per request. */
  observe(scope: string, result: string, startedAt: number): void
}

// Printable ASCII without space: safe in a Redis key, a log line and a Postgres text key alike.
const KEY = /^[\x21-\x7E]{1,255}$/

/** JSON with sorted keys and no undefined members, so `{a,b}` and `{b,a}` hash alike. */
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

/** The fingerprint a reused key is compared by: the route's scope and its validated body. */
export function requestHash (scope: string, body: unknown): string {
  return createHash('sha256').update(scope).update('\n').update(canonicalJson(body)).digest('hex')
}

/** The Idempotency-Key header's value, or a 400 that names the header. */
export function idempotencyKeyOf (header: string | string[] | undefined): string {
  if (header === undefined || header === '') throw new BadRequestError('The Idempotency-Key header is required')
  if (typeof header !== 'string' || !KEY.test(header)) {
    throw new BadRequestError('The Idempotency-Key header must be 1-255 printable ASCII characters without spaces')
  }
  return header
}

/** The primary key of a record: scoped, so one key sent to two routes makes two requests. */
export const recordKey = (scope: string, key: string): string => `${scope}:${key}`

export class Idempotency {
  constructor (private readonly deps: IdempotencyDeps) {}

  /**
   * The first answer for a new key (from `effect`, run in the transaction that records the key), that
   * same answer for the same key and body (`replayed`), or a refusal: 400 no key, 409 in progress,
   * 422 another body, 429 fallback spent.
   */
  async run (scope: string, header: string | string[] | undefined, body: unknown, effect: (tx: Queryable) => Promise<StoredAnswer>): Promise<{ answer: StoredAnswer, replayed: boolean }> {
    const started = performance.now()
    let result = 'error'
    try {
      const key = idempotencyKeyOf(header)
      const hash = requestHash(scope, body)
      const outcome = await this.deps.lvver(this.job(scope, key, hash, effect))
      if (outcome.kind === 'in_progress') {
        throw refusal(new InProgressError(), { retryAfter: BUSY_RETRY_AFTER_SECONDS, body: { status: 'in_progress' } })
      }
      if (outcome.kind === 'fallback_exhausted') throw refusal(new FallbackExhaustedError(), { retryAfter: BUSY_RETRY_AFTER_SECONDS })
      if (outcome.kind === 'done') {
        result = 'processed'
        return { answer: outcome.result.answer, replayed: false }
      }
      // A duplicate: the first answer is in Postgres (the Redis marker and the gate only say that it exists).
      const recorded = outcome.result ?? await this.find(scope, key)
      if (recorded === undefined) throw new Error(`idempotency key ${recordKey(scope, key)} is marked done but has no record`)
      if (recorded.requestHash !== hash) throw new KeyReusedError()
      result = 'duplicate'
      return { answer: recorded.answer, replayed: true }
    } catch (err) {
      if (isRefusal(err)) result = REFUSALS[err.code] ?? 'refused'
      throw err
    } finally {
      this.deps.observe(scope, result, started)
    }
  }

  private async find (scope: string, key: string): Promise<Recorded | undefined> {
    const { rows } = await this.deps.database.run<{ request_hash: string, status_code: number, response: Record<string, unknown> }>(
      statements.idempotencyFind, { key: recordKey(scope, key) })
    const row = rows[0]
    return row === undefined ? undefined : { requestHash: row.request_hash, answer: { statusCode: row.status_code, body: row.response } }
  }

  private job (scope: string, key: string, hash: string, effect: (tx: Queryable) => Promise<StoredAnswer>): LvverJob<void, Recorded> {
    const { database } = this.deps
    const id = recordKey(scope, key)
    return {
      scope,
      id: key,
      type: scope,
      trustMarker: true,
      findFinal: () => this.find(scope, key),
      // The key is claimed first in the effect's transaction; a concurrent holder's claim (after a lease
      // expired) waits for this one to commit, then finds the key taken and writes nothing.
      execute: () => database.transaction(async (tx) => {
        const claimed = await tx.run(statements.idempotencyClaim, { key: id, scope, request_hash: hash })
        if (claimed.rowCount === 0) return undefined
        const answer = await effect(tx)
        await tx.run(statements.idempotencyAnswer, { key: id, status_code: answer.statusCode, response: JSON.stringify(answer.body) })
        return { requestHash: hash, answer }
      })
    }
  }
}

const REFUSALS: Record<string, string> = {
  BW_ERR_BAD_REQUEST: 'invalid',
  BW_ERR_IN_PROGRESS: 'in_progress',
  BW_ERR_TOO_MANY_REQUESTS: 'fallback_exhausted',
  BW_ERR_IDEMPOTENCY_KEY_REUSED: 'key_reused'
}
