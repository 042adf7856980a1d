// The webhook's LVVER job: the `webhook_events` record is the fence, the event plan is the handler.
import { atomically, prepareStatement, type Db, type PreparedStatement } from '../db/client.js'
import { webhookEvents } from '../db/schema.js'
import { planEvent } from './events/index.js'
import { named, param, type EventPlan } from './events/plan.js'
import type { LvverJob } from './lvver.js'
import type { PaddleEvent } from './paddle/envelope.js'

export const WEBHOOK_SCOPE = 'webhook'
export const WEBHOOK_FENCE = 'webhook_events_pkey'

export interface WebhookJobOptions {
  ttlMs: number
  receivedAt: Date
  /** Called for a handled event that cannot be applied (missing ids): logged as a warning. */
  onUnusable?: (reason: string) => void
}

type RecordValues = Omit<typeof webhookEvents.$inferInsert, 'status'>
const compiled = new WeakMap<Db, Map<string, PreparedStatement>>()
const recordParam = (name: string) => param(`record_${name}`)

/**
 * The record and a plan's writes as one statement, compiled once per plan shape and database: later
 * events only bind their values (a named prepared statement, so Postgres parses it once per connection
 * too). Building the SQL for every event cost about a fifth of the server's CPU.
 */
function statementFor (db: Db, plan: Extract<EventPlan, { kind: 'apply' }>, record: RecordValues): PreparedStatement {
  let byShape = compiled.get(db)
  if (byShape === undefined) {
    byShape = new Map()
    compiled.set(db, byShape)
  }
  let statement = byShape.get(plan.shape)
  if (statement === undefined) {
    statement = prepareStatement(db, atomically([
      db.insert(webhookEvents).values({ ...named(record, recordParam), status: 'processed' }),
      ...plan.statements(db, param)
    ]), `bw_event_${plan.shape}`)
    byShape.set(plan.shape, statement)
  }
  return statement
}

export function webhookJob (db: Db, event: PaddleEvent, options: WebhookJobOptions): LvverJob<true> {
  const plan = planEvent(event, options.receivedAt)
  const record = (status: 'processed' | 'ignored', reason: string | null) => ({
    eventId: event.event_id,
    eventType: event.event_type,
    status,
    occurredAt: event.occurred_at,
    receivedAt: options.receivedAt,
    reason,
    payload: event
  })
  return {
    scope: WEBHOOK_SCOPE,
    id: event.event_id,
    type: event.event_type,
    ttlMs: options.ttlMs,
    fenceConstraint: WEBHOOK_FENCE,
    validate () {
      if (plan.kind === 'apply') return { ok: true }
      options.onUnusable?.(plan.reason)
      return { ok: false, reason: plan.reason }
    },
    async execute () {
      if (plan.kind !== 'apply') throw new Error('execute called for an ignored event')
      // Steps 3 and 5 in one round trip: the record and the handler's writes are one statement, one
      // transaction. If the id is already recorded (a delivery whose Redis marker is gone), the record's
      // primary key fails the statement and nothing is written: that is the VERIFY (Postgres). A
      // concurrent holder of the same id (after a lease expired) fails the same way once the first
      // commits: Postgres runs the parts of one statement in no promised order, but all or none commit.
      const { status: _status, ...recordValues } = record('processed', null)
      const values: Record<string, unknown> = { ...plan.values }
      for (const [name, value] of Object.entries(recordValues)) values[`record_${name}`] = value
      await statementFor(db, plan, recordValues).execute(values)
      return true
    },
    async recordIgnored (reason) {
      await db.insert(webhookEvents).values(record('ignored', reason))
      return true
    }
  }
}
