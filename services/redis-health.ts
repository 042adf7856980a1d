// Whether Redis can hold leases right now, judged by results rather than by the socket: a heartbeat that must
// write within a deadline, and the failures of real commands. The guard, redis_up and /health/security read one
// flag, so no request does I/O to learn it. A client that reports `ready` can still be hung (SIGSTOP, a full
// disk, a stuck script) or read-only (a primary demoted by a failover, on a connection it kept).
import { EventEmitter } from 'node:events'

/** Why Redis is judged unable to hold leases. A bounded set: it labels a metric and a log line. */
export type RedisFailure =
  | 'starting' // no heartbeat has succeeded yet
  | 'connection' // no usable connection: refused, reset, closed, reconnecting
  | 'timeout' // a command or the heartbeat went unanswered past its deadline (a hung or overloaded server)
  | 'readonly' // READONLY: a replica, typically a primary demoted by a failover
  | 'loading' // LOADING: the server is loading its dataset
  | 'cluster' // CLUSTERDOWN, TRYAGAIN, MOVED/ASK seen by a plain client, too many redirections, slots uncovered
  | 'failover' // the node that owns a slot changed: leases written to the old one may be gone
  | 'auth' // NOAUTH, WRONGPASS, NOPERM
  | 'refused' // the server refuses writes: OOM, MISCONF, NOREPLICAS, MASTERDOWN, BUSY
  | 'error' // any other failure of the heartbeat

/** How long a client may take to make its first connection before its absence is logged. */
const STARTUP_GRACE_MS = 2000
/**
 * A timer that fires this much later than asked means this process's event loop was blocked (CPU starvation,
 * a long synchronous task): a timeout seen then may be a reply already received but not yet read, so it is
 * not blamed on Redis. The loop is sampled every TICK_MS.
 */
const TICK_MS = 25
const LATE_MS = 100

/** What the health check needs from a topology; services/redis-client.ts provides one per form. */
export interface HealthProbe {
  readonly topology: 'standalone' | 'sentinel' | 'cluster'
  /** The client holds a usable connection (no I/O). */
  connected(): boolean
  /** One heartbeat: resolves once every node that owns slots has taken a write. */
  beat(): Promise<void>
  /** Drops the connections, failing every command they hold at once, and reconnects. */
  reset(): void
  /** Commands the client holds: sent and unanswered, or waiting to be sent. */
  pending(): number
  /** Starts watching for news the topology pushes (a Sentinel failover); returns the way to stop. */
  watch?(report: (err: unknown) => void): () => void
}

export interface RedisHealthOptions {
  /** Time from the start of one heartbeat to the start of the next. */
  intervalMs: number
  /** A heartbeat unanswered after this long counts as a failure. */
  timeoutMs: number
  /** Consecutive good heartbeats that reopen the guard after a failure. */
  recoverAfter: number
  /**
   * After a stall trips the guard, how long to leave the connection alone before resetting it: long enough
   * for the commands already sent to time out and for their releases to be written behind them.
   */
  resetAfterMs: number
  /** A pino logger: its `err` serializer keeps an error to a short line. */
  log: { info(obj: object, msg: string): void, warn(obj: object, msg: string): void }
  now?: () => number
}

export interface RedisHealthState {
  healthy: boolean
  /** Why it is unhealthy; absent while healthy. */
  reason?: RedisFailure
  /** When the current state began (epoch ms). */
  since: number
}

/** An error the probe raises itself (a cluster whose layout changed, a deadline), already classified. */
export class RedisHealthError extends Error {
  override name = 'RedisHealthError'
  constructor (readonly reason: RedisFailure, message: string) {
    super(message)
  }
}

