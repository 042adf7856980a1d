// Migrations with many replicas at once, directly and behind PgBouncer in transaction mode: one transaction-
// scoped advisory lock, a bounded wait with a log line, and drizzle's own bookkeeping kept.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator'
import { openDatabase, type Db } from '../../db/client.js'
import { MIGRATION_LOCK_ID, runMigrations } from '../../db/migrate.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'
import { pgBouncer } from '../helpers/pgbouncer.js'

const MIGRATIONS = fileURLToPath(new URL('../../db/migrations', import.meta.url))
const TAGS = ['0000_init', '0001_inbox_convergence']

interface Logged { obj: object, msg: string }
const collector = () => {
  const lines: Logged[] = []
  return { lines, info: (obj: object, msg: string) => { lines.push({ obj, msg }) }, warn: (obj: object, msg: string) => { lines.push({ obj, msg }) } }
}

interface Teardown { teardown(fn: () => unknown): void }

/** A drizzle Db over a pg.Client of its own, as Database.migrate() uses. */
async function clientDb (t: Teardown, url: string): Promise<Db> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.end())
  return drizzle(client) as unknown as Db
}

const recorded = async (database: TestDatabase) =>
  (await database.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations'))[0]?.n
const advisoryLocks = async (database: TestDatabase) =>
  (await database.query<{ n: number }>("select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = $1 and database = (select oid from pg_database where datname = $2)", [MIGRATION_LOCK_ID, database.name]))[0]?.n

/** Holds the migration lock in an open transaction, as a replica in the middle of a migration does. */
async function holdLock (t: Teardown, database: TestDatabase): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: database.url })
  await holder.connect()
  await holder.query('begin')
  await holder.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID])
  let released = false
  const release = async () => {
    if (released) return
    released = true
    await holder.query('commit')
    await holder.end()
  }
  t.teardown(release)
  return { release }
}

for (const via of ['directly', 'through PgBouncer (transaction mode, 3 server connections)'] as const) {
  t.test(`ten replicas migrate one empty database at once, ${via}: each migration applied once`, async (t) => {
    const database = await freshDatabase(t)
    const url = via === 'directly' ? database.url : (await pgBouncer(t, { poolSize: 3 })).url(database.url)
    const log = collector()
    const results = await Promise.all(Array.from({ length: 10 }, async () =>
      runMigrations(await clientDb(t, url), { migrationsFolder: MIGRATIONS, lockTimeoutMs: 30_000, log })))

    const appliers = results.filter((r) => r.applied.length > 0)
    t.equal(appliers.length, 1, 'one replica applied the migrations')
    t.same(appliers[0]?.applied, TAGS, 'both of them, in order')
    t.ok(results.filter((r) => r.applied.length === 0).length === 9, 'the nine others found the database up to date')
    t.equal(await recorded(database), 2, 'drizzle.__drizzle_migrations holds each migration once')
    t.equal(await advisoryLocks(database), 0, 'the migration lock does not outlive its transaction')
    const tables = await database.query("select table_name from information_schema.tables where table_schema = 'public'")
    t.equal(tables.length, 6, 'the schema exists')
    if (results.some((r) => r.waited)) {
      t.ok(log.lines.some((l) => l.msg.includes('waiting for its migration lock')), 'a replica that waited said so')
    }
  })
}

t.test('the bookkeeping is drizzle\'s: a database drizzle\'s migrator migrated is up to date, and the reverse', async (t) => {
  const byDrizzle = await freshDatabase(t)
  await drizzleMigrate(drizzle(await plainClient(t, byDrizzle.url)), { migrationsFolder: MIGRATIONS })
  const first = await runMigrations(await clientDb(t, byDrizzle.url), { migrationsFolder: MIGRATIONS, lockTimeoutMs: 5000, log: collector() })
  t.same(first.applied, [], 'nothing applied again on a database drizzle migrated')
  t.equal(await recorded(byDrizzle), 2)

  const byUs = await freshDatabase(t)
  const ours = await runMigrations(await clientDb(t, byUs.url), { migrationsFolder: MIGRATIONS, lockTimeoutMs: 5000, log: collector() })
  t.same(ours.applied, TAGS)
  await drizzleMigrate(drizzle(await plainClient(t, byUs.url)), { migrationsFolder: MIGRATIONS })
  t.equal(await recorded(byUs), 2, 'drizzle\'s migrator finds nothing to apply after ours')
  const [a, b] = await Promise.all([byDrizzle, byUs].map((d) => d.query('select hash, created_at from drizzle.__drizzle_migrations order by id')))
  t.same(a, b, 'the same hashes and timestamps either way')
})

t.test('the wait is bounded: a held lock fails the start after the lock timeout, with a line while waiting', async (t) => {
  const database = await freshDatabase(t)
  const holder = await holdLock(t, database)
  const log = collector()
  await t.rejects(runMigrations(await clientDb(t, database.url), { migrationsFolder: MIGRATIONS, lockTimeoutMs: 300, log }),
    { code: 'BW_ERR_MIGRATION_LOCK_TIMEOUT', message: /more than 300 ms/ })
  t.match(log.lines, [{ msg: 'migrations: another replica is migrating; waiting for its migration lock', obj: { lockTimeoutMs: 300 } }])
  const tables = await database.query("select table_name from information_schema.tables where table_schema = 'public'")
  t.same(tables, [], 'nothing was applied')
  await holder.release()
  const after = await runMigrations(await clientDb(t, database.url), { migrationsFolder: MIGRATIONS, lockTimeoutMs: 300, log })
  t.same(after.applied, TAGS, 'once the holder is gone, the next start migrates')
})

t.test('a replica waits for the holder, says so while it waits, then finds the work done', async (t) => {
  const database = await freshDatabase(t)
  const holder = await holdLock(t, database)
  const log = collector()
  const waiting = runMigrations(await clientDb(t, database.url), { migrationsFolder: MIGRATIONS, lockTimeoutMs: 10_000, log, waitLogEveryMs: 100 })
  await sleep(450)
  await holder.release()
  const result = await waiting
  t.equal(result.waited, true)
  t.same(result.applied, TAGS, 'the holder applied nothing here, so the waiter did')
  const messages = log.lines.map((l) => l.msg)
  t.ok(messages.filter((m) => m === 'migrations: still waiting for the migration lock').length >= 2, 'reminders while waiting')
  t.ok(messages.includes('migrations: got the migration lock'))
})

t.test('Database.migrate() through PgBouncer: the service\'s own path, and a fresh start migrates nothing', async (t) => {
  const database = await freshDatabase(t)
  const bouncer = await pgBouncer(t, { poolSize: 2 })
  const log = collector()
  const opened = await openDatabase({ databaseUrl: bouncer.url(database.url), dataDir: 'unused', poolSize: 2, poolMode: 'transaction' }, log)
  t.teardown(() => opened.close())
  t.same((await opened.migrate()).applied, TAGS)
  t.same((await opened.migrate()).applied, [], 'a second start finds it up to date')
  t.equal(await advisoryLocks(database), 0)
})

/** A plain pg.Client, for drizzle's own migrator. */
async function plainClient (t: Teardown, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}
