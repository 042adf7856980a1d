// The inbox: every authentic event is applied once, or kept with a reason an operator can see and
// replay. One entry point for each way an event arrives (a webhook, an operator's replay, the
// reconciler), all through the same LVVER job. ARCHITECTURE.md, "The inbox", tells the whole story.
import type { Queryable } from '../db/client.js'
import type { EventSource, EventStatus } from '../db/schema.js'
import { statements } from '../db/statements.js'
import type { PriceCatalog } from './catalog.js'
import {
  AlreadyProcessedError, BUSY_RETRY_AFTER_SECONDS, BadRequestError, FallbackExhaustedError, InProgressError,
  InvalidEnvelopeError, InvalidSignatureError, NotFoundError, isRefusal, refusal
} from './errors.js'
import { planEvent } from './events/index.js'
import { needsReview, type EventPlan } from './events/plan.js'
import type { LvverJob, LvverOutcome } from './lvver.js'
import { parseBody } from './paddle/body.js'
import { checkEnvelope, storable, type PaddleEvent } from './paddle/envelope.js'
import { verifyPaddleSignature } from './paddle/signature.js'
import { shortError } from './safe-error.js'

export type FinalStatus = Exclude<EventStatus, 'failed'>

/** What a delivery, a replay or a reconciled event is answered. */
export interface Answer {
  status: FinalStatus | 'duplicate'
  eventId: string
}

/** The reconciler's view of one event: never thrown, always counted. */
export type ApplyResult = FinalStatus | 'duplicate' | 'failed' | 'in_progress' | 'unavailable'
export interface ApplyOutcome { result: ApplyResult, eventId: string }

export interface InboxLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface InboxDeps {
  database: Queryable
  catalog: PriceCatalog
  lvver<P, R>(job: LvverJob<P, R>): Promise<LvverOutcome<R>>
  /** Whether Redis is healthy now: the reconciler does not run events through a failing lock store. */
  lockReady(): boolean
  webhook: { secrets: readonly string[], toleranceSeconds: number }
  log: InboxLogger
  /** Counts one request and its duration; called exactly once per request. */
  observe(eventType: string, result: string, startedAt: number): void
}

/** A row of the inbox as the operator sees it (the payload only for one event). */
export interface EventView {
  eventId: string
  eventType: string
  status: EventStatus
  source: EventSource
  occurredAt: string | null
  receivedAt: string
  processedAt: string | null
  attempts: number
  reason: string | null
  lastError: string | null
  payload?: unknown
}

export interface EventFilter {
  status?: EventStatus | undefined
  type?: string | undefined
  from?: string | undefined
  to?: string | undefined
}

/** The lock and marker key space of events (`lock:{webhook:<event_id>}`). */
export const EVENT_SCOPE = 'webhook'

/** The statuses a replay may move on from: everything that is not applied already. */
export const REPLAYABLE: readonly EventStatus[] = ['failed', 'needs_review', 'ignored']
const RECORDED_BEFORE = { webhook: ['failed'], reconcile: ['failed'], replay: REPLAYABLE } as const

const EMPTY = Buffer.alloc(0)

interface Recorded { status: FinalStatus, reason: string | null }
interface EventRow {
  event_id: string
  event_type: string
  status: EventStatus
  source: EventSource
  occurred_at: string | null
  received_at: Date
  received_at_key?: string
  processed_at: Date | null
  attempts: number
  last_error: string | null
  reason: string | null
  payload?: unknown
}

export class Inbox {
  constructor (private readonly deps: InboxDeps) {}

  /** `POST /billing/webhook`: the signature over the raw bytes, then the JSON, the envelope and the event. */
  async receive (signature: string | string[] | undefined, raw: Buffer | undefined): Promise<Answer> {
    return this.measured('unknown', async (label) => {
      const verified = verifyPaddleSignature(signature, raw ?? EMPTY, this.deps.webhook)
      if (!verified.ok) throw new InvalidSignatureError(verified.reason)
      const checked = checkEnvelope(parseBody(raw ?? EMPTY))
      if (!checked.ok) throw new InvalidEnvelopeError(checked.message)
      label(checked.event.event_type)
      return this.process(checked.event, 'webhook')
    })
  }

