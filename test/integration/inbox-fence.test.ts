// The record's conflict clause is the last fence: with the Redis markers gone, every redelivery of a
// recorded event reaches Postgres and is answered `duplicate` by a statement that writes nothing and
// raises nothing, so no transaction aborts and no pooled connection is thrown away and reopened.
import { Redis } from 'ioredis'
import pg from 'pg'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { ADMIN_DATABASE_URL, SHARED_REDIS_URL } from '../helpers/env.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, newPaddleId, oneOffTransaction, samplePaddleEvent, subscriptionSnapshot, subscriptionTransaction } from '../helpers/paddle-payloads.js'

type Json = Record<string, any>

const EVENTS = 100
const ROUNDS = 5
const CONCURRENCY = 25

async function keysMatching (redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of redis.scanStream({ match: pattern, count: 500 })) keys.push(...(batch as string[]))
  return keys
}

t.test('fence without churn: with the markers flushed, 500 redeliveries all answer duplicate, and Postgres opens no new sessions', async (t) => {
  const { app, config, database, logs } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(async () => {
    const keys = await keysMatching(redis, `${config.redisKeyPrefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  const stats = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await stats.connect()
  t.teardown(() => stats.end())
  // Read from the admin database, so that reading adds no session to the one measured.
  const reading = async () => {
    const { rows: [row] } = await stats.query<{ sessions: string, xact_rollback: string }>(
      'select sessions, xact_rollback from pg_stat_database where datname = $1', [database.name])
    return { sessions: Number(row?.sessions), rollbacks: Number(row?.xact_rollback) }
  }
  // Backends publish their counters when idle, at most once a second: wait until two readings agree.
  const settled = async () => {
    let last = await reading()
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const next = await reading()
      if (next.sessions === last.sessions && next.rollbacks === last.rollbacks) return next
      last = next
    }
    return last
  }

  // Recorded events of every shape the record gates: each statement of the catalogue, each final status.
  const events: Json[] = []
  for (let i = 0; i < EVENTS; i++) {
    const community = { community_id: `community_${i}` }
    switch (i % 6) {
      case 0: events.push(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: community })); break
      case 1: events.push(subscriptionSnapshot('subscription.updated', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro, customData: community })); break
      case 2: events.push(subscriptionTransaction('transaction.payment_failed', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro })); break
      case 3: {
        const purchaseId = `bp_${i}`
        await database.query("insert into badge_purchases (id, member_id, community_id, badge_id, price_id, status) values ($1, 'm1', 'c1', 'badge_gold', $2, 'pending')", [purchaseId, EXAMPLE_PRICES.badgeGold])
        events.push(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeGold }], customData: { purchase_id: purchaseId, member_id: 'm1' } }))
        break
      }
      case 4: events.push(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost1 }], customData: null })); break
      default: events.push(samplePaddleEvent('customer.updated'))
    }
  }
  const first = new Map<string, number>()
  for (const event of events) {
    const status = (await deliver(app, event)).json().status as string
    first.set(status, (first.get(status) ?? 0) + 1)
  }
  t.same(Object.fromEntries(first), { processed: 68, needs_review: 16, ignored: 16 }, 'every event recorded, none a duplicate yet')
  const tables = async () => (await database.query(`
    select (select count(*)::int from boosts) as boosts, (select count(*)::int from subscriptions) as subscriptions,
           (select count(*)::int from badge_purchases where status = 'completed') as badges,
           (select sum(attempts)::int from webhook_events) as attempts,
           (select string_agg(status, ',' order by status) from webhook_events) as statuses`))[0]
  const written = await tables()

  // The pool filled first, so that what is measured is churn: a connection closed and another opened.
  const pool = (app.database.db as unknown as { $client: pg.Pool }).$client
  await Promise.all(Array.from({ length: config.databasePoolSize }, async () => pool.query('select pg_sleep(0.05)')))
  t.equal(pool.totalCount, config.databasePoolSize, 'the pool is full')
  let connects = 0
  pool.on('connect', () => { connects++ })
  const before = await settled()
  const logged = logs.length

  const answers = new Map<string, number>()
  for (let round = 0; round < ROUNDS; round++) {
    const markers = await keysMatching(redis, `${config.redisKeyPrefix}processed:*`)
    t.equal(markers.length, EVENTS, `round ${round + 1}: a marker per event, before the flush`)
    await redis.del(...markers)
    for (let i = 0; i < EVENTS; i += CONCURRENCY) {
      const batch = await Promise.all(events.slice(i, i + CONCURRENCY).map(async (event) => deliver(app, event)))
      for (const answer of batch) {
        const key = `${answer.statusCode} ${answer.json().status ?? answer.json().error}`
        answers.set(key, (answers.get(key) ?? 0) + 1)
      }
    }
  }
  t.same(Object.fromEntries(answers), { '200 duplicate': EVENTS * ROUNDS }, `all ${EVENTS * ROUNDS} redeliveries answer duplicate`)
  const storm = logs.slice(logged).map((line) => JSON.parse(line) as Json)
  t.equal(storm.filter((line) => line.via === 'fence').length, EVENTS * ROUNDS, 'each reached Postgres and was fenced by the record')
  t.same(storm.filter((line) => line.level >= 40).map((line) => line.msg), [], 'no warning, no error')

  const after = await settled()
  t.ok(after.sessions - before.sessions <= config.databasePoolSize,
    `pg_stat_database.sessions grew by ${after.sessions - before.sessions} (the pool holds ${config.databasePoolSize})`)
  t.equal(after.rollbacks - before.rollbacks, 0, 'no transaction aborted')
  t.ok(connects <= config.databasePoolSize, `the pool opened ${connects} connections`)
  t.same(await tables(), written, 'nothing written: no row, no attempt counted')
})
