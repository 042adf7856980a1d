// The LVVER job of an Idempotency-Key request (DESIGN §4): the `idempotency_keys` row is the record and
// the fence, written in the same transaction as the route's effect, and it holds the answer to replay.
import { createHash } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db, Tx } from '../db/client.js'
import { idempotencyKeys } from '../db/schema.js'
import type { LvverJob } from './lvver.js'

export const IDEMPOTENCY_FENCE = 'idempotency_keys_pkey'

/** What a route's effect answers; it is stored under the key and replayed as it was. */
export interface StoredAnswer {
  statusCode: number
  body: Record<string, unknown>
}

/** A key's record: the hash of the request that made it, and that request's answer. */
export interface Recorded {
  requestHash: string
  answer: StoredAnswer
}

export interface IdempotencyJobOptions {
  /** Key space and lock type: `admin_boost`, `badge_purchase`. */
  scope: string
  /** The client's Idempotency-Key, already checked. */
  key: string
  /** `requestHash(scope, body)` of this request. */
  hash: string
  ttlMs: number
  /** The route's writes, inside the transaction that also records the key. */
  effect: (tx: Tx) => Promise<StoredAnswer>
}

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

/** The primary key of a record: scoped, so one key sent to two routes makes two requests. */
export const recordKey = (scope: string, key: string): string => `${scope}:${key}`

export async function findRecorded (db: Db, scope: string, key: string): Promise<Recorded | undefined> {
  const [row] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, recordKey(scope, key))).limit(1)
  if (row === undefined) return undefined
  return { requestHash: row.requestHash, answer: { statusCode: row.statusCode, body: row.response as Record<string, unknown> } }
}

export function idempotencyJob (db: Db, options: IdempotencyJobOptions): LvverJob<Recorded> {
  const { scope, key, hash } = options
  return {
    scope,
    id: key,
    type: scope,
    ttlMs: options.ttlMs,
    fenceConstraint: IDEMPOTENCY_FENCE,
    findRecorded: () => findRecorded(db, scope, key),
    // The route's schema validated the body before the lock; there is nothing to ignore.
    validate: () => ({ ok: true }),
    execute: () => db.transaction(async (tx) => {
      const answer = await options.effect(tx)
      await tx.insert(idempotencyKeys).values({
        key: recordKey(scope, key), scope, requestHash: hash, statusCode: answer.statusCode, response: answer.body
      })
      return { requestHash: hash, answer }
    }),
    recordIgnored: () => Promise.reject(new Error('idempotent requests are never ignored'))
  }
}
