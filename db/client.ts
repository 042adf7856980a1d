// Opens the database: a pg Pool when DATABASE_URL is set, embedded PGlite otherwise; one drizzle API over both.
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sql, type ExtractTablesWithRelations, type SQL, type SQLWrapper } from 'drizzle-orm'
import { PgDialect, type PgDatabase, type PgQueryResultHKT, type PgTransaction } from 'drizzle-orm/pg-core'
import * as schema from './schema.js'

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

export interface Database {
  readonly kind: 'postgres' | 'pglite'
  readonly db: Db
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
  return {
    kind: 'postgres',
    db,
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
  if (!dataDir.includes('://')) mkdirSync(dataDir, { recursive: true })
  const client = await PGlite.create(dataDir)
  const db = drizzle(client, { schema }) as unknown as Db
  return {
    kind: 'pglite',
    db,
    async migrate () { await migrate(drizzle(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER }) },
    async ping () { await client.query('select 1') },
    async close () { await client.close() }
  }
}

/**
 * Several data-modifying statements as ONE statement (`with s0 as (...), s1 as (...) select 1`): one round
 * trip and one implicit transaction, so any error (a unique violation included) rolls back all of them.
 * The statements must touch different rows: CTEs of one statement do not see each other's changes.
 */
export function atomically (statements: SQLWrapper[]): SQL {
  const ctes = statements.map((statement, i) => sql`${sql.raw(`s${i}`)} as (${statement.getSQL()})`)
  return sql`with ${sql.join(ctes, sql`, `)} select 1`
}

const dialect = new PgDialect()

export interface PreparedStatement {
  execute(values: Record<string, unknown>): Promise<unknown>
}

/** Compiles a statement with placeholders once, as a named prepared statement; each call binds values. */
export function prepareStatement (db: Db, statement: SQL, name: string): PreparedStatement {
  return db._.session.prepareQuery(dialect.sqlToQuery(statement), undefined, name, false) as unknown as PreparedStatement
}

/** The Postgres error under drizzle's wrapper (`err.cause`), with pg and PGlite alike. */
export function pgErrorOf (err: unknown): { code?: string, constraint?: string } | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 3 && current !== null && typeof current === 'object'; depth++) {
    const candidate = current as { code?: unknown, constraint?: unknown, cause?: unknown }
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return {
        code: candidate.code,
        ...(typeof candidate.constraint === 'string' ? { constraint: candidate.constraint } : {})
      }
    }
    current = candidate.cause
  }
  return undefined
}

/** True for a unique violation, optionally of one named constraint. */
export function isUniqueViolation (err: unknown, constraint?: string): boolean {
  const pgError = pgErrorOf(err)
  return pgError?.code === '23505' && (constraint === undefined || pgError.constraint === constraint)
}
