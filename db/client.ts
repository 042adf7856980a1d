// Opens the database: a pg Pool when DATABASE_URL is set, embedded PGlite otherwise; one runner of the
// statement catalogue over both, and drizzle for migrations and tests.
import { fileURLToPath } from 'node:url'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import * as schema from './schema.js'
import type { Statement } from './statements.js'
import { ensureWritableDataDir } from './data-dir.js'

/** The one method the pool's error listener needs; pino and Fastify's logger both fit. */
export interface WarnLogger { warn(obj: object, msg: string): void }

export type Schema = typeof schema
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>

export interface DatabaseOptions {
  databaseUrl: string | undefined
  dataDir: string
  poolSize: number
}

/** Runs catalogue statements (db/statements.ts), on the pool or inside one transaction. */
export interface Queryable {
  run<Row = Record<string, unknown>>(statement: Statement, values: Record<string, unknown>): Promise<QueryResult<Row>>
}

export interface QueryResult<Row> { rows: Row[], rowCount: number }

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite'
  /** drizzle over the same connections: migrations, and tests that look at the tables. */
  readonly db: Db
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>
  /** Runs the committed migrations; safe to call from several replicas at once. */
  migrate(): Promise<void>
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>
  close(): Promise<void>
}

export async function openDatabase (options: DatabaseOptions, log: WarnLogger): Promise<Database> {
  return options.databaseUrl !== undefined
    ? openPostgres(options.databaseUrl, options.poolSize, log)
    : openPglite(options.dataDir)
}

const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url))
// Any constant works; it only has to be the same for every replica.
const MIGRATION_LOCK_ID = 727_274_001

async function openPostgres (url: string, poolSize: number, log: WarnLogger): Promise<Database> {
  const { default: pg } = await import('pg')
  const { drizzle } = await import('drizzle-orm/node-postgres')
  const { migrate } = await import('drizzle-orm/node-postgres/migrator')
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // pg waits forever for a free connection by default; a webhook has 5 s before the provider gives up.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    statement_timeout: 10000,
    query_timeout: 12000,
    application_name: 'billing-webhooks'
  })
  // Without a listener, an idle client's error (server restart, pg_terminate_backend) crashes the process.
  pool.on('error', (err) => { log.warn({ err }, 'idle Postgres client failed; the pool replaces it') })
  const db = drizzle(pool, { schema }) as unknown as Db
  // Named: Postgres parses each catalogue statement once per connection, then only binds values.
  const query = (target: import('pg').Pool | import('pg').PoolClient) => async <Row>(statement: Statement, values: Record<string, unknown>) => {
    const result = await target.query({ name: statement.name, text: statement.text, values: bind(statement, values) })
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 }
  }
  return {
    kind: 'postgres',
    db,
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
      // A connection of its own, without the pool's statement timeouts: waiting for another replica's
      // migration, or a long migration on a big table, must not fail the start after 10 s.
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'billing-webhooks-migrate' })
      client.on('error', (err) => { log.warn({ err }, 'migration connection failed') })
      await client.connect()
      try {
        // Replicas starting together would race on CREATE TABLE; the advisory lock serialises them.
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID])
        try {
          await migrate(drizzle(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER })
        } finally {
          await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID])
        }
      } finally {
        await client.end()
      }
    },
    async ping () { await pool.query('select 1') },
    async close () { await pool.end() }
  }
}

async function openPglite (dataDir: string): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  const { migrate } = await import('drizzle-orm/pglite/migrator')
  if (!dataDir.includes('://')) ensureWritableDataDir(dataDir)
  const client = await PGlite.create(dataDir)
  const db = drizzle(client, { schema }) as unknown as Db
  const query = (target: Pick<typeof client, 'query'>) => async <Row>(statement: Statement, values: Record<string, unknown>) => {
    const result = await target.query<Row>(statement.text, bind(statement, values))
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length }
  }
  return {
    kind: 'pglite',
    db,
    run: query(client),
    transaction: async (work) => client.transaction(async (tx) => work({ run: query(tx) })),
    async migrate () { await migrate(drizzle(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER }) },
    async ping () { await client.query('select 1') },
    async close () { await client.close() }
  }
}

/** A statement's values in its parameter order; a missing value is SQL null. */
function bind (statement: Statement, values: Record<string, unknown>): unknown[] {
  return statement.params.map((name) => values[name] ?? null)
}
