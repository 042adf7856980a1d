// Behind PgBouncer 1.18 in transaction pooling, as users run it: what breaks in session mode, and what the
// service does instead with DATABASE_POOL_MODE=transaction (no startup parameter, no named statement).
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { buildApp } from '../../app.js'
import type { Statement } from '../../db/statements.js'
import { buildTestApp, testConfig } from '../helpers/app.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'
import { TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent, deliver, paddleEvent, subscriptionEvent, paddleId } from '../helpers/paddle.js'
import { pgBouncer, type PgBouncer } from '../helpers/pgbouncer.js'

interface Teardown { teardown(fn: () => unknown): void }

async function pooledApp (t: Teardown, database: TestDatabase, bouncer: PgBouncer, poolSize = 10) {
  return buildTestApp(t, { database, config: { databaseUrl: bouncer.url(database.url), databasePoolMode: 'transaction', databasePoolSize: poolSize } })
}

/** The `name` of every query config the app's pool is given (undefined for an unnamed statement). */
function watchNames (app: FastifyInstance): Array<string | undefined> {
  const pool = (app.database.db as unknown as { $client: { query: (...args: unknown[]) => unknown } }).$client
  const query = pool.query.bind(pool)
  const names: Array<string | undefined> = []
  pool.query = (...args: unknown[]) => {
    const first = args[0]
    if (typeof first === 'object' && first !== null) names.push((first as { name?: string }).name)
    return query(...args)
  }
  return names
}

t.test('session mode behind PgBouncer: the start stops, naming the startup parameter and the fix', async (t) => {
  const database = await freshDatabase(t)
  const bouncer = await pgBouncer(t)
  const config = testConfig({ databaseUrl: bouncer.url(database.url), databasePoolMode: 'session', redisUrl: undefined, webhookSecrets: [TEST_SECRET] })
  let app: FastifyInstance | undefined
  await t.rejects(buildApp(config).then((built) => { app = built }), {
    message: /unsupported startup parameter: statement_timeout.*DATABASE_POOL_MODE=transaction/
  })
  t.teardown(() => app?.close())
})

t.test('PgBouncer here is a real transaction pooler: two clients preparing one name collide', async (t) => {
  const database = await freshDatabase(t)
  const bouncer = await pgBouncer(t, { poolSize: 1 })
  const clients = [new pg.Client({ connectionString: bouncer.url(database.url) }), new pg.Client({ connectionString: bouncer.url(database.url) })]
  for (const client of clients) {
    await client.connect()
    t.teardown(() => client.end())
  }
  await clients[0]!.query({ name: 'bw_probe', text: 'select $1::int as n', values: [1] })
  await t.rejects(clients[1]!.query({ name: 'bw_probe', text: 'select $1::int as n', values: [2] }),
    { message: /prepared statement "bw_probe" already exists/ }, 'the named statement of today\'s session mode')
})

t.test('transaction mode: no named statement, and 120 events at once over two server connections all apply', async (t) => {
  const database = await freshDatabase(t)
  const bouncer = await pgBouncer(t, { poolSize: 2 })
  const { app } = await pooledApp(t, database, bouncer)
  t.equal(app.database.poolMode, 'transaction')
  t.equal(app.database.namedStatements, false)
  const names = watchNames(app)

  const boosts = Array.from({ length: 40 }, () => boostPurchaseEvent({ community_id: 'community_pooled' }))
  const subscriptions = Array.from({ length: 40 }, () => subscriptionEvent('subscription.created', paddleId('sub')))
  const ignored = Array.from({ length: 40 }, () => paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } }))
  const answers = await Promise.all([...boosts, ...subscriptions, ...ignored].map((event) => deliver(app, event)))
  t.same(answers.filter((a) => a.statusCode !== 200).map((a) => `${a.statusCode} ${a.body}`), [], 'every delivery answered 200')
  const statuses = answers.map((a) => a.json().status as string)
  t.equal(statuses.filter((s) => s === 'processed').length, 80)
  t.equal(statuses.filter((s) => s === 'ignored').length, 40)
  t.same(await database.query('select status, count(*)::int as n from webhook_events group by status order by status'),
    [{ status: 'ignored', n: 40 }, { status: 'processed', n: 80 }])
  t.same(await database.query("select count(*)::int as n from boosts where community_id = 'community_pooled'"), [{ n: 40 }])
  t.same(await database.query('select count(*)::int as n from subscriptions'), [{ n: 40 }])

  const again = await Promise.all(boosts.slice(0, 10).map((event) => deliver(app, event)))
  t.same(again.map((a) => a.json().status), Array(10).fill('duplicate'), 'duplicates through the pooler too')
  t.ok(names.length > 0, `the pool was watched (${names.length} statements)`)
  t.same(names.filter((name) => name !== undefined), [], 'not one statement carried a name')
})

t.test('the statement catalogue follows the database: named directly in session mode, unnamed behind the pooler', async (t) => {
  const probe: Statement = { name: 'bw_test_probe', text: 'select $1::int as n', params: ['n'] }
  const direct = await buildTestApp(t)
  t.equal(direct.app.database.namedStatements, true)
  const directNames = watchNames(direct.app)
  await direct.app.database.run(probe, { n: 1 })
  t.same(directNames, ['bw_test_probe'])
  await deliver(direct.app, boostPurchaseEvent())
  t.ok(directNames.slice(1).length > 0 && directNames.slice(1).every((name) => name?.startsWith('bw_')),
    'the webhook\'s statements are named in session mode (today\'s speed)')

  const database = await freshDatabase(t)
  const { app } = await pooledApp(t, database, await pgBouncer(t))
  const names = watchNames(app)
  const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => app.database.run<{ n: number }>(probe, { n })))
  t.same(answers.map((a) => a.rows[0]?.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.same(names, Array(10).fill(undefined))
})

t.test('transaction mode warns at start when Postgres has no statement_timeout of its own, and not when it has', async (t) => {
  const bare = await freshDatabase(t)
  const bouncer = await pgBouncer(t)
  const warned = await pooledApp(t, bare, bouncer)
  t.ok(warned.logs.some((line) => line.includes('Postgres has no statement_timeout for this role')), 'warned')

  const bounded = await freshDatabase(t)
  await bounded.query(`alter database ${bounded.name} set statement_timeout = '10s'`)
  const quiet = await pooledApp(t, bounded, bouncer)
  t.notOk(quiet.logs.some((line) => line.includes('statement_timeout')), 'the database\'s own bound is enough')
  const { rows: [shown] } = await quiet.app.database.run<{ statement_timeout: string }>(
    { name: 'bw_test_show', text: 'show statement_timeout', params: [] }, {})
  t.equal(shown?.statement_timeout, '10s', 'and statements run under it, through the pooler')
})
