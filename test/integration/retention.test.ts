// Retention on fixed clocks: expired processed and ignored events and old idempotency keys are deleted
// in small batches, failed and needs_review events never are, and one replica at a time does it.
import pg from 'pg'
import t from 'tap'
import { runRetention, type RetentionDeps } from '../../services/retention.js'
import { buildTestApp, metricValue } from '../helpers/app.js'
import type { TestDatabase } from '../helpers/database.js'

const NOW = new Date('2027-01-15T12:00:00.000Z')
const HOUR = 3600_000
const DAY = 24 * HOUR
const ago = (ms: number) => new Date(NOW.getTime() - ms)
// The key every replica's retention takes (services/retention.ts): holding it is being the other replica.
const RETENTION_LOCK = 727_274_002

async function insertEvents (database: TestDatabase, prefix: string, n: number, status: string, receivedAt: Date): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}_${String(i).padStart(3, '0')}`)
  await database.query(`
    insert into webhook_events (event_id, event_type, status, occurred_at, received_at, payload)
    select id, 'transaction.completed', $2, $3::timestamptz, $3::timestamptz + i * interval '1 microsecond', '{}'::jsonb
    from unnest($1::text[]) with ordinality as ids (id, i)`, [ids, status, receivedAt.toISOString()])
  return ids
}

async function insertKeys (database: TestDatabase, prefix: string, n: number, createdAt: Date): Promise<string[]> {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}_${i}`)
  await database.query(`
    insert into idempotency_keys (key, scope, request_hash, status_code, response, created_at)
    select key, 'admin_boost', 'hash', 201, '{}'::jsonb, $2::timestamptz from unnest($1::text[]) as key`, [keys, createdAt.toISOString()])
  return keys
}

const eventIds = async (database: TestDatabase) => (await database.query<{ event_id: string }>('select event_id from webhook_events order by event_id')).map((r) => r.event_id).sort()
const keyIds = async (database: TestDatabase) => (await database.query<{ key: string }>('select key from idempotency_keys order by key')).map((r) => r.key).sort()

t.test('a run on a fixed clock: old processed and ignored rows go in batches; failed, needs_review and young rows stay; keys by hours', async (t) => {
  const { app, database } = await buildTestApp(t, { redisUrl: null })
  const expired = [
    ...await insertEvents(database, 'old_processed', 12, 'processed', ago(100 * DAY)),
    ...await insertEvents(database, 'old_ignored', 5, 'ignored', ago(91 * DAY)),
    ...await insertEvents(database, 'edge_gone', 1, 'processed', ago(90 * DAY + 1))
  ]
  const kept = [
    ...await insertEvents(database, 'edge_kept', 1, 'processed', ago(90 * DAY)),
    ...await insertEvents(database, 'old_failed', 3, 'failed', ago(400 * DAY)),
    ...await insertEvents(database, 'old_review', 3, 'needs_review', ago(400 * DAY)),
    ...await insertEvents(database, 'young_processed', 4, 'processed', ago(89 * DAY)),
    ...await insertEvents(database, 'young_ignored', 2, 'ignored', ago(DAY))
  ]
  const expiredKeys = await insertKeys(database, 'old_key', 7, ago(25 * HOUR))
  const keptKeys = [...await insertKeys(database, 'edge_key', 1, ago(24 * HOUR)), ...await insertKeys(database, 'young_key', 2, ago(23 * HOUR))]

  const batches: Array<[string, number]> = []
  const deps: RetentionDeps = {
    database: app.database,
    now: () => NOW,
    eventRetentionDays: 90,
    keyRetentionHours: 24,
    deleted: (table, rows) => { batches.push([table, rows]) }
  }
  const result = await runRetention(deps, 5)
  t.same(result, { webhook_events: expired.length, idempotency_keys: expiredKeys.length, skipped: false }, 'what was deleted, by table')
  t.same(batches, [
    ['webhook_events', 5], ['webhook_events', 5], ['webhook_events', 5], ['webhook_events', 3],
    ['idempotency_keys', 5], ['idempotency_keys', 2]
  ], 'in batches of at most 5, each counted as it commits')
  t.same(await eventIds(database), [...kept].sort(), 'failed, needs_review and young rows stay; a row exactly 90 days old stays')
  t.same(await keyIds(database), [...keptKeys].sort(), 'keys older than 24 hours go')

  t.same(await runRetention(deps, 5), { webhook_events: 0, idempotency_keys: 0, skipped: false }, 'a second run finds nothing')
  t.equal(batches.length, 6, 'and counts nothing')

  // A year later the failed and needs_review rows are still there, waiting for someone.
  t.same(await runRetention({ ...deps, now: () => new Date(NOW.getTime() + 365 * DAY) }, 5), { webhook_events: 7, idempotency_keys: 3, skipped: false })
  t.same(await eventIds(database), [...kept.filter((id) => /^old_(failed|review)/.test(id))].sort(), 'only failed and needs_review rows are left')
})

