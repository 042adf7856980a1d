// The reconciler: one pass at a time across every replica (the lease), on a timer or on demand, and the
// bookkeeping an operator reads (the lag). Free of Fastify; plugins/reconciler.ts wires it to the app.
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Queryable } from '../../db/client.js'
import { statements } from '../../db/statements.js'
import { PaddleKeyRejectedError, PaddleRequestError, PaddleUnavailableError } from './client.js'
import { ReconcileLease } from './lease.js'
import { runPass, type PassDeps, type PassReport } from './pass.js'
import { systemClock } from './clock.js'
import type { ApplyEvent, Clock, ReconcileLogger, ReconcileMetrics } from './types.js'

export const RECONCILE_STATE_NAME = 'paddle_events'
/** A dead holder's lease is free again within this long. */
export const MAX_LEASE_TTL_MS = 30_000
const DEFAULT_SETTLE_MS = 2 * 60_000

export interface ReconcilerOptions {
  database: Queryable
  client: PassDeps['client']
  apply: ApplyEvent
  log: ReconcileLogger
  metrics: ReconcileMetrics
  /** Between scheduled passes; 0: none (on-demand passes still run). */
  intervalMs: number
  /** How far back a first pass (no cursor yet) reaches. */
  lookbackMs: number
  clock?: Clock
  leaseTtlMs?: number
  settleMs?: number
  name?: string
  random?: () => number
}

export interface RunOptions {
  /** Page from the start of the log and apply what occurred since then, whatever the cursor says. */
  since?: Date
  /** A timer's pass: skipped when another replica ran one less than most of an interval ago. */
  scheduled?: boolean
}

export type RunResult =
  | { ran: true, report: PassReport }
  | { ran: false, reason: 'running' | 'stopped' }

/**
 * The lease lasts three intervals, at least 5 s and at most 30 s: with the default interval a dead holder
 * frees it in 30 s, and with a short one (tests, a sandbox) another replica takes over as quickly.
 */
export function leaseTtlFor (intervalMs: number): number {
  return intervalMs <= 0 ? MAX_LEASE_TTL_MS : Math.min(MAX_LEASE_TTL_MS, Math.max(5_000, 3 * intervalMs))
}

export class Reconciler {
  readonly lease: ReconcileLease
  private readonly clock: Clock
  private readonly settleMs: number
  private readonly random: () => number
  private readonly instance = `${hostname()}:${process.pid}`
  private readonly stopping = new AbortController()
  private current: Promise<RunResult> | undefined
  private timer: NodeJS.Timeout | undefined
  /** The log is known settled up to this time (ms); undefined until this replica has run a pass. */
  private settledUpTo: number | undefined

  constructor (private readonly options: ReconcilerOptions) {
    this.clock = options.clock ?? systemClock
    this.settleMs = options.settleMs ?? DEFAULT_SETTLE_MS
    this.random = options.random ?? Math.random
    this.lease = new ReconcileLease(options.database, options.name ?? RECONCILE_STATE_NAME, options.leaseTtlMs ?? leaseTtlFor(options.intervalMs))
  }

  get running (): boolean { return this.current !== undefined }

  /**
   * Seconds between now and the time up to which the log is known settled: the `occurred_at` of the
   * cursor's event, or, when the last pass read the log to its end with nothing left, when it did. A quiet
   * shop therefore does not look behind, and a pass that keeps failing does. Undefined before a first pass.
   */
  lagSeconds (): number | undefined {
    return this.settledUpTo === undefined ? undefined : Math.max(0, (this.clock.now() - this.settledUpTo) / 1000)
  }

  /** Runs one pass now, unless another runs here or on another replica. Never throws for the log's failures. */
  async runOnce (options: RunOptions = {}): Promise<RunResult> {
    if (this.stopping.signal.aborted) return { ran: false, reason: 'stopped' }
    if (this.current !== undefined) return { ran: false, reason: 'running' }
    const run = this.run(options)
    this.current = run
    try {
      return await run
    } finally {
      this.current = undefined
    }
  }

