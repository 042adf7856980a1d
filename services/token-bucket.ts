// The fallback that bounds work when Redis fails after the guard let a request in (ARCHITECTURE.md, "The pipeline").

export type Clock = () => number

/** A classic token bucket: `capacity` tokens, refilled continuously at `refillPerSecond`. */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor (
    private readonly capacity: number,
    private readonly refillPerSecond: number,
    private readonly now: Clock = performance.now.bind(performance)
  ) {
    this.tokens = capacity
    this.updatedAt = now()
  }

  tryTake (): boolean {
    const now = this.now()
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000
    this.tokens = Math.min(this.capacity, this.tokens + elapsedSeconds * this.refillPerSecond)
    this.updatedAt = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/**
 * One bucket per event type. The set of keys is bounded: types outside `knownTypes` share one
 * overflow bucket, so a stream of novel type names can neither grow the map nor mint fresh tokens.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor (
    private readonly capacity: number,
    private readonly refillPerSecond: number,
    private readonly knownTypes: ReadonlySet<string>,
    private readonly now: Clock = performance.now.bind(performance)
  ) {}

  /** The key a type is counted under: itself when known, else the shared overflow key. */
  keyFor (type: string): string {
    return this.knownTypes.has(type) ? type : OVERFLOW_KEY
  }

  tryTake (type: string): boolean {
    const key = this.keyFor(type)
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.capacity, this.refillPerSecond, this.now)
      this.buckets.set(key, bucket)
    }
    return bucket.tryTake()
  }

  get size (): number { return this.buckets.size }
}

export const OVERFLOW_KEY = 'other'
