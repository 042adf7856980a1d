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
const TABLES = ['badge_purchases', 'boosts', 'idempotency_keys', 'subscriptions', 'webhook_events']

async function exercise (t: Test, database: Database): Promise<void> {
  await database.migrate()
  await database.migrate()
  t.pass('migrating twice is harmless')
  const tables = await database.db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`)
  t.same((tables as unknown as { rows: Array<{ table_name: string }> }).rows.map((r) => r.table_name), TABLES, 'the five tables of DESIGN §6')
  const row = { eventId: 'evt_round_trip', eventType: 'subscription.created', status: 'processed' as const, occurredAt: new Date('2026-11-20T10:00:00Z'), payload: { a: [1, 'two'] } }
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
  t.equal(pgErrorOf(error)?.code, '23505', 'the Postgres code is under drizzle\'s wrapper')
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
  t.equal(rows[0]?.n, 1, 'the migration is recorded once')
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