  /** `POST /admin/events/:eventId/replay`: the stored payload, through LVVER again. */
  async replay (eventId: string): Promise<Answer> {
    return this.measured('unknown', async (label) => {
      const row = await this.find(eventId)
      if (row === undefined) throw new NotFoundError(`No event ${eventId} in the inbox`)
      label(row.event_type)
      if (row.status === 'processed') throw new AlreadyProcessedError(eventId)
      return this.process(row.payload as PaddleEvent, 'replay')
    })
  }

  /** `POST /admin/events/replay`: replays what matches, oldest first, one at a time; counts each outcome. */
  async replayMany (filter: EventFilter & { limit: number }): Promise<Record<string, number>> {
    const statuses = filter.status !== undefined ? [filter.status] : REPLAYABLE
    const { rows } = await this.deps.database.run<{ event_id: string }>(statements.eventReplayable, {
      statuses, event_type: filter.type, from: filter.from, to: filter.to, limit: filter.limit
    })
    const counts: Record<string, number> = {}
    for (const { event_id: eventId } of rows) {
      let result: string
      try {
        result = (await this.replay(eventId)).status
      } catch (err) {
        result = isRefusal(err) && err.code === 'BW_ERR_IN_PROGRESS' ? 'in_progress' : isRefusal(err) && err.statusCode < 500 ? 'skipped' : 'failed'
      }
      counts[result] = (counts[result] ?? 0) + 1
    }
    return counts
  }

  /**
   * The reconciler's entry: an event from Paddle's event log. Its outcome is always answered, never thrown;
   * only an event without a valid envelope throws (InvalidEnvelopeError), since it cannot even be kept.
   */
  async apply (event: unknown, source: EventSource): Promise<ApplyOutcome> {
    const checked = checkEnvelope(event)
    if (!checked.ok) throw new InvalidEnvelopeError(checked.message)
    const eventId = checked.event.event_id
    if (!this.deps.lockReady()) return { result: 'unavailable', eventId }
    return this.measured(checked.event.event_type, async () => this.process(checked.event, source))
      .then((answer) => ({ result: answer.status, eventId }))
      .catch((err: unknown) => ({
        result: isRefusal(err) && err.code === 'BW_ERR_IN_PROGRESS' ? 'in_progress' : isRefusal(err) ? 'unavailable' : 'failed',
        eventId
      }))
  }

  /** Runs one authentic event through LVVER: the answer, a refusal (409, 429), or the failure itself. */
  async process (event: PaddleEvent, source: EventSource): Promise<Answer> {
    const eventId = event.event_id
    const outcome = await this.deps.lvver(this.job(event, source))
    if (outcome.kind === 'in_progress') {
      throw refusal(new InProgressError(), { retryAfter: BUSY_RETRY_AFTER_SECONDS, body: { status: 'in_progress', eventId } })
    }
    if (outcome.kind === 'fallback_exhausted') {
      throw refusal(new FallbackExhaustedError(), { retryAfter: BUSY_RETRY_AFTER_SECONDS, body: { eventId } })
    }
    const status = outcome.kind === 'duplicate' ? 'duplicate' : outcome.result.status
    const log = { eventId, eventType: event.event_type, source, result: status }
    if (outcome.kind === 'done' && outcome.result.status === 'needs_review') {
      this.deps.log.warn({ ...log, reason: outcome.result.reason }, 'event kept for review: it cannot be applied as sent')
    } else {
      this.deps.log.info(outcome.kind === 'duplicate' ? { ...log, via: outcome.via } : log, 'event answered')
    }
    return { status, eventId }
  }

  async get (eventId: string): Promise<(EventView & { payload: unknown }) | undefined> {
    const row = await this.find(eventId)
    return row === undefined ? undefined : { ...view(row), payload: row.payload }
  }

  /** The inbox, newest first, `limit` at a time; `nextCursor` continues where this page ended. */
  async list (filter: EventFilter & { limit: number, cursor?: string | undefined }): Promise<{ events: EventView[], nextCursor: string | null }> {
    const [cursorAt, cursorId] = filter.cursor === undefined ? [null, null] : decodeCursor(filter.cursor)
    const { rows } = await this.deps.database.run<EventRow>(statements.eventList, {
      status: filter.status,
      event_type: filter.type,
      from: filter.from,
      to: filter.to,
      cursor_at: cursorAt,
      cursor_id: cursorId,
      limit: filter.limit + 1
    })
    const page = rows.slice(0, filter.limit)
    const last = page.at(-1)
    return {
      events: page.map(view),
      nextCursor: rows.length > filter.limit && last !== undefined ? encodeCursor(last.received_at_key ?? '', last.event_id) : null
    }
  }

