// The shape every event handler returns: the writes to make, or a reason to ignore the event.
import type { SQLWrapper } from 'drizzle-orm'
import type { Db } from '../../db/client.js'

/**
 * `statements` builds (does not run) the handler's writes. The webhook job runs them together with the
 * event's record as one atomic statement, so they commit together or not at all. They must touch
 * different rows (data-modifying CTEs of one statement cannot see each other's changes).
 */
export type EventPlan =
  | { kind: 'apply', statements: (db: Db) => SQLWrapper[] }
  | { kind: 'ignore', reason: string }

export const ignore = (reason: string): EventPlan => ({ kind: 'ignore', reason })
