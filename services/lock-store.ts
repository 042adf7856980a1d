// Where leases and processed markers live: Redis for any number of replicas, or memory for exactly one.
import type { Result } from 'ioredis'
import type { RedisClient } from './redis-client.js'

/** What LOCK + VERIFY (Redis) found: we hold the lease, someone else does, or the event is already done. */
export type AcquireResult = 'acquired' | 'held' | 'processed'

export interface LockStore {
  readonly kind: 'redis' | 'memory'
  /** The guard's question: can a lease be taken right now? Reads a flag only, no I/O. */
  isReady(): boolean
  /**
   * LVVER steps 1-2 in one atomic round trip: SET lockKey token NX PX ttl; if that succeeded and
   * markerKey exists (and `checkMarker`: a replay looks past it), give the lease straight back and report 'processed'.
   */
  acquire(lockKey: string, markerKey: string, token: string, ttlMs: number, checkMarker: boolean): Promise<AcquireResult>
  /**
   * LVVER steps 6-7: set the processed marker when `markerTtlMs` is given, then compare-and-delete
   * the lease. False when the lease was no longer ours (it expired, maybe taken by another holder).
   */
  release(lockKey: string, markerKey: string, token: string, markerTtlMs?: number): Promise<boolean>
}

// Both keys carry the same hash tag ({scope:id}), so each script touches a single cluster slot.
const ACQUIRE_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('DEL', KEYS[1])
    return 2
  end
  return 1
end
return 0`

const RELEASE_LUA = `
if ARGV[2] ~= '0' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

const UNLOCK_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    bwAcquire(lockKey: string, markerKey: string, token: string, ttlMs: number, checkMarker: '0' | '1'): Result<number, Context>
    bwRelease(lockKey: string, markerKey: string, token: string, markerTtlMs: number): Result<number, Context>
    bwUnlock(lockKey: string, token: string): Result<number, Context>
  }
}

/** Registers the scripts once per client; ioredis sends EVALSHA and falls back to EVAL by itself. */
export function defineLockCommands (redis: RedisClient): void {
  redis.defineCommand('bwAcquire', { numberOfKeys: 2, lua: ACQUIRE_LUA })
  redis.defineCommand('bwRelease', { numberOfKeys: 2, lua: RELEASE_LUA })
  redis.defineCommand('bwUnlock', { numberOfKeys: 1, lua: UNLOCK_LUA })
}

const ACQUIRE_RESULTS: Record<number, AcquireResult> = { 0: 'held', 1: 'acquired', 2: 'processed' }

/** What the Redis store asks of the health check (services/redis-health.ts). */
export interface LockStoreHealth {
  isHealthy(): boolean
  /** A command failed: the health check decides whether Redis itself is failing. */
  report(err: unknown): unknown
}

export class RedisLockStore implements LockStore {
  readonly kind = 'redis'

  constructor (private readonly redis: RedisClient, private readonly health: LockStoreHealth) {
    defineLockCommands(redis)
  }

  isReady (): boolean {
    return this.health.isHealthy()
  }

  async acquire (lockKey: string, markerKey: string, token: string, ttlMs: number, checkMarker: boolean): Promise<AcquireResult> {
    let code: number
    try {
      code = await this.redis.bwAcquire(lockKey, markerKey, token, ttlMs, checkMarker ? '1' : '0')
    } catch (err) {
      this.health.report(err)
      throw err
    }
    const result = ACQUIRE_RESULTS[code]
    if (result === undefined) throw new Error(`unexpected lock script result ${code}`)
    return result
  }

  async release (lockKey: string, markerKey: string, token: string, markerTtlMs?: number): Promise<boolean> {
    try {
      return (await this.redis.bwRelease(lockKey, markerKey, token, markerTtlMs ?? 0)) === 1
    } catch (err) {
      this.health.report(err)
      throw err
    }
  }
}

interface Expiring { value: string, expiresAt: number }

/**
 * The same semantics in process memory: correct for a single replica only (there is no one to
 * share leases with). Markers are capped; dropping one costs a Postgres lookup, never correctness.
 */
export class MemoryLockStore implements LockStore {
  readonly kind = 'memory'
  private readonly locks = new Map<string, Expiring>()
  private readonly markers = new Map<string, Expiring>()

  constructor (
    private readonly maxMarkers = 100_000,
    private readonly now: () => number = Date.now
  ) {}

  isReady (): boolean { return true }

  async acquire (lockKey: string, markerKey: string, token: string, ttlMs: number, checkMarker: boolean): Promise<AcquireResult> {
    if (this.live(this.locks, lockKey) !== undefined) return 'held'
    if (checkMarker && this.live(this.markers, markerKey) !== undefined) return 'processed'
    this.locks.set(lockKey, { value: token, expiresAt: this.now() + ttlMs })
    return 'acquired'
  }

  async release (lockKey: string, markerKey: string, token: string, markerTtlMs?: number): Promise<boolean> {
    if (markerTtlMs !== undefined && markerTtlMs > 0) {
      this.markers.delete(markerKey)
      this.markers.set(markerKey, { value: '1', expiresAt: this.now() + markerTtlMs })
      if (this.markers.size > this.maxMarkers) {
        // Maps iterate in insertion order: the first key is the oldest marker.
        const oldest = this.markers.keys().next().value
        if (oldest !== undefined) this.markers.delete(oldest)
      }
    }
    if (this.live(this.locks, lockKey)?.value !== token) return false
    this.locks.delete(lockKey)
    return true
  }

  private live (map: Map<string, Expiring>, key: string): Expiring | undefined {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }
}
