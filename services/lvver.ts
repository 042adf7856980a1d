// The LVVER pipeline (DESIGN §2), free of Fastify: LOCK, VERIFY (Redis), VERIFY (Postgres), VALIDATE,
// EXECUTE + RECORD, RECORD (Redis), UNLOCK. Every collaborator is passed in, so each step can be tested.
import { randomUUID } from 'node:crypto'
import { isUniqueViolation } from '../db/client.js'
import type { LockStore } from './lock-store.js'
import type { TokenBuckets } from './token-bucket.js'

export interface LvverLogger {
  warn(obj: object, msg: string): void
}

/** The counters the pipeline moves; the metrics plugin provides prom-client ones. */
export interface LvverMetrics {
  lockContention(type: string): void
  /** Redis failed after the guard; `allowed` tells whether the type's bucket had a token. */
  lockFallback(type: string, allowed: boolean): void
  lockTtlExhausted(): void
}

export interface LvverDeps {
  locks: LockStore
  buckets: TokenBuckets
  metrics: LvverMetrics
  log: LvverLogger
  /** TTL of the Redis processed marker: at least the provider's retry window. */
  markerTtlMs: number
}

export type Validation = { ok: true } | { ok: false, reason: string }

export interface LvverJob<R> {
  /** Key space of the id: `webhook`, `admin_boost`, ... */
  scope: string
  id: string
  /** The event type: it picks the fallback bucket and labels the metrics. */
  type: string
  ttlMs: number
  /**
   * Step 3: what Postgres already recorded for this id, if anything. A job whose record insert is
   * itself the check may leave this out: a duplicate then surfaces as the fence's unique violation in
   * step 5, with the same answer, nothing written, and one round trip fewer for every new id.
   */
  findRecorded?(): Promise<R | undefined>
  /** Step 4, pure. */
  validate(): Validation
  /** Step 5: the handler's writes and the record, in one transaction. */
  execute(): Promise<R>
  /** Step 4's other branch: record the id as ignored, so it is never examined again. */
  recordIgnored(reason: string): Promise<R>
  /** The unique constraint of the record; a violation of it means another holder finished first. */
  fenceConstraint: string
}

export type LvverOutcome<R> =
  | { kind: 'processed', result: R }
  | { kind: 'ignored', result: R, reason: string }
  | { kind: 'duplicate', via: 'redis' | 'postgres' | 'fence', result?: R }
  | { kind: 'in_progress' }
  | { kind: 'fallback_exhausted' }

export const lockKey = (scope: string, id: string): string => `lock:{${scope}:${id}}`
export const markerKey = (scope: string, id: string): string => `processed:{${scope}:${id}}`

/**
 * Runs one request through LVVER. Errors from steps 3-5 other than the fence propagate (the route
 * answers 500) with nothing recorded and the lease released, so the provider's retry starts clean.
 */
export async function runLvver<R> (deps: LvverDeps, job: LvverJob<R>): Promise<LvverOutcome<R>> {
  const lock = lockKey(job.scope, job.id)
  const marker = markerKey(job.scope, job.id)
  const token = randomUUID()

  // 1. LOCK, and 2. VERIFY (Redis), in one atomic script: lease first, then the marker.
  let leased: boolean
  try {
    const acquired = await deps.locks.acquire(lock, marker, token, job.ttlMs)
    if (acquired === 'held') {
      deps.metrics.lockContention(job.type)
      return { kind: 'in_progress' }
    }
    if (acquired === 'processed') return { kind: 'duplicate', via: 'redis' }
    leased = true
  } catch (err) {
    // The guard saw Redis ready, yet the lease failed: proceed only within the type's bucket.
    // Correctness then rests on step 5's fence alone; the bucket bounds how much work does.
    const allowed = deps.buckets.tryTake(job.type)
    deps.metrics.lockFallback(job.type, allowed)
    deps.log.warn({ err, scope: job.scope, type: job.type, allowed }, 'lock store failed; token-bucket fallback')
    leased = false
    if (!allowed) {
      releaseInBackground(deps, lock, marker, token, undefined)
      return { kind: 'fallback_exhausted' }
    }
  }

  let recorded = false
  try {
    // 3. VERIFY (Postgres): the durable record.
    const existing = await job.findRecorded?.()
    if (existing !== undefined) {
      recorded = true
      return { kind: 'duplicate', via: 'postgres', result: existing }
    }
    // 4. VALIDATE
    const validation = job.validate()
    try {
      if (!validation.ok) {
        const result = await job.recordIgnored(validation.reason)
        recorded = true
        return { kind: 'ignored', result, reason: validation.reason }
      }
      // 5. EXECUTE + RECORD
      const result = await job.execute()
      recorded = true
      return { kind: 'processed', result }
    } catch (err) {
      // The fence: someone else recorded this id after our lease expired (or without one).
      if (isUniqueViolation(err, job.fenceConstraint)) {
        recorded = true
        return { kind: 'duplicate', via: 'fence' }
      }
      throw err
    }
  } finally {
    // 6. RECORD (Redis) and 7. UNLOCK: one script, one round trip.
    await finish(deps, job, lock, marker, token, leased, recorded)
  }
}

async function finish<R> (
  deps: LvverDeps, job: LvverJob<R>, lock: string, marker: string, token: string, leased: boolean, recorded: boolean
): Promise<void> {
  const markerTtlMs = recorded ? deps.markerTtlMs : undefined
  if (!leased) {
    releaseInBackground(deps, lock, marker, token, markerTtlMs)
    return
  }
  try {
    const stillOurs = await deps.locks.release(lock, marker, token, markerTtlMs)
    if (!stillOurs) {
      deps.metrics.lockTtlExhausted()
      deps.log.warn({ scope: job.scope, id: job.id, ttlMs: job.ttlMs }, 'lock expired before release: the TTL is too short for this work')
    }
  } catch (err) {
    // Not fatal: the lease expires by itself, and step 3 still catches a duplicate.
    deps.log.warn({ err, scope: job.scope, id: job.id }, 'could not record the marker or release the lock')
  }
}

/**
 * After a failed acquire: the SET that timed out may still run on a stalled Redis, so release by token
 * too (it runs after the SET on the same connection). Not awaited: Redis is failing, and the answer
 * should not wait for another timeout.
 */
function releaseInBackground (deps: LvverDeps, lock: string, marker: string, token: string, markerTtlMs: number | undefined): void {
  deps.locks.release(lock, marker, token, markerTtlMs).catch(() => {})
}
