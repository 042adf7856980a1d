// The shape every event handler returns: the writes to make, or a reason to ignore the event.
import { sql, type Placeholder, type SQLWrapper } from 'drizzle-orm'
import type { Db } from '../../db/client.js'

/** Names a per-event value inside a statement; the statement's text then never depends on the event. */
export type Param = (name: string) => Placeholder
export const param: Param = (name) => sql.placeholder(name)

/**
 * `statements` builds (does not run) the handler's writes, with every per-event value as `param(name)`
 * and the values themselves in `values`. Plans of one `shape` build the same statement text, so the
 * webhook job compiles each shape once and then only binds values. The job runs the statements
 * together with the event's record as one atomic statement: all commit, or none. They must touch
 * different rows (data-modifying CTEs of one statement cannot see each other's changes).
 */
export type EventPlan =
  | { kind: 'apply', shape: string, values: Record<string, unknown>, statements: (db: Db, param: Param) => SQLWrapper[] }
  | { kind: 'ignore', reason: string }

export const ignore = (reason: string): EventPlan => ({ kind: 'ignore', reason })

/** `{ a: 1, b: 2 }` becomes `{ a: param('a'), b: param('b') }`: a statement's values, named. */
export function named<T extends Record<string, unknown>> (values: T, p: Param): { [K in keyof T]: Placeholder } {
  const result: Record<string, Placeholder> = {}
  for (const key of Object.keys(values)) result[key] = p(key)
  return result as { [K in keyof T]: Placeholder }
}