  /** Rows waiting for someone (`failed`, `needs_review`): how many, and the age of the oldest. */
  async waiting (): Promise<Array<{ status: EventStatus, count: number, oldestSeconds: number }>> {
    const { rows } = await this.deps.database.run<{ status: EventStatus, count: number, oldest_seconds: number }>(statements.eventWaiting, {})
    return rows.map((row) => ({ status: row.status, count: row.count, oldestSeconds: row.oldest_seconds }))
  }

  private async find (eventId: string): Promise<EventRow | undefined> {
    return (await this.deps.database.run<EventRow>(statements.eventFind, { event_id: eventId })).rows[0]
  }

  /** The LVVER job of one event: its record is the gate, its plan the handler, a failure is kept. */
  private job (event: PaddleEvent, source: EventSource): LvverJob<EventPlan, Recorded> {
    const { database, catalog, log } = this.deps
    const kept = storable(event)
    const record = {
      event_id: event.event_id,
      event_type: event.event_type,
      source,
      occurred_at: event.occurred_at,
      payload: JSON.stringify(kept.payload),
      reopen: RECORDED_BEFORE[source]
    }
    return {
      scope: EVENT_SCOPE,
      id: event.event_id,
      type: event.event_type,
      // Only a delivery trusts the Redis marker. A replay must look past the one a kept event's first
      // answer left; the reconciler has just read Postgres, which outlives a marker after a restore.
      trustMarker: source === 'webhook',
      validate: () => kept.problem !== undefined
        ? needsReview(`the payload cannot be stored as sent: ${kept.problem}`)
        : planEvent(kept.payload as PaddleEvent, catalog),
      async execute (plan) {
        const { rows } = plan.kind === 'apply'
          ? await database.run<Recorded>(plan.statement, { ...record, ...plan.values })
          : await database.run<Recorded>(statements.eventRecord, { ...record, status: plan.status, reason: plan.reason })
        return rows[0]
      },
      async recordFailure (err) {
        try {
          await database.run(statements.eventFailed, { ...record, last_error: shortError(err) })
        } catch (recordError) {
          log.warn({ err: recordError, eventId: event.event_id }, 'could not keep the failed event; the provider retries it')
        }
      }
    }
  }

  /** Counts a request once, whatever its end, labelled with its event type once that is known. */
  private async measured (type: string, work: (label: (type: string) => void) => Promise<Answer>): Promise<Answer> {
    const started = performance.now()
    let eventType = type
    let result = 'error'
    try {
      const answer = await work((known) => { eventType = known })
      result = answer.status
      return answer
    } catch (err) {
      result = isRefusal(err) ? RESULT_OF_REFUSAL[err.code] ?? 'refused' : 'error'
      throw err
    } finally {
      this.deps.observe(eventType, result, started)
    }
  }
}

const RESULT_OF_REFUSAL: Record<string, string> = {
  BW_ERR_INVALID_SIGNATURE: 'unauthorized',
  BW_ERR_INVALID_JSON: 'invalid',
  BW_ERR_INVALID_ENVELOPE: 'invalid',
  BW_ERR_IN_PROGRESS: 'in_progress',
  BW_ERR_TOO_MANY_REQUESTS: 'fallback_exhausted',
  BW_ERR_NOT_FOUND: 'not_found',
  BW_ERR_ALREADY_PROCESSED: 'already_processed'
}

function view (row: EventRow): EventView {
  return {
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    source: row.source,
    occurredAt: row.occurred_at,
    receivedAt: row.received_at.toISOString(),
    processedAt: row.processed_at?.toISOString() ?? null,
    attempts: row.attempts,
    reason: row.reason,
    lastError: row.last_error
  }
}

const POSTGRES_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/

function encodeCursor (receivedAt: string, eventId: string): string {
  return Buffer.from(JSON.stringify([receivedAt, eventId])).toString('base64url')
}

function decodeCursor (cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' &&
        POSTGRES_TIMESTAMP.test(value[0])) {
      return [value[0], value[1]]
    }
  } catch {}
  throw new BadRequestError('cursor is not one this service gave out')
}
