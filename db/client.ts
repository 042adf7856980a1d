// Opens the database: a pg Pool when DATABASE_URL is set, embedded PGlite otherwise; one runner of the
// statement catalogue over both, and drizzle for migrations and tests.
import { fileURLToPath } from 'node:url'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import type { MigrationResult } from './migrate.js'
import * as schema from './schema.js'
import type { Statement } from './statements.js'
import { ensureWritableDataDir } from './data-dir.js'

/** What the db layer logs: pool errors, the migration lock's wait; pino and Fastify's logger both fit. */
export interface DbLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export type Schema = typeof schema
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>

/**
 * `session`: a connection of the pool is one Postgres session (direct, or a pooler in session mode): the
 * pool sets `statement_timeout` at connect and may use named prepared statements. `transaction`: a pooler
 * (PgBouncer) lends a server connection per transaction: no startup parameter it could refuse, no named
 * prepared statement, no session state (ARCHITECTURE.md, "Postgres connections").
 */
export type PoolMode = 'session' | 'transaction'

export interface DatabaseOptions {
  databaseUrl: string | undefined
  dataDir: string
  poolSize: number
  poolMode?: PoolMode
  /** How long a replica waits for another one's migration before its start fails (default 2 min). */
  migrationLockTimeoutMs?: number
}

/** Runs catalogue statements (db/statements.ts), on the pool or inside one transaction. */
export interface Queryable {
  run<Row = Record<string, unknown>>(statement: Statement, values: Record<string, unknown>): Promise<QueryResult<Row>>
}

export interface QueryResult<Row> { rows: Row[], rowCount: number }

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite'
  readonly poolMode: PoolMode
  /** drizzle over the same connections: migrations, and tests that look at the tables. */
  readonly db: Db
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>
  /**
   * Whether statements may be named prepared statements (parsed once per connection). False in
   * transaction mode: a name prepared on one server connection is unknown on the next, and a second
   * client's Parse of the same name on a shared one fails.
   */
  readonly namedStatements: boolean
  /** Runs the committed migrations; safe with any number of replicas at once, behind a pooler too. */
  migrate(): Promise<MigrationResult>
  /** Resolves when the database answers a trivial query on a connection of its own, outside the pool. */
  ping(): Promise<void>
  close(): Promise<void>
}

export async function openDatabase (options: DatabaseOptions, log: DbLogger): Promise<Database> {
  return options.databaseUrl !== undefined
    ? openPostgres(options.databaseUrl, options, log)
    : openPglite(options.dataDir, log, options.migrationLockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS)
}

const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url))
// Below the Kubernetes startup probe's 3 minutes: a stuck migration fails the start with a clear line.
const MIGRATION_LOCK_TIMEOUT_MS = 120_000
const STATEMENT_TIMEOUT_MS = 10_000
const PING_TIMEOUT_MS = 1000
// Every connection of the service, so that one name finds them all (behind PgBouncer a server connection
// carries the name of the last client it served).
const APPLICATION_NAME = 'billing-webhooks'

async function openPostgres (url: string, options: DatabaseOptions, log: DbLogger): Promise<Database> {
  const { default: pg } = await import('pg')
  const { drizzle } = await import('drizzle-orm/node-postgres')
  const { runMigrations } = await import('./migrate.js')
  const poolMode = options.poolMode ?? 'session'
  const connection = {
    connectionString: withSystemRoots(url),
    application_name: APPLICATION_NAME,
    // A startup parameter, which PgBouncer refuses. Behind a transaction pooler the bound comes from the
    // role's own setting and from query_timeout, which pg keeps on the client side (ARCHITECTURE.md,
    // "Postgres connections").
    ...(poolMode === 'session' ? { statement_timeout: STATEMENT_TIMEOUT_MS } : {})
  }
  const pool = new pg.Pool({
    ...connection,
    max: options.poolSize,
    // pg waits forever for a free connection by default; a webhook has 5 s before the provider gives up.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    query_timeout: STATEMENT_TIMEOUT_MS + 2000
  })
  // Without a listener, an idle client's error (server restart, pg_terminate_backend) crashes the process.
  pool.on('error', (err) => { log.warn({ err }, 'idle Postgres client failed; the pool replaces it') })
  // Readiness asks on a connection of its own, opened like the pool's: a pool saturated by slow queries
  // is busy, not down, and must not take every replica out of the Service at once. Kept open, so that a
  // Postgres at max_connections does not fail the probe either.
  const health = new pg.Pool({ ...connection, max: 1, connectionTimeoutMillis: PING_TIMEOUT_MS, idleTimeoutMillis: 0, query_timeout: PING_TIMEOUT_MS })
  health.on('error', (err) => { log.warn({ err }, 'the readiness connection failed; the next probe opens another') })
  const db = drizzle(pool, { schema }) as unknown as Db
  try {
    await checkPool(pool, poolMode, log)
  } catch (err) {
    await Promise.all([pool.end(), health.end()])
    throw err
  }
  const namedStatements = poolMode === 'session'
  // Named where the mode allows: Postgres parses each catalogue statement once per connection, then only
  // binds values. Unnamed, pg sends Parse and Bind without a name, which any pooler passes through.
  const query = (target: import('pg').Pool | import('pg').PoolClient) => async <Row>(statement: Statement, values: Record<string, unknown>) => {
    const result = await target.query({ ...(namedStatements ? { name: statement.name } : {}), text: statement.text, values: bind(statement, values) })
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 }
  }
  return {
    kind: 'postgres',
    poolMode,
    db,
    namedStatements,
    run: query(pool),
    async transaction (work) {
      const client = await pool.connect()
      let broken: Error | undefined
      try {
        await client.query('begin')
        const result = await work({ run: query(client) })
        await client.query('commit')
        return result
      } catch (err) {
        await client.query('rollback').catch((rollbackError: Error) => { broken = rollbackError })
        throw err
      } finally {
        // A client whose rollback failed is in an unknown state: the pool discards it.
        client.release(broken)
      }
    },
    async migrate () {
      // A connection of its own, without the pool's statement timeout: a long migration on a big table
      // must not fail the start after 10 s.
      const client = new pg.Client({ connectionString: connection.connectionString, application_name: APPLICATION_NAME, connectionTimeoutMillis: 5000 })
      client.on('error', (err) => { log.warn({ err }, 'migration connection failed') })
      await client.connect()
      try {
        return await runMigrations(drizzle(client, { schema }) as unknown as Db, {
          migrationsFolder: MIGRATIONS_FOLDER,
          lockTimeoutMs: options.migrationLockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS,
          log
        })
      } finally {
        await client.end()
      }
    },
    async ping () { await health.query('select 1') },
    async close () { await Promise.all([pool.end(), health.end()]) }
  }
}

