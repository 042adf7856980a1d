// The reconciler's collaborators, as plain types: how it runs an event, reads the time, counts and logs.

/** What running one event through the inbox (LVVER) ended in. */
export type ApplyResult = 'processed' | 'duplicate' | 'ignored' | 'needs_review' | 'failed' | 'in_progress' | 'unavailable'
export interface ApplyOutcome { result: ApplyResult, eventId: string }
/** Runs one Paddle event (the envelope exactly as a webhook would carry it) through LVVER. */
export type ApplyEvent = (event: unknown, source: 'webhook' | 'replay' | 'reconcile') => Promise<ApplyOutcome>

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export interface ReconcileLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** How an event of the log was settled by a pass; `skipped`: older than the pass's starting point. */
export type EventResult = ApplyResult | 'skipped'

export interface ReconcileMetrics {
  event(result: EventResult): void
}

// TEMPORARY until the inbox lands on main: its plugin declares `app.inbox`. Remove at the rebase.
declare module 'fastify' {
  interface FastifyInstance {
    inbox: { apply: ApplyEvent }
  }
}
