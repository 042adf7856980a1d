// What an event handler decides (LVVER step 4, pure): a catalogue statement and its values, or a status
// to record with a reason. The inbox adds the record's own values and runs the statement, whose record
// gates every write (db/statements.ts).
import type { Statement } from '../../db/statements.js'

export type EventPlan =
  | { kind: 'apply', statement: Statement, values: Record<string, unknown> }
  | { kind: 'record', status: 'ignored' | 'needs_review', reason: string }

export const ignore = (reason: string): EventPlan => ({ kind: 'record', status: 'ignored', reason })
export const needsReview = (reason: string): EventPlan => ({ kind: 'record', status: 'needs_review', reason })
