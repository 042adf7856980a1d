// The db layer against real Postgres and embedded PGlite: migrations, round trips, every catalogue statement
// prepared on the migrated schema, and the record's gate: a duplicate write writes nothing, raises nothing,
// and leaves its transaction usable.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq, sql } from 'drizzle-orm'
import { openDatabase, type Database, type Queryable } from '../../db/client.js'
import { webhookEvents } from '../../db/schema.js'
import { statements } from '../../db/statements.js'
import { REPLAYABLE } from '../../services/inbox.js'
import { pgErrorOf, safeErrorSerializer, shortError } from '../../services/safe-error.js'
import { freshDatabase } from '../helpers/database.js'

const log = { info: () => {}, warn: () => {} }
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
// The keys the exactly-once gates stand on.
const KEYS = [
  'badge_purchases_pkey(id)', 'badge_purchases_transaction_id_unique(transaction_id)',
  'boosts_pkey(id)', 'boosts_transaction_price_unique(transaction_id,price_id)',
  'idempotency_keys_pkey(key)', 'reconcile_state_pkey(name)', 'subscriptions_pkey(id)', 'webhook_events_pkey(event_id)'
]

async function rows<T> (database: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  return (await database.db.execute(query) as unknown as { rows: T[] }).rows
}

/** The record's values for an event, as the inbox binds them (`reopen`: the statuses it may move on from). */
const record = (eventId: string, reopen: readonly string[] = ['failed']) => ({
  event_id: eventId,
  event_type: 'transaction.completed',
  source: 'webhook',
  occurred_at: '2026-11-20T10:00:00.123456Z',
  payload: JSON.stringify({ event_id: eventId }),
  reopen
})

async function eventRow (db: Queryable, eventId: string) {
  return (await db.run<{ status: string, attempts: number, reason: string | null, last_error: string | null, source: string }>(
    statements.eventFind, { event_id: eventId })).rows[0]
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

  const row = { eventId: 'evt_round_trip', eventType: 'subscription.created', status: 'processed' as const, occurredAt: '2026-11-20 10:00:00.123456+00', payload: { a: [1, 'two'] } }
  await database.db.insert(webhookEvents).values(row)
  const [back] = await database.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt_round_trip'))
  t.match(back, { ...row, reason: null, source: 'webhook', attempts: 1 }, 'occurred_at kept to the microsecond')
  t.ok(back?.receivedAt instanceof Date, 'defaults filled in')

  // Nothing in the service raises a unique violation any more; one forced here shows where the driver's
  // code sits under drizzle's wrapper, which is what the log serializer and the inbox's last_error read.
  let error: unknown
  try {
    await database.db.insert(webhookEvents).values(row)
  } catch (err) {
    error = err
  }
  t.equal(pgErrorOf(error)?.code, '23505', 'pgErrorOf finds the driver\'s code under the wrapper')
  t.match(shortError(error), /^postgres 23505: duplicate key value violates unique constraint "webhook_events_pkey"$/, 'one short line naming it')
  t.notMatch(shortError(error), /evt_round_trip|Failed query/, 'without the SQL or its parameters')
  t.equal(pgErrorOf(new Error('plain')), undefined, 'a plain error has no Postgres code')
  // A data exception quotes the value it refused; the short line keeps what was wrong, not the value.
  for (const value of ['community-7f3a9c', 'first line\nsecond-line-9d2e']) {
    let refused: unknown
    try {
      await database.db.execute(sql`select ${value}::int`)
    } catch (err) {
      refused = err
    }
    t.equal(shortError(refused), 'postgres 22P02: invalid input syntax for type integer: "[value withheld]"', `${JSON.stringify(value)}: withheld`)
    t.notMatch(JSON.stringify(safeErrorSerializer(refused)), /7f3a9c|first line|9d2e/, 'and the log serializer shows none of it')
  }
  await database.ping()
}

