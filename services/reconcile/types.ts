// The reconciler's collaborators, as plain types: how it runs an event, reads the time, counts and logs.
import type { EventSource } from '../../db/schema.js'
import type { ApplyOutcome, ApplyResult } from '../inbox.js'

/** Runs one Paddle event (the envelope exactly as a webhook would carry it) through LVVER: the inbox's `apply`. */
export type ApplyEvent = (event: unknown, source: EventSource) => Promise<ApplyOutcome>

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

/**
 * How a pass settled an event of the log: the inbox's answer, `skipped` (older than where the pass was told
 * to start), or `invalid` (an event without a usable envelope, which the inbox cannot keep).
 */
export type EventResult = ApplyResult | 'skipped' | 'invalid'

export interface ReconcileMetrics {
  event(result: EventResult): void
}
