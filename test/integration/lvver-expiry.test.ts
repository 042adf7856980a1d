// A lease that expires mid-handler: a second delivery runs meanwhile, and the record's primary key (the
// fence of LVVER step 5) still lets exactly one effect into the database.
import t from 'tap'
import { Redis } from 'ioredis'
import { buildTestApp, metricValue } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { count, lockKeyOf, markerKeyOf, slowFirstInsert, until } from '../helpers/lvver.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'

const shortLease = { lockTtlSeconds: 1, lockTtlExtendedSeconds: 1 }

t.test('the lease expires mid-handler: a second delivery runs, yet exactly one effect, and lock_ttl_exhausted_total counts it', async (t) => {
  // Two replicas (one database, one Redis key space), so each one's counters are its own.
  const a = await buildTestApp(t, { config: shortLease })
  const b = await buildTestApp(t, { database: a.database, config: { ...shortLease, redisKeyPrefix: a.config.redisKeyPrefix } })
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  // The first boost insert (replica A's) sleeps 2 s, twice its lease, before writing anything.
  await slowFirstInsert(a.database, 'boosts', 2)
  const event = boostPurchaseEvent({ community_id: 'community_slow' })
  const lock = lockKeyOf(a.config, event.event_id)

  const onA = deliver(a.app, event)
  await until('A to take the lease', async () => (await redis.exists(lock)) === 1 ? true : undefined)
  await until('A\'s lease to expire while its handler sleeps', async () => (await redis.exists(lock)) === 0 ? true : undefined)
  const onB = await deliver(b.app, event)
  t.equal(onB.statusCode, 200, 'B took the expired lease and ran (not 409)')
  const answerA = await onA
  t.equal(answerA.statusCode, 200, 'A finished too, without an error')
  t.same([answerA.json().status, onB.json().status].sort(), ['duplicate', 'processed'], 'one applied it, the other hit the fence')

  t.equal(await count(a.database, "boosts where community_id = 'community_slow'"), 1, 'exactly one boost')
  t.equal(await count(a.database, 'webhook_events'), 1, 'exactly one record')
  t.equal(await metricValue(a.app, 'lock_ttl_exhausted_total'), 1, 'A counted the lease it lost')
  t.ok(a.logs.some((line) => line.includes('"level":40') && line.includes('lock expired before release') && line.includes(event.event_id as string)),
    'and warned, naming the event')
  t.equal(await redis.exists(markerKeyOf(a.config, event.event_id)), 1, 'the marker is set')
  t.equal(await redis.exists(lock), 0, 'no lease left')
  t.equal((await deliver(b.app, event)).json().status, 'duplicate', 'later deliveries are duplicates')
})

t.test('one replica, short lease: the second delivery of the same app runs meanwhile; still one effect, and the lost lease is counted', async (t) => {
  const { app, config, database } = await buildTestApp(t, { config: shortLease })
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  await slowFirstInsert(database, 'boosts', 2)
  const event = boostPurchaseEvent({ community_id: 'community_slow' })
  const lock = lockKeyOf(config, event.event_id)

  const first = deliver(app, event)
  await until('the lease to be taken', async () => (await redis.exists(lock)) === 1 ? true : undefined)
  await until('the lease to expire mid-handler', async () => (await redis.exists(lock)) === 0 ? true : undefined)
  const second = await deliver(app, event)
  const statuses = [(await first).json().status, second.json().status].sort()
  t.same(statuses, ['duplicate', 'processed'])
  t.equal(await count(database, 'boosts'), 1, 'exactly one effect')
  // The first holder's lease certainly ran out; the second's may too if it waited on the first's row.
  const exhausted = await metricValue(app, 'lock_ttl_exhausted_total')
  t.ok(exhausted >= 1 && exhausted <= 2, `lock_ttl_exhausted_total = ${exhausted}`)
})
