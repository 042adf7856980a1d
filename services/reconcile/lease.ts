// The reconciler's row in `reconcile_state`: its cursor, and a lease that lets one replica at a time run a
// pass. A plain row with an expiry, not an advisory lock: a session lock would not survive PgBouncer in
// transaction mode, and a holder that dies simply stops renewing.
import type { Queryable } from '../../db/client.js'
import { statements } from '../../db/statements.js'

export interface LeaseHeld {
  cursor: string | null
}

export interface AcquireOptions {
  /**
   * Refuse when the row was last written less than this long ago: a scheduled pass is then skipped because
   * another replica just ran one, so N replicas make one pass per interval, not N.
   */
  minGapMs?: number
}

export class ReconcileLease {
  constructor (
    private readonly database: Queryable,
    readonly name: string,
    readonly ttlMs: number
  ) {}

  /** Takes the lease for `owner` when it is free or expired; undefined when another holder has it. */
  async acquire (owner: string, options: AcquireOptions = {}): Promise<LeaseHeld | undefined> {
    const { rows } = await this.database.run<{ cursor: string | null }>(statements.reconcileAcquire, {
      name: this.name, owner, ttl_ms: this.ttlMs, min_gap_ms: Math.round(options.minGapMs ?? 0)
    })
    const row = rows[0]
    return row === undefined ? undefined : { cursor: row.cursor }
  }

  /** Extends the lease; false when it is no longer ours (it expired, and another replica may have it). */
  async renew (owner: string): Promise<boolean> {
    const { rows } = await this.database.run(statements.reconcileRenew, { name: this.name, owner, ttl_ms: this.ttlMs })
    return rows.length === 1
  }

  /**
   * Moves the cursor to `cursor` while `owner` holds the lease; false when it does not. The cursor never
   * moves back, so a pass that starts earlier (`--since`) leaves a later cursor where it is.
   */
  async advance (owner: string, cursor: string): Promise<boolean> {
    const { rows } = await this.database.run(statements.reconcileAdvance, { name: this.name, owner, cursor })
    return rows.length === 1
  }

  /** Gives the lease back, and records when the pass ended (the next scheduled pass counts from here). */
  async release (owner: string): Promise<void> {
    await this.database.run(statements.reconcileRelease, { name: this.name, owner })
  }
}