t.test('oldest first: one batch takes the oldest expired rows', async (t) => {
  const { app, database } = await buildTestApp(t, { redisUrl: null })
  const older = await insertEvents(database, 'a_older', 3, 'processed', ago(200 * DAY))
  const newer = await insertEvents(database, 'b_newer', 3, 'processed', ago(150 * DAY))
  const deps: RetentionDeps = {
    database: app.database, now: () => NOW, eventRetentionDays: 90, keyRetentionHours: 24, deleted: () => {}
  }
  // One batch, then stop: a deps whose database refuses a second retention transaction.
  let transactions = 0
  const oneBatch: RetentionDeps = {
    ...deps,
    database: {
      ...app.database,
      transaction: async (work) => {
        if (++transactions > 1) throw new Error('stop after one batch')
        return app.database.transaction(work)
      }
    }
  }
  await runRetention(oneBatch, 3).catch(() => {})
  const first = await eventIds(database)
  t.same(first, [...newer].sort(), 'the three oldest went first')
  t.same(older.filter((id) => first.includes(id)), [], 'none of the oldest is left')
})

t.test('app.runRetention uses the configured windows and counts retention_deleted_total{table}', async (t) => {
  const { app, database } = await buildTestApp(t, { redisUrl: null, config: { eventRetentionDays: 120, idempotencyKeyRetentionHours: 48 } })
  const kept = await insertEvents(database, 'kept', 2, 'processed', ago(100 * DAY))
  await insertEvents(database, 'gone', 3, 'ignored', ago(121 * DAY))
  const keptKeys = await insertKeys(database, 'kept_key', 1, ago(47 * HOUR))
  await insertKeys(database, 'gone_key', 2, ago(49 * HOUR))

  t.same(await app.runRetention(NOW), { webhook_events: 3, idempotency_keys: 2, skipped: false })
  t.same(await eventIds(database), kept.sort(), '120 days for events')
  t.same(await keyIds(database), keptKeys, '48 hours for keys')
  t.equal(await metricValue(app, 'retention_deleted_total', { table: 'webhook_events' }), 3)
  t.equal(await metricValue(app, 'retention_deleted_total', { table: 'idempotency_keys' }), 2)
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(text, /^retention_deleted_total\{table="webhook_events"\} 3$/m, 'scraped by table')
  t.match(text, /^retention_deleted_total\{table="idempotency_keys"\} 2$/m)
})

t.test('two replicas never delete at once: while another holds the lock a run deletes nothing and says so', async (t) => {
  const first = await buildTestApp(t, { redisUrl: null })
  const { database } = first
  const second = await buildTestApp(t, { redisUrl: null, database })
  const expired = await insertEvents(database, 'old', 30, 'processed', ago(100 * DAY))
  await insertKeys(database, 'old_key', 4, ago(48 * HOUR))

  const other = new pg.Client({ connectionString: database.url })
  await other.connect()
  t.teardown(() => other.end())
  await other.query('begin')
  await other.query('select pg_advisory_xact_lock($1)', [RETENTION_LOCK])
  for (const { app } of [first, second]) {
    t.same(await app.runRetention(NOW), { webhook_events: 0, idempotency_keys: 0, skipped: true }, 'skipped while another replica runs')
    t.equal(await metricValue(app, 'retention_deleted_total'), 0, 'nothing counted')
  }
  t.equal((await eventIds(database)).length, 30, 'nothing deleted')
  await other.query('commit')

  // Released: both replicas run at once, one batch of 4 at a time; every row is deleted exactly once.
  const runs = await Promise.all([first, second].map(async ({ app }) => runRetention({
    database: app.database, now: () => NOW, eventRetentionDays: 90, keyRetentionHours: 24, deleted: () => {}
  }, 4)))
  t.equal(runs[0]!.webhook_events + runs[1]!.webhook_events, expired.length, `together they deleted each event once (${runs.map((r) => r.webhook_events).join(' + ')})`)
  t.equal(runs[0]!.idempotency_keys + runs[1]!.idempotency_keys, 4)
  t.ok(runs.some((run) => !run.skipped), 'at least one ran to the end')
  t.same(await eventIds(database), [], 'all expired rows are gone')
  const finished = await first.app.runRetention(NOW)
  t.same(finished, { webhook_events: 0, idempotency_keys: 0, skipped: false }, 'and the next run finds nothing')
})
