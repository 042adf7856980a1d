// Applies the committed migrations in ONE transaction that first takes a transaction-scoped advisory lock,
// so that any number of replicas may start at once, directly or behind a transaction-pooling PgBouncer.
// A session-level lock would not do behind a pooler: taken on one server connection and released on
// another, it stays held and the next replica waits forever. A transaction holds one server connection
// from BEGIN to COMMIT in every pool mode, and the lock ends with it, even if the process dies.
//
// The bookkeeping is drizzle's own (`drizzle.__drizzle_migrations`: the file's sha256 and the journal's
// `when`), compared the way drizzle's migrator compares it, so a database migrated by drizzle's migrator
// (or by drizzle-kit) is up to date here, and the reverse.
import { readFileSync } from 'node:fs'
import createError from '@fastify/error'
import { sql } from 'drizzle-orm'
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator'
import { pgErrorOf } from '../services/safe-error.js'
import type { Db, Tx } from './client.js'

export interface MigrationLogger {
  info(obj: object, msg: string): void
}

export interface MigrateOptions {
  migrationsFolder: string
  /** How long to wait for another replica's migration before giving up (the start then fails). */
  lockTimeoutMs: number
  log: MigrationLogger
  /** While waiting, a log line this often (default 10 s). */
  waitLogEveryMs?: number
}

export interface MigrationResult {
  /** The tags of the migrations this call applied; empty when the database was up to date. */
  applied: string[]
  /** Whether another replica held the lock when this call asked for it. */
  waited: boolean
}

export const MigrationLockTimeoutError = createError<[number]>('BW_ERR_MIGRATION_LOCK_TIMEOUT',
  'Another replica held the migration lock for more than %d ms; giving up so that the start fails visibly (the ' +
  'lock ends with its holder\'s transaction: check for a stuck migration in pg_stat_activity)', 500)

// Any constant works; it only has to be the same for every replica and every version of the service.
export const MIGRATION_LOCK_ID = 727_274_001
const SCHEMA = 'drizzle'
const TABLE = '__drizzle_migrations'
const LOCK_NOT_AVAILABLE = '55P03'

interface Journal { entries: Array<{ tag: string }> }

export async function runMigrations (db: Db, options: MigrateOptions): Promise<MigrationResult> {
  const migrations = readMigrationFiles({ migrationsFolder: options.migrationsFolder })
  const tags = journalTags(options.migrationsFolder)
  return db.transaction(async (tx) => {
    const waited = !(await lock(tx, options))
    // A migration may rewrite a big table; a statement_timeout set on the role (as the README advises
    // behind a pooler) must not fail it half way.
    await tx.execute(sql`set local statement_timeout = 0`)
    await tx.execute(sql`create schema if not exists ${sql.identifier(SCHEMA)}`)
    await tx.execute(sql`create table if not exists ${sql.identifier(SCHEMA)}.${sql.identifier(TABLE)} (
      id serial primary key, hash text not null, created_at bigint)`)
    const [last] = await rowsOf<{ created_at: string | number | null }>(tx, sql`select created_at from ${sql.identifier(SCHEMA)}.${sql.identifier(TABLE)} order by created_at desc limit 1`)
    const lastWhen = last?.created_at === undefined || last.created_at === null ? undefined : Number(last.created_at)
    const applied: string[] = []
    for (const [index, migration] of migrations.entries()) {
      if (lastWhen !== undefined && lastWhen >= migration.folderMillis) continue
      await apply(tx, migration)
      applied.push(tags[index] ?? String(migration.folderMillis))
    }
    options.log.info({ applied, waited }, applied.length > 0 ? `migrations: applied ${applied.length}` : 'migrations: up to date')
    return { applied, waited }
  })
}

/** Takes the lock; false when it had to wait for another replica first. */
async function lock (tx: Tx, options: MigrateOptions): Promise<boolean> {
  const [tried] = await rowsOf<{ locked: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${MIGRATION_LOCK_ID}) as locked`)
  if (tried?.locked === true) return true
  const started = Date.now()
  const { lockTimeoutMs, log } = options
  log.info({ lockTimeoutMs }, 'migrations: another replica is migrating; waiting for its migration lock')
  const every = options.waitLogEveryMs ?? 10_000
  const reminder = setInterval(() => {
    log.info({ waitedMs: Date.now() - started, lockTimeoutMs }, 'migrations: still waiting for the migration lock')
  }, every)
  try {
    await tx.execute(sql.raw(`set local lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`))
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`)
    // The migrations' own DDL waits for table locks as long as the server's default allows.
    await tx.execute(sql`set local lock_timeout to default`)
  } catch (err) {
    if (pgErrorOf(err)?.code === LOCK_NOT_AVAILABLE) throw new MigrationLockTimeoutError(lockTimeoutMs)
    throw err
  } finally {
    clearInterval(reminder)
  }
  log.info({ waitedMs: Date.now() - started }, 'migrations: got the migration lock')
  return false
}

async function apply (tx: Tx, migration: MigrationMeta): Promise<void> {
  for (const statement of migration.sql) {
    if (statement.trim() !== '') await tx.execute(sql.raw(statement))
  }
  await tx.execute(sql`insert into ${sql.identifier(SCHEMA)}.${sql.identifier(TABLE)} (hash, created_at)
    values (${migration.hash}, ${migration.folderMillis})`)
}

/** The migrations' names, in the order readMigrationFiles returns them. */
function journalTags (folder: string): string[] {
  const journal = JSON.parse(readFileSync(`${folder}/meta/_journal.json`, 'utf8')) as Journal
  return journal.entries.map((entry) => entry.tag)
}

async function rowsOf<T> (tx: Tx, query: ReturnType<typeof sql>): Promise<T[]> {
  return (await tx.execute(query) as unknown as { rows: T[] }).rows
}