interface Shows { query(text: string): Promise<{ rows: Array<Record<string, unknown>> }> }

/**
 * One connection of the pool, opened at start. A pooler that refuses a startup parameter (PgBouncer and
 * statement_timeout, in session mode) stops the start with the fix, instead of a service whose every
 * request fails. Behind a transaction pooler the service cannot set statement_timeout itself (a session
 * SET would leak to other clients): say so when Postgres has none for this role.
 */
async function checkPool (pool: Shows, poolMode: PoolMode, log: DbLogger): Promise<void> {
  let timeout: unknown
  try {
    timeout = (await pool.query('show statement_timeout')).rows[0]?.statement_timeout
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    if (/unsupported startup parameter/i.test(message)) {
      throw new Error(`a connection pooler refused the pool's connection (${message}); behind PgBouncer, set DATABASE_POOL_MODE=transaction`)
    }
    // Unreachable Postgres: the migration that follows reports it.
    return
  }
  if (poolMode === 'transaction' && timeout === '0') {
    log.warn({ poolMode }, 'Postgres has no statement_timeout for this role: statements are bounded only by the ' +
      'client\'s query timeout; set one on the role (alter role ... set statement_timeout = \'10s\')')
  }
}

/**
 * libpq's `sslrootcert=system` (trust the system's roots; implies verify-full) is not a file pg can read:
 * without it, pg verifies against Node's roots (plus NODE_EXTRA_CA_CERTS), which is the same promise.
 */
export function withSystemRoots (url: string): string {
  const parsed = new URL(url)
  if (parsed.searchParams.get('sslrootcert') !== 'system') return url
  parsed.searchParams.delete('sslrootcert')
  parsed.searchParams.set('sslmode', 'verify-full')
  return parsed.toString()
}

async function openPglite (dataDir: string, log: DbLogger, lockTimeoutMs: number): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  const { runMigrations } = await import('./migrate.js')
  if (!dataDir.includes('://')) ensureWritableDataDir(dataDir)
  const client = await PGlite.create(dataDir)
  const db = drizzle(client, { schema }) as unknown as Db
  const query = (target: Pick<typeof client, 'query'>) => async <Row>(statement: Statement, values: Record<string, unknown>) => {
    const result = await target.query<Row>(statement.text, bind(statement, values))
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length }
  }
  return {
    kind: 'pglite',
    poolMode: 'session',
    db,
    // One embedded connection and no pooler (PGlite's query takes no name: it never prepares one).
    namedStatements: true,
    run: query(client),
    transaction: async (work) => client.transaction(async (tx) => work({ run: query(tx) })),
    async migrate () { return runMigrations(db, { migrationsFolder: MIGRATIONS_FOLDER, lockTimeoutMs, log }) },
    async ping () { await client.query('select 1') },
    async close () { await client.close() }
  }
}

/** A statement's values in its parameter order; a missing value is SQL null. */
function bind (statement: Statement, values: Record<string, unknown>): unknown[] {
  return statement.params.map((name) => values[name] ?? null)
}