  private async run (options: RunOptions): Promise<RunResult> {
    const owner = `${this.instance}:${randomUUID().slice(0, 8)}`
    const minGapMs = options.scheduled === true ? Math.round(this.options.intervalMs * 0.8) : 0
    const held = await this.lease.acquire(owner, { minGapMs })
    if (held === undefined) return { ran: false, reason: 'running' }

    const pass = new AbortController()
    const stop = () => { pass.abort(this.stopping.signal.reason) }
    this.stopping.signal.addEventListener('abort', stop, { once: true })
    const renewal = setInterval(() => {
      this.lease.renew(owner).then((ours) => {
        if (!ours) {
          this.options.log.warn({ owner }, 'reconcile lease lost to another replica; stopping this pass')
          pass.abort(new Error('lease lost'))
        }
      }, (err: unknown) => {
        // Postgres may come back before the lease expires; if not, the next renewal or cursor write says so.
        this.options.log.warn({ error: err instanceof Error ? err.message : 'unknown' }, 'could not renew the reconcile lease')
      })
    }, Math.max(100, Math.floor(this.lease.ttlMs / 3)))
    renewal.unref()

    const startedAt = this.clock.now()
    const notBefore = options.since?.getTime() ?? (held.cursor === null ? startedAt - this.options.lookbackMs : undefined)
    try {
      await this.learnLag(held.cursor, notBefore)
      const report = await runPass({ ...this.options, clock: this.clock }, {
        cursor: held.cursor,
        ...(notBefore !== undefined ? { notBefore } : {}),
        settleMs: this.settleMs,
        advance: (cursor) => this.lease.advance(owner, cursor),
        onAdvance: (occurredAt) => { this.settled(occurredAt) },
        signal: pass.signal
      })
      if (report.caughtUp && report.lastPageAt !== undefined) this.settled(report.lastPageAt)
      this.logReport(report, this.clock.now() - startedAt)
      return { ran: true, report }
    } finally {
      clearInterval(renewal)
      this.stopping.signal.removeEventListener('abort', stop)
      await this.lease.release(owner).catch((err: unknown) => {
        this.options.log.warn({ error: err instanceof Error ? err.message : 'unknown' }, 'could not release the reconcile lease; it expires by itself')
      })
    }
  }

  /** Schedules passes every interval (with jitter), the first one shortly after start. Never waits for one. */
  start (): void {
    if (this.options.intervalMs <= 0 || this.timer !== undefined || this.stopping.signal.aborted) return
    this.schedule(this.random() * Math.min(this.options.intervalMs, 5_000))
  }

  /** Stops the timer, interrupts a running pass between two events, and waits for it to give the lease back. */
  async stop (): Promise<void> {
    this.stopping.abort(new Error('the reconciler is stopping'))
    clearTimeout(this.timer)
    await this.current?.catch(() => {})
  }

  private schedule (delayMs: number): void {
    // tick() answers its own failures (logged, counted); nothing reaches this handler.
    this.timer = setTimeout(() => { this.tick().catch(() => {}) }, delayMs)
    this.timer.unref()
  }

  private async tick (): Promise<void> {
    try {
      await this.runOnce({ scheduled: true })
    } catch (err) {
      this.options.log.error({ error: err instanceof Error ? err.message : 'unknown' }, 'reconcile pass failed')
    } finally {
      if (!this.stopping.signal.aborted) this.schedule(this.options.intervalMs * (0.9 + 0.2 * this.random()))
    }
  }

  private settled (upTo: number): void {
    this.settledUpTo = Math.max(this.settledUpTo ?? upTo, upTo)
  }

  /** Before this replica's first pass: where the log stands, from the cursor's event, or the lookback. */
  private async learnLag (cursor: string | null, notBefore: number | undefined): Promise<void> {
    if (this.settledUpTo !== undefined) return
    if (cursor === null) {
      if (notBefore !== undefined) this.settled(notBefore)
      return
    }
    const { rows } = await this.options.database.run<{ occurred_at: string | null }>(statements.reconcileEventTime, { event_id: cursor })
    const stored = rows[0]?.occurred_at
    const occurredAt = stored == null ? Number.NaN : Date.parse(stored)
    if (!Number.isNaN(occurredAt)) this.settled(occurredAt)
  }

  private logReport (report: PassReport, ms: number): void {
    const { log } = this.options
    const fields = { ...report.summary, caughtUp: report.caughtUp, ms }
    const error = report.error
    if (error instanceof PaddleKeyRejectedError) {
      log.error({ ...fields, status: error.status, code: error.code },
        'Paddle rejected PADDLE_API_KEY: reconciliation cannot read the event log until the key is fixed')
    } else if (error instanceof PaddleUnavailableError || error instanceof PaddleRequestError) {
      log.error({ ...fields, error: error.message }, 'reconcile pass stopped: the Paddle event log could not be read')
    } else if (error !== undefined) {
      log.error({ ...fields, error: error instanceof Error ? error.message : 'unknown' }, 'reconcile pass stopped')
    } else {
      log.info({ ...fields, interrupted: report.interrupted }, 'reconcile pass ended')
    }
  }
}
