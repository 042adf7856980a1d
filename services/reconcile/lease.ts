// The reconciler's row in `reconcile_state`: its cursor, and a lease that lets one replica at a time run a
// pass. A plain row with an expiry, not an advisory lock: a session lock would not survive PgBouncer in
// transaction mode, and a holder that dies simply stops renewing. Every time is Postgres's own `now()`,
// so replicas whose clocks disagree still agree on who holds the lease.
import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'

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
    private readonly db: Db,
    readonly name: string,
    readonly ttlMs: number
  ) {}

  /** Takes the lease for `owner` when it is free or expired; undefined when another holder has it. */
  async acquire (owner: string, options: AcquireOptions = {}): Promise<LeaseHeld | undefined> {
    const gap = options.minGapMs ?? 0
    const rows = await this.db.execute(sql`
      insert into reconcile_state (name, lease_owner, lease_until, updated_at)
      values (${this.name}, ${owner}, now() + ${this.ttlMs}::integer * interval '1 millisecond', now())
      on conflict (name) do update
        set lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
        where (reconcile_state.lease_owner is null or reconcile_state.lease_until < now())
          and reconcile_state.updated_at <= now() - ${gap}::integer * interval '1 millisecond'
      returning cursor`)
    const row = rowsOf<{ cursor: string | null }>(rows)[0]
    return row === undefined ? undefined : { cursor: row.cursor }
  }

  /** Extends the lease; false when it is no longer ours (it expired and another replica took it). */
  async renew (owner: string): Promise<boolean> {
    const rows = await this.db.execute(sql`
      update reconcile_state set lease_until = now() + ${this.ttlMs}::integer * interval '1 millisecond'
      where name = ${this.name} and lease_owner = ${owner} and lease_until >= now()
      returning 1`)
    return rowsOf(rows).length === 1
  }

  /**
   * Moves the cursor to `cursor` while `owner` holds the lease; false when it does not. The cursor only
   * moves forward (ids compared byte by byte, as Paddle orders them), so a pass that starts earlier than
   * the cursor (`--since`) never takes it back.
   */
  async advance (owner: string, cursor: string): Promise<boolean> {
    const rows = await this.db.execute(sql`
      update reconcile_state
        set cursor = case when cursor is null or cursor collate "C" < ${cursor} collate "C" then ${cursor} else cursor end,
            updated_at = now()
      where name = ${this.name} and lease_owner = ${owner} and lease_until >= now()
      returning 1`)
    return rowsOf(rows).length === 1
  }

  /** Gives the lease back, and records when the pass ended (the next scheduled pass counts from here). */
  async release (owner: string): Promise<void> {
    await this.db.execute(sql`
      update reconcile_state set lease_owner = null, lease_until = null, updated_at = now()
      where name = ${this.name} and lease_owner = ${owner}`)
  }

  async read (): Promise<{ cursor: string | null, leaseOwner: string | null, leaseUntil: Date | null } | undefined> {
    const rows = await this.db.execute(sql`
      select cursor, lease_owner, lease_until from reconcile_state where name = ${this.name}`)
    const row = rowsOf<{ cursor: string | null, lease_owner: string | null, lease_until: string | Date | null }>(rows)[0]
    if (row === undefined) return undefined
    return {
      cursor: row.cursor,
      leaseOwner: row.lease_owner,
      leaseUntil: row.lease_until === null ? null : new Date(row.lease_until)
    }
  }
}

/** node-postgres answers `{ rows }`, PGlite an array-like result with `rows` too; both carry `rows`. */
function rowsOf<T> (result: unknown): T[] {
  const rows = (result as { rows?: T[] }).rows
  return Array.isArray(rows) ? rows : (result as T[])
}