async function catalogueIsPrepared (t: Test, database: Database): Promise<void> {
  await database.db.execute(sql`create table if not exists bench_inserts (id text primary key, payload jsonb not null)`)
  for (const statement of Object.values(statements)) {
    // One transaction, so the deallocate runs on the connection that prepared it.
    await database.db.transaction(async (tx) => {
      await tx.execute(sql.raw(`prepare ${statement.name} as ${statement.text}`))
      await tx.execute(sql.raw(`deallocate ${statement.name}`))
    }).then(() => t.pass(`${statement.name} parses, and each parameter's type is known`),
      (err: unknown) => t.fail(`${statement.name}: ${shortError(err)}`))
  }
}

async function theGate (t: Test, database: Database): Promise<void> {
  const ignored = { status: 'ignored', reason: 'event type x has no handler' }
  t.same((await database.run(statements.eventRecord, { ...record('evt_gate'), ...ignored })).rows, [ignored], 'a new event is recorded')
  const again = await database.run(statements.eventRecord, { ...record('evt_gate'), status: 'needs_review', reason: 'another reason' })
  t.same([again.rows, again.rowCount], [[], 0], 'the duplicate writes nothing, and raises nothing')
  t.match(await eventRow(database, 'evt_gate'), { status: 'ignored', reason: ignored.reason, attempts: 1 }, 'the first record stands')

  const answer = await database.transaction(async (tx) => {
    const duplicate = await tx.run(statements.eventRecord, { ...record('evt_gate'), status: 'ignored', reason: 'x' })
    const next = await tx.run(statements.eventRecord, { ...record('evt_gate_2'), ...ignored })
    return { duplicate: duplicate.rowCount, next: next.rows }
  })
  t.same(answer, { duplicate: 0, next: [ignored] }, 'inside a transaction, the duplicate leaves the transaction usable, and it commits')
  t.match(await eventRow(database, 'evt_gate_2'), { status: 'ignored' })

  // A gated write: the boosts CTE reads from rec, so a duplicate record grants nothing.
  const boost = {
    community_id: 'c_gate',
    member_id: null,
    transaction_id: 'txn_gate',
    currency_code: 'USD',
    items: JSON.stringify([{ price_id: 'pri_gate', months: 3, amount: '1299', expires_at: '2027-02-20T10:00:00Z' }])
  }
  t.same((await database.run(statements.boostPurchase, { ...record('evt_boost'), ...boost })).rows, [{ status: 'processed', reason: null }])
  t.same((await database.run(statements.boostPurchase, { ...record('evt_boost'), ...boost })).rows, [], 'the same event again: no row, no error')
  t.same((await database.run(statements.boostPurchase, { ...record('evt_boost_again'), ...boost })).rows, [{ status: 'processed', reason: null }],
    'the same transaction under another event id is recorded')
  const boosts = await rows<{ n: number }>(database, sql`select count(*)::int as n from boosts where transaction_id = 'txn_gate'`)
  t.equal(boosts[0]?.n, 1, 'and grants nothing twice')

  // failed is not final: the next delivery moves it on; a final status is never reopened by a delivery.
  await database.run(statements.eventFailed, { ...record('evt_failed'), last_error: 'postgres 40P01: deadlock detected' })
  await database.run(statements.eventFailed, { ...record('evt_failed'), last_error: 'postgres 40P01: deadlock detected' })
  t.match(await eventRow(database, 'evt_failed'), { status: 'failed', attempts: 2, last_error: 'postgres 40P01: deadlock detected' }, 'each failure counted')
  t.same((await database.run(statements.boostPurchase, { ...record('evt_failed'), ...boost, transaction_id: 'txn_failed' })).rows,
    [{ status: 'processed', reason: null }], 'a failed event is applied by the next delivery')
  t.match(await eventRow(database, 'evt_failed'), { status: 'processed', attempts: 3 })
  await database.run(statements.eventFailed, { ...record('evt_failed'), last_error: 'late' })
  t.match(await eventRow(database, 'evt_failed'), { status: 'processed', last_error: 'postgres 40P01: deadlock detected' }, 'a late failure cannot undo it')

  // A replay may move on from needs_review and ignored too, never from processed.
  t.same((await database.run(statements.eventRecord, { ...record('evt_gate', REPLAYABLE), source: 'replay', status: 'needs_review', reason: 'looked again' })).rows,
    [{ status: 'needs_review', reason: 'looked again' }], 'a replay reopens an ignored event')
  t.match(await eventRow(database, 'evt_gate'), { status: 'needs_review', source: 'replay', attempts: 2 })
  t.same((await database.run(statements.eventRecord, { ...record('evt_boost', REPLAYABLE), source: 'replay', ...ignored })).rows, [],
    'a replay of a processed event writes nothing')
}

