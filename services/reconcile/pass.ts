// One reconciliation pass: page through Paddle's event log from the cursor, oldest first, and run every
// event the inbox has not settled through the same pipeline as a webhook (source `reconcile`).
import type { Queryable } from '../../db/client.js'
import { statements } from '../../db/statements.js'
import type { EventsPage, LogEvent } from './client.js'
import type { ApplyEvent, Clock, EventResult, ReconcileLogger, ReconcileMetrics } from './types.js'

/** What a pass found, as `POST /admin/reconcile` and the CLI answer it. */
export interface PassSummary {
  pages: number
  /** Events read from the log, up to where the pass stopped. */
  seen: number
  processed: number
  /** Already settled by a webhook, a replay or an earlier pass: left untouched. */
  duplicate: number
  ignored: number
  needsReview: number
  /** Not settled (the pipeline failed, another delivery held the event, Redis or Postgres unavailable): the next pass retries them. */
  failed: number
  /** Older than where this pass was told to start (the lookback of a first pass, or `--since`). */
  skipped: number
  /** Without a usable envelope: the inbox cannot keep them, so they are logged and passed over. */
  invalid: number
  /** The cursor after the pass: the id of the last event the log no longer needs to show us. */
  cursor: string | null
}

export interface PassReport {
  summary: PassSummary
  /** The log was read to its end and every event in it is settled. */
  caughtUp: boolean
  /** When the last page was asked for (caught up as of then). */
  lastPageAt?: number
  /** `occurred_at` (ms) of the cursor's event, when this pass moved the cursor. */
  cursorOccurredAt?: number
  /** The pass was stopped from outside (shutdown, lease lost) before it was done. */
  interrupted: boolean
  /** Why the pass ended early: the log could not be read, or Postgres failed. */
  error?: unknown
}

export interface PassDeps {
  database: Queryable
  client: { page(after: string | undefined, signal: AbortSignal): Promise<EventsPage> }
  apply: ApplyEvent
  clock: Clock
  log: ReconcileLogger
  metrics: ReconcileMetrics
}

export interface PassOptions {
  /** The stored cursor: the pass pages from after it, unless `notBefore` is given. */
  cursor: string | null
  /** Page from the start of the log and skip events that occurred before this time (ms). */
  notBefore?: number
  /**
   * Events younger than this are applied but the cursor stays before them: ids that Paddle assigned at
   * nearly the same moment may become visible in the log slightly out of order, and a later pass must
   * still see the one that came late.
   */
  settleMs: number
  /** Stores the cursor under the pass's lease; false when the lease was lost. */
  advance(cursor: string): Promise<boolean>
  /** Called after each move of the cursor, with its event's `occurred_at` (ms). */
  onAdvance?(occurredAt: number): void
  signal: AbortSignal
}

export class LeaseLostError extends Error {
  override name = 'LeaseLostError'
  constructor () { super('the reconcile lease expired and another replica took it; this pass stopped') }
}

// An invalid event is passed over too: no later pass could do better with it.
const SETTLED: ReadonlySet<EventResult> = new Set(['processed', 'duplicate', 'ignored', 'needs_review', 'skipped', 'invalid'])

export function emptySummary (cursor: string | null): PassSummary {
  return { pages: 0, seen: 0, processed: 0, duplicate: 0, ignored: 0, needsReview: 0, failed: 0, skipped: 0, invalid: 0, cursor }
}

/** Runs a pass to its end, or until the signal aborts; an error ends it early and is reported, not thrown. */
export async function runPass (deps: PassDeps, options: PassOptions): Promise<PassReport> {
  const report: PassReport = { summary: emptySummary(options.cursor), caughtUp: false, interrupted: false }
  try {
    await pages(deps, options, report)
  } catch (err) {
    if (options.signal.aborted) report.interrupted = true
    else report.error = err
  }
  if (options.signal.aborted) report.interrupted = true
  return report
}

