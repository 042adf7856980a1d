// The db layer against real Postgres and embedded PGlite: migrations, round trips, the fence's error.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq, sql } from 'drizzle-orm'
import { isUniqueViolation, openDatabase, pgErrorOf, type Database } from '../../db/client.js'
import { webhookEvents } from '../../db/schema.js'
import { freshDatabase } from '../helpers/database.js'

const log = { warn: () => {} }
// Every table with the columns other systems read (a table may hold more).
const COLUMNS: Record<string, string[]> = {
  badge_purchases: ['id', 'member_id', 'community_id', 'badge_id', 'price_id', 'status', 'transaction_id', 'created_at', 'completed_at'],
  boosts: ['id', 'community_id', 'member_id', 'months', 'source', 'transaction_id', 'price_id', 'created_at', 'expires_at'],
  idempotency_keys: ['key', 'scope', 'request_hash', 'status_code', 'response', 'created_at'],
  subscriptions: ['id', 'community_id', 'customer_id', 'status', 'tier', 'current_period_end', 'grace_until', 'last_event_at', 'updated_at'],
  webhook_events: ['event_id', 'event_type', 'status', 'source', 'occurred_at', 'received_at', 'processed_at', 'attempts', 'last_error', 'reason', 'payload'],
  reconcile_state: ['name', 'cursor', 'updated_at']
}
const TABLES = Object.keys(COLUMNS).sort()
// The keys the exactly-once fences stand on.
const KEYS = [
  'badge_purchases_pkey(id)', 'badge_purchases_transaction_id_unique(transaction_id)',
  'boosts_pkey(id)', 'boosts_transaction_price_unique(transaction_id,price_id)',
  'idempotency_keys_pkey(key)', 'reconcile_state_pkey(name)', 'subscriptions_pkey(id)', 'webhook_events_pkey(event_id)'
]

async function rows<T> (database: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  return (await database.db.execute(query) as unknown as { rows: T[] }).rows
}

async function exercise (t: Test, database: Database): Promise<void> {
  await database.migrate()
  await database.migrate()
  t.pass('migrating twice is harmless')
  const tables = await rows<{ table_name: string }>(database, sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`)
  t.same(tables.map((r) => r.table_name), TABLES, 'the six tables')
  const columns = await rows<{ table_name: string, column_name: string }>(database, sql`select table_name, column_name from information_schema.columns where table_schema = 'public'`)
  for (const [table, expected] of Object.entries(COLUMNS)) {
    const present = new Set(columns.filter((c) => c.table_name === table).map((c) => c.column_name))
    t.same(expected.filter((column) => !present.has(column)), [], `${table} has its columns`)
  }
  const keys = await rows<{ key: string }>(database, sql`
    select c.conname || '(' || string_agg(a.attname, ',' order by a.attnum) || ')' as key
    from pg_constraint c join pg_namespace n on n.oid = c.connamespace
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
    where n.nspname = 'public' and c.contype in ('p', 'u')
    group by c.conname order by 1`)
  t.same(keys.map((k) => k.key), KEYS, 'primary keys and unique transaction ids')
  const row = { eventId: 'evt_round_trip', eventType: 'subscription.created', status: 'processed' as const, occurredAt: '2026-11-20 10:00:00+00', payload: { a: [1, 'two'] } }
  await database.db.insert(webhookEvents).values(row)
  const [back] = await database.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt_round_trip'))
  t.match(back, { ...row, reason: null })
  t.ok(back?.receivedAt instanceof Date, 'defaults filled in')
  let error: unknown
  try {
    await database.db.insert(webhookEvents).values(row)
  } catch (err) {
    error = err
  }
  t.equal((error as { cause?: { code?: string } }).cause?.code, '23505', 'drizzle wraps the driver\'s error: the code is on err.cause')
  t.equal(pgErrorOf(error)?.code, '23505', 'pgErrorOf finds it under the wrapper')
  t.ok(isUniqueViolation(error, 'webhook_events_pkey'), 'recognised as the record\'s fence')
  t.notOk(isUniqueViolation(error, 'another_constraint'), 'and only as that constraint')
  t.notOk(isUniqueViolation(new Error('plain')), 'a plain error is not a violation')
  await database.ping()
}

t.test('Postgres: migrations, a round trip, the unique violation', async (t) => {
  const fresh = await freshDatabase(t)
  const database = await openDatabase({ databaseUrl: fresh.url, dataDir: 'unused', poolSize: 2 }, log)
  t.teardown(() => database.close())
  t.equal(database.kind, 'postgres')
  await exercise(t, database)
})

t.test('Postgres: replicas migrating a fresh database at once take turns', async (t) => {
  const fresh = await freshDatabase(t)
  const replicas = await Promise.all([1, 2, 3].map(() => openDatabase({ databaseUrl: fresh.url, dataDir: 'unused', poolSize: 1 }, log)))
  t.teardown(() => Promise.all(replicas.map((r) => r.close())))
  await Promise.all(replicas.map((r) => r.migrate()))
  const rows = await fresh.query('select count(*)::int as n from drizzle.__drizzle_migrations')
  t.equal(rows[0]?.n, 2, 'each migration is recorded once')
})

t.test('PGlite in memory and on disk: the same schema and queries', async (t) => {
  const memory = await openDatabase({ databaseUrl: undefined, dataDir: 'memory://', poolSize: 1 }, log)
  t.teardown(() => memory.close())
  t.equal(memory.kind, 'pglite')
  await exercise(t, memory)

  const dir = mkdtempSync(join(tmpdir(), 'bw-pglite-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const disk = await openDatabase({ databaseUrl: undefined, dataDir: join(dir, 'data'), poolSize: 1 }, log)
  await exercise(t, disk)
  await disk.close()
  const reopened = await openDatabase({ databaseUrl: undefined, dataDir: join(dir, 'data'), poolSize: 1 }, log)
  await reopened.migrate()
  const [kept] = await reopened.db.select().from(webhookEvents)
  t.equal(kept?.eventId, 'evt_round_trip', 'rows survive a restart')
  await reopened.close()
})