t.test('Postgres: migrations, a round trip, every statement prepared, the gate', async (t) => {
  const fresh = await freshDatabase(t)
  const database = await openDatabase({ databaseUrl: fresh.url, dataDir: 'unused', poolSize: 2 }, log)
  t.teardown(() => database.close())
  t.equal(database.kind, 'postgres')
  await exercise(t, database)
  await catalogueIsPrepared(t, database)
  await theGate(t, database)
})

t.test('Postgres: a concurrent record of the same event waits for the first to commit, then writes nothing and raises nothing', async (t) => {
  const fresh = await freshDatabase(t)
  const database = await openDatabase({ databaseUrl: fresh.url, dataDir: 'unused', poolSize: 3 }, log)
  t.teardown(() => database.close())
  await database.migrate()
  const boost = (transactionId: string) => ({
    community_id: 'c_race',
    member_id: null,
    transaction_id: transactionId,
    currency_code: 'USD',
    items: JSON.stringify([{ price_id: 'pri_race', months: 1, amount: null, expires_at: '2027-01-01T00:00:00Z' }])
  })
  let commit = () => {}
  const held = new Promise<void>((resolve) => { commit = resolve })
  let firstWrote: (() => void) | undefined
  const wrote = new Promise<void>((resolve) => { firstWrote = resolve })
  const first = database.transaction(async (tx) => {
    const result = await tx.run(statements.boostPurchase, { ...record('evt_race'), ...boost('txn_race_1') })
    firstWrote?.()
    await held
    return result.rows
  })
  await wrote
  let secondDone = false
  const second = database.run(statements.boostPurchase, { ...record('evt_race'), ...boost('txn_race_2') })
    .finally(() => { secondDone = true })
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(secondDone, false, 'the second waits on the first\'s uncommitted record')
  commit()
  t.same(await first, [{ status: 'processed', reason: null }])
  t.same((await second).rows, [], 'then finds it final: no row, no error')
  const boosts = await rows<{ transaction_id: string }>(database, sql`select transaction_id from boosts where community_id = 'c_race'`)
  t.same(boosts, [{ transaction_id: 'txn_race_1' }], 'only the first one\'s boost')
})

t.test('Postgres: replicas migrating a fresh database at once take turns', async (t) => {
  const fresh = await freshDatabase(t)
  const replicas = await Promise.all([1, 2, 3].map(() => openDatabase({ databaseUrl: fresh.url, dataDir: 'unused', poolSize: 1 }, log)))
  t.teardown(() => Promise.all(replicas.map((r) => r.close())))
  await Promise.all(replicas.map((r) => r.migrate()))
  const rows = await fresh.query('select count(*)::int as n from drizzle.__drizzle_migrations')
  t.equal(rows[0]?.n, 2, 'each migration is recorded once')
})

t.test('PGlite in memory and on disk: the same schema, statements and gate', async (t) => {
  const memory = await openDatabase({ databaseUrl: undefined, dataDir: 'memory://', poolSize: 1 }, log)
  t.teardown(() => memory.close())
  t.equal(memory.kind, 'pglite')
  await exercise(t, memory)
  await catalogueIsPrepared(t, memory)
  await theGate(t, memory)

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