// The first word of a Redis error reply; ioredis passes it through as the error's message.
const REPLY_CLASSES: Record<string, RedisFailure> = {
  READONLY: 'readonly',
  LOADING: 'loading',
  CLUSTERDOWN: 'cluster',
  TRYAGAIN: 'cluster',
  MOVED: 'cluster',
  ASK: 'cluster',
  NOAUTH: 'auth',
  WRONGPASS: 'auth',
  NOPERM: 'auth',
  OOM: 'refused',
  MISCONF: 'refused',
  NOREPLICAS: 'refused',
  MASTERDOWN: 'refused',
  BUSY: 'refused'
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
// ioredis's own words for "no usable connection", from the standalone, sentinel and cluster clients.
const CONNECTION_MESSAGES = /connection is closed|connection close|stream isn't writeable|isn't ready|max retries per request|startup nodes|cluster is (ended|disconnected)|sentinels are unreachable|ready check failed/i

/**
 * The class of an error that says Redis cannot hold leases now, or undefined for an error that belongs to
 * one command (a script bug, a wrong type under one key): such an error takes the token bucket, not the
 * whole service.
 */
export function classifyRedisError (err: unknown): RedisFailure | undefined {
  if (err instanceof RedisHealthError) return err.reason
  const message = err instanceof Error ? err.message : String(err)
  if (message === 'Command timed out') return 'timeout'
  const word = /^-?([A-Z]+)\b/.exec(message)?.[1]
  const replyClass = word === undefined ? undefined : REPLY_CLASSES[word]
  if (replyClass !== undefined) return replyClass
  if (message.startsWith('Too many Cluster redirections')) return 'cluster'
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'connection'
  if ((err as { name?: unknown }).name === 'MaxRetriesPerRequestError' || CONNECTION_MESSAGES.test(message)) return 'connection'
  return undefined
}

/**
 * Owns the health flag. Trips on the first hard signal (a failed heartbeat, or a real command's failure
 * reported through `report`), reopens after `recoverAfter` good heartbeats in a row, and logs each
 * transition once. Emits `change` with the new state.
 */
export class RedisHealth extends EventEmitter<{ change: [RedisHealthState] }> {
  private healthy = false
  private reason: RedisFailure = 'starting'
  private since: number
  private trippedAt = 0
  private lastReset = 0
  private good = 0
  private timer: NodeJS.Timeout | undefined
  private beating = false
  private stopped = true
  private ticker: NodeJS.Timeout | undefined
  private unwatch: (() => void) | undefined
  private lastTick = 0
  private lastLate = -Infinity
  private readonly now: () => number

  constructor (private readonly probe: HealthProbe, private readonly options: RedisHealthOptions) {
    super()
    this.now = options.now ?? Date.now
    this.since = this.now()
  }

  get topology (): HealthProbe['topology'] { return this.probe.topology }

  /** The guard's question. No I/O: the flag, and whether the client still holds a connection. */
  isHealthy (): boolean {
    return this.healthy && this.probe.connected()
  }

  state (): RedisHealthState {
    return this.isHealthy()
      ? { healthy: true, since: this.since }
      : { healthy: false, reason: this.healthy ? 'connection' : this.reason, since: this.since }
  }

  pending (): number {
    return this.probe.pending()
  }

  start (): void {
    if (!this.stopped) return
    this.stopped = false
    this.lastTick = this.now()
    this.ticker = setInterval(() => {
      const now = this.now()
      if (now - this.lastTick > TICK_MS + LATE_MS) this.lastLate = now
      this.lastTick = now
    }, TICK_MS)
    this.ticker.unref()
    this.unwatch = this.probe.watch?.((err) => { this.report(err) })
    this.schedule(0)
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.ticker)
    this.unwatch?.()
    this.unwatch = undefined
  }

  /**
   * A real command failed: trips the guard when the error says Redis itself is failing. Returns the reason
   * blamed on Redis, if any.
   */
  report (err: unknown): RedisFailure | undefined {
    const reason = classifyRedisError(err)
    if (reason === undefined || (reason === 'timeout' && this.starved())) return undefined
    this.fail(reason, err)
    return reason
  }

  /** This process's event loop is, or just was, blocked: its timers fire late, whatever Redis does. */
  private starved (): boolean {
    if (this.stopped) return false
    const now = this.now()
    return now - this.lastTick > TICK_MS + LATE_MS || now - this.lastLate <= LATE_MS
  }

  private schedule (delayMs: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => { this.tick().catch(() => {}) }, delayMs)
    this.timer.unref()
  }

  private async tick (): Promise<void> {
    const started = this.now()
    const failure = await this.check()
    if (this.stopped) return
    if (failure === 'inconclusive') {
      // Neither good nor bad: the next heartbeat decides.
    } else if (failure !== undefined) {
      this.fail(failure.reason, failure.err)
    } else if (!this.healthy && ++this.good >= this.options.recoverAfter) {
      this.recover()
    }
    this.schedule(Math.max(0, this.options.intervalMs - (this.now() - started)))
  }

  private async check (): Promise<{ reason: RedisFailure, err?: unknown } | 'inconclusive' | undefined> {
    if (!this.probe.connected()) return { reason: 'connection' }
    // Never a second heartbeat behind one still unanswered: on a hung server each would wait in the queue.
    if (this.beating) return this.starved() ? 'inconclusive' : { reason: 'timeout' }
    this.beating = true
    const beat = this.probe.beat().finally(() => { this.beating = false })
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new RedisHealthError('timeout', `heartbeat unanswered after ${this.options.timeoutMs} ms`))
      }, this.options.timeoutMs)
    })
    try {
      await Promise.race([beat, deadline])
      return undefined
    } catch (err) {
      const reason = classifyRedisError(err) ?? 'error'
      return reason === 'timeout' && this.starved() ? 'inconclusive' : { reason, err }
    } finally {
      clearTimeout(timer)
      beat.catch(() => {})
    }
  }

  private fail (reason: RedisFailure, err: unknown): void {
    this.good = 0
    const now = this.now()
    if (this.healthy) {
      this.healthy = false
      this.reason = reason
      this.since = now
      this.trippedAt = now
      this.options.log.warn({ reason, topology: this.probe.topology, err },
        'redis unhealthy: lock routes fail closed')
      this.emit('change', this.state())
    } else if (this.reason === 'starting') {
      if (this.trippedAt === 0) this.trippedAt = now
      // A client still making its first connection is not news; one that has not answered for a while is.
      if (now - this.since >= STARTUP_GRACE_MS) {
        this.reason = reason
        this.options.log.warn({ reason, topology: this.probe.topology, err },
          'redis unavailable: lock routes fail closed until it answers')
        this.emit('change', this.state())
      }
    }
    // Otherwise the reason stays the one that tripped the guard: a hung server reset by us then shows as
    // reconnecting, but it is still the hang that the operator needs to see.
    this.resetIfStuck(reason, now)
  }

  /**
   * Bounds what a bad connection can hold. A hung server keeps every command sent to it in the client's
   * queue; a demoted primary keeps answering READONLY on a connection that a reconnect would move to the
   * new primary (DNS endpoints, Sentinel). Reset at most once per `resetAfterMs`.
   */
  private resetIfStuck (reason: RedisFailure, now: number): void {
    if (reason !== 'timeout' && reason !== 'readonly') return
    if (reason === 'timeout' && now - this.trippedAt < this.options.resetAfterMs) return
    if (now - this.lastReset < this.options.resetAfterMs) return
    this.lastReset = now
    this.probe.reset()
  }

  private recover (): void {
    const was = this.reason
    this.healthy = true
    this.since = this.now()
    this.options.log.info({ after: was, topology: this.probe.topology, ...(was === 'starting' ? {} : { closedForMs: this.since - this.trippedAt }) },
      'redis healthy: lock routes open')
    this.emit('change', this.state())
  }
}
