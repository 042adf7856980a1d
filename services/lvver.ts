// The LVVER pipeline, free of Fastify: LOCK, VERIFY (Redis), VERIFY (Postgres), VALIDATE, EXECUTE +
// RECORD, RECORD (Redis), UNLOCK. Every collaborator is passed in, so each step can be tested on its own.
// ARCHITECTURE.md, "The pipeline", walks through it.
import { randomUUID } from 'node:crypto'
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
  /** The lease's TTL for a job type (services/ttl-policy.ts). */
  ttlMs(type: string): number
  /** TTL of the Redis processed marker: at least the provider's retry window. */
  markerTtlMs: number
}

/**
 * One unit of lock-dependent work. `P` is what VALIDATE decides, `R` what the durable record says.
 * The pipeline only sequences the steps; what a record, a duplicate or a failure look like is the job's.
 */
export interface LvverJob<P, R> {
  /** Key space of the id: `webhook`, `admin_boost`, `badge_purchase`. */
  readonly scope: string
  readonly id: string
  /** Picks the lock TTL and the fallback bucket, and labels the metrics. */
  readonly type: string
  /**
   * Whether a processed marker in Redis ends the request (step 2). A replay of an event kept as
   * `needs_review` or `ignored` must look past the marker that its first, final answer left.
   */
  readonly trustMarker: boolean
  /**
   * Step 3: the durable record of this id when it is final. A job whose gated record (step 5) is itself
   * this check leaves it out: a final record makes step 5 write nothing, which answers the same
   * `duplicate` with one round trip fewer for every new id.
   */
  findFinal?(): Promise<R | undefined>
  /**
   * Step 4, pure: what to do with this request. A job whose input was fully checked before the lock (an
   * HTTP body against its schema) has nothing left to decide and leaves it out.
   */
  validate?(): P
  /**
   * Step 5: the writes and the record in one transaction, gated by the record. Resolves to the record
   * written, or to `undefined` when another holder recorded this id first (nothing was written).
   */
  execute(plan: P): Promise<R | undefined>
  /**
   * After steps 3-5 failed: keep what the job keeps of a failure (the inbox records `failed`). It must
   * not throw. A job whose failed transaction leaves nothing worth keeping leaves it out.
   */
  recordFailure?(err: unknown): Promise<void>
}

export type LvverOutcome<R> =
  | { kind: 'done', result: R }
  | { kind: 'duplicate', via: 'redis' | 'postgres' | 'fence', result?: R }
  | { kind: 'in_progress' }
  | { kind: 'fallback_exhausted' }

export const lockKey = (scope: string, id: string): string => `lock:{${scope}:${id}}`
export const markerKey = (scope: string, id: string): string => `processed:{${scope}:${id}}`

/**
 * Runs one request through LVVER. An error from steps 3-5 is recorded by the job and then thrown (the
 * caller answers 500, so the provider retries), with the lease released and no marker set.
 */
export async function runLvver<P, R> (deps: LvverDeps, job: LvverJob<P, R>): Promise<LvverOutcome<R>> {
  const lock = lockKey(job.scope, job.id)
  const marker = markerKey(job.scope, job.id)
  const token = randomUUID()
  const ttlMs = deps.ttlMs(job.type)

  // 1. LOCK, and 2. VERIFY (Redis), in one atomic script: lease first, then the marker.
  let leased: boolean
  try {
    const acquired = await deps.locks.acquire(lock, marker, token, ttlMs, job.trustMarker)
    if (acquired === 'held') {
      deps.metrics.lockContention(job.type)
      return { kind: 'in_progress' }
    }
    if (acquired === 'processed') return { kind: 'duplicate', via: 'redis' }
    leased = true
  } catch (err) {
    // The guard saw Redis healthy, yet the lease failed: proceed only within the type's bucket.
    // Correctness then rests on step 5's gate alone; the bucket bounds how much work does.
    const allowed = deps.buckets.tryTake(job.type)
    deps.metrics.lockFallback(job.type, allowed)
    deps.log.warn({ err, scope: job.scope, type: job.type, allowed }, 'lock store failed; token-bucket fallback')
    leased = false
    if (!allowed) {
      releaseInBackground(deps, lock, marker, token, undefined)
      return { kind: 'fallback_exhausted' }
    }
  }

  let final = false
  try {
    // 3. VERIFY (Postgres)
    const existing = await job.findFinal?.()
    if (existing !== undefined) {
      final = true
      return { kind: 'duplicate', via: 'postgres', result: existing }
    }
    // 4. VALIDATE, then 5. EXECUTE + RECORD
    const result = await job.execute(job.validate?.() as P)
    final = true
    return result === undefined ? { kind: 'duplicate', via: 'fence' } : { kind: 'done', result }
  } catch (err) {
    await job.recordFailure?.(err)
    throw err
  } finally {
    // 6. RECORD (Redis) and 7. UNLOCK: one script, one round trip.
    await finish(deps, job, lock, marker, token, ttlMs, leased, final)
  }
}

async function finish<P, R> (
  deps: LvverDeps, job: LvverJob<P, R>, lock: string, marker: string, token: string, ttlMs: number, leased: boolean, final: boolean
): Promise<void> {
  const markerTtlMs = final ? deps.markerTtlMs : undefined
  if (!leased) {
    releaseInBackground(deps, lock, marker, token, markerTtlMs)
    return
  }
  try {
    const stillOurs = await deps.locks.release(lock, marker, token, markerTtlMs)
    if (!stillOurs) {
      deps.metrics.lockTtlExhausted()
      deps.log.warn({ scope: job.scope, id: job.id, ttlMs }, 'lock expired before release: the TTL is too short for this work')
    }
  } catch (err) {
    // Not fatal: the lease expires by itself, and the record's gate still stops a second apply.
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