async function pages (deps: PassDeps, options: PassOptions, report: PassReport): Promise<void> {
  const { clock, metrics, log } = deps
  const summary = report.summary
  let after = options.notBefore === undefined ? options.cursor ?? undefined : undefined
  // Once an event is left unsettled (or too young), the cursor stays before it for the rest of the pass.
  let holding = false
  let unsettled = false

  while (!options.signal.aborted) {
    const requestedAt = clock.now()
    const page = await deps.client.page(after, options.signal)
    summary.pages++
    const settledBefore = await settledIds(deps.database, page.events)
    let advanceTo: { id: string, occurredAt: number } | undefined
    let stop = false

    for (const event of page.events) {
      // A stop between events, never inside one: the event under way finishes and is counted.
      if (options.signal.aborted) {
        stop = true
        break
      }
      const occurredAt = Date.parse(String(event.occurred_at))
      const result = await settle(deps, event, occurredAt, settledBefore, options.notBefore)
      summary.seen++
      count(summary, result)
      metrics.event(result)
      if (!SETTLED.has(result)) {
        holding = true
        unsettled = true
      } else if (!holding) {
        // An event without a readable time was still settled by the pipeline; nothing to wait for.
        if (!Number.isNaN(occurredAt) && occurredAt > clock.now() - options.settleMs) holding = true
        else advanceTo = { id: event.event_id, occurredAt }
      }
      // Redis or Postgres is down: every further event would end the same way.
      if (result === 'unavailable') {
        stop = true
        break
      }
      after = event.event_id
    }

    if (advanceTo !== undefined) {
      if (!await options.advance(advanceTo.id)) throw new LeaseLostError()
      summary.cursor = advanceTo.id
      if (!Number.isNaN(advanceTo.occurredAt)) {
        report.cursorOccurredAt = advanceTo.occurredAt
        options.onAdvance?.(advanceTo.occurredAt)
      }
    }
    if (stop) break
    if (!page.hasMore || page.events.length === 0) {
      report.caughtUp = !unsettled
      report.lastPageAt = requestedAt
      break
    }
  }
  if (unsettled) log.warn({ failed: summary.failed, cursor: summary.cursor }, 'reconcile pass left events unsettled; the next pass retries them')
}

async function settle (
  deps: PassDeps, event: LogEvent, occurredAt: number, settledBefore: ReadonlySet<string>, notBefore: number | undefined
): Promise<EventResult> {
  if (notBefore !== undefined && occurredAt < notBefore) return 'skipped'
  if (settledBefore.has(event.event_id)) return 'duplicate'
  const eventType = typeof event.event_type === 'string' ? event.event_type.slice(0, 64) : undefined
  try {
    const { result } = await deps.apply(event, 'reconcile')
    if (result === 'processed' || result === 'ignored' || result === 'needs_review') {
      deps.log.info({ eventId: event.event_id, eventType, result }, 'reconciled an event the webhook had not delivered')
    } else if (result !== 'duplicate') {
      deps.log.warn({ eventId: event.event_id, eventType, result }, 'reconcile could not settle an event yet')
    }
    return result
  } catch (err) {
    const message = err instanceof Error ? err.message.slice(0, 200) : 'unknown'
    if ((err as { code?: unknown }).code === 'BW_ERR_INVALID_ENVELOPE') {
      deps.log.error({ eventId: event.event_id, eventType, error: message }, 'Paddle\'s event log holds an event without a usable envelope; passed over')
      return 'invalid'
    }
    deps.log.warn({ eventId: event.event_id, eventType, error: message }, 'reconcile failed to apply an event')
    return 'failed'
  }
}

/** The ids of a page whose inbox row is already final: those are left untouched, without a lock. */
async function settledIds (database: Queryable, events: readonly LogEvent[]): Promise<Set<string>> {
  if (events.length === 0) return new Set()
  const { rows } = await database.run<{ event_id: string }>(statements.reconcileSettled, { event_ids: events.map((event) => event.event_id) })
  return new Set(rows.map((row) => row.event_id))
}

function count (summary: PassSummary, result: EventResult): void {
  switch (result) {
    case 'processed': summary.processed++; break
    case 'duplicate': summary.duplicate++; break
    case 'ignored': summary.ignored++; break
    case 'needs_review': summary.needsReview++; break
    case 'skipped': summary.skipped++; break
    case 'invalid': summary.invalid++; break
    default: summary.failed++
  }
}
