// Retention: processed and ignored events older than EVENT_RETENTION_DAYS, and idempotency keys older
// than IDEMPOTENCY_KEY_RETENTION_HOURS, deleted in small batches, one replica at a time. `failed` and
// `needs_review` events are never deleted: they wait for someone.
import type { Database } from '../db/client.js'
import { statements } from '../db/statements.js'

export interface RetentionDeps {
  database: Database
  now(): Date
  eventRetentionDays: number
  keyRetentionHours: number
  /** Counts rows deleted from a table. */
  deleted(table: 'webhook_events' | 'idempotency_keys', rows: number): void
}

/** Rows per batch: each batch is its own short transaction, so a large backlog never holds locks for long. */
export const RETENTION_BATCH = 500
// Any constant works; it only has to be the same for every replica.
const RETENTION_LOCK = 727_274_002
const HOUR_MS = 3600_000

export interface RetentionResult {
  webhook_events: number
  idempotency_keys: number
  /** True when another replica held the lock: this one deleted nothing more. */
  skipped: boolean
}

/** One retention run. Each batch takes a transaction-scoped advisory lock, so replicas never delete at once. */
export async function runRetention (deps: RetentionDeps, batch = RETENTION_BATCH): Promise<RetentionResult> {
  const now = deps.now().getTime()
  const result: RetentionResult = { webhook_events: 0, idempotency_keys: 0, skipped: false }
  const jobs = [
    { table: 'webhook_events' as const, statement: statements.retentionEvents, before: new Date(now - deps.eventRetentionDays * 24 * HOUR_MS) },
    { table: 'idempotency_keys' as const, statement: statements.retentionKeys, before: new Date(now - deps.keyRetentionHours * HOUR_MS) }
  ]
  for (const job of jobs) {
    for (;;) {
      const rows = await deps.database.transaction(async (tx) => {
        const { rows: [lock] } = await tx.run<{ locked: boolean }>(statements.retentionLock, { key: RETENTION_LOCK })
        if (lock?.locked !== true) return undefined
        return (await tx.run(job.statement, { before: job.before.toISOString(), batch })).rowCount
      })
      if (rows === undefined) return { ...result, skipped: true }
      result[job.table] += rows
      if (rows > 0) deps.deleted(job.table, rows)
      if (rows < batch) break
    }
  }
  return result
}
