// LVVER's lock on the real Redis: order, release on every path, ownership, contention, expiry, TTLs.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { buildTestApp, metricValue } from '../helpers/app.js'
import { boostPurchaseEvent, deliver, subscriptionEvent, paddleId, paddleEvent } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'
import { failInserts, slowInserts } from '../helpers/triggers.js'
import { RedisLockStore } from '../../services/lock-store.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'

const lockOf = (prefix: string, id: string) => `${prefix}lock:{webhook:${id}}`
const markerOf = (prefix: string, id: string) => `${prefix}processed:{webhook:${id}}`

t.test('the lock is taken before any other Redis command on the event and before any Postgres write', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database, config } = await buildTestApp(t, { redisUrl: redis.url })
  await database.query(`
    create table bw_test_seen (at timestamptz not null default clock_timestamp());
    create function bw_test_seen() returns trigger language plpgsql as $$ begin insert into bw_test_seen default values; return new; end $$;
    create trigger bw_test_seen before insert on webhook_events for each row execute function bw_test_seen();`)
  const monitor = new Redis(redis.url)
  t.teardown(() => monitor.disconnect())
  const seen: Array<{ time: number, args: string[] }> = []
  const feed = await monitor.monitor()
  feed.on('monitor', (time: string, args: string[]) => { seen.push({ time: Number(time), args }) })
  await sleep(50)

  const event = boostPurchaseEvent()
  const id = event.event_id as string
  t.equal((await deliver(app, event)).json().status, 'processed')
  await sleep(100)
  feed.disconnect()

  const touching = seen.filter(({ args }) => args.slice(1).some((arg) => arg.includes(id)))
  const first = touching.find(({ args }) => args[0]?.toLowerCase() !== 'evalsha' && args[0]?.toLowerCase() !== 'eval')
  t.ok(first !== undefined, 'commands inside the scripts are visible')
  t.same(first?.args.slice(0, 2).map((a) => a.toLowerCase()), ['set', lockOf(config.redisKeyPrefix, id).toLowerCase()], 'the first command on the event is SET lock')
  t.ok(first?.args.some((a) => a.toUpperCase() === 'NX'), 'SET ... NX')
  t.ok(first?.args.some((a) => a.toUpperCase() === 'PX'), 'SET ... PX')
  const [pg] = await database.query<{ at: Date }>('select at from bw_test_seen')
  t.ok(pg !== undefined, 'Postgres saw the record insert')
  t.ok((first?.time ?? Infinity) * 1000 < pg!.at.getTime(), 'the lock was taken before Postgres saw the event')
})

t.test('the lock is released on success, on a handler failure and on a database failure; failures record nothing', async (t) => {
  const { app, database, config } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = config.redisKeyPrefix

  const ok = boostPurchaseEvent()
  t.equal((await deliver(app, ok)).statusCode, 200)
  t.equal(await redis.exists(lockOf(prefix, ok.event_id as string)), 0, 'released after success')
  t.equal(await redis.exists(markerOf(prefix, ok.event_id as string)), 1, 'marker set after success')

  const restore = await failInserts(database, 'boosts')
  const failing = boostPurchaseEvent()
  const failed = await deliver(app, failing)
  t.equal(failed.statusCode, 500)
  t.same(failed.json(), { error: 'internal_error', message: failed.json().message })
  t.notMatch(failed.body, /injected failure|at .*\.js/, 'no database detail or stack in the answer')
  t.equal(await redis.exists(lockOf(prefix, failing.event_id as string)), 0, 'released after a handler failure')
  t.equal(await redis.exists(markerOf(prefix, failing.event_id as string)), 0, 'no marker after a failure')
  t.same(await database.query('select event_id from webhook_events where event_id = $1', [failing.event_id]), [], 'nothing recorded')
  await restore()
  t.equal((await deliver(app, failing)).json().status, 'processed', 'the next delivery succeeds')

  // A database that refuses connections: the app's connections are cut and no new one is allowed.
  const dbFailing = boostPurchaseEvent()
  await database.admin(`alter database ${database.name} allow_connections false`)
  await database.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'billing-webhooks'`, [database.name])
  const down = await deliver(app, dbFailing)
  await database.admin(`alter database ${database.name} allow_connections true`)
  t.equal(down.statusCode, 500)
  t.equal(await redis.exists(lockOf(prefix, dbFailing.event_id as string)), 0, 'released after a database failure')
  t.equal(await redis.exists(markerOf(prefix, dbFailing.event_id as string)), 0, 'no marker after a database failure')
  let retried = await deliver(app, dbFailing)
  for (let i = 0; i < 20 && retried.statusCode === 500; i++) { await sleep(100); retried = await deliver(app, dbFailing) }
  t.equal(retried.json().status, 'processed', 'the retry after recovery applies the event')
  const boosts = await database.query('select count(*)::int as n from boosts where transaction_id = $1', [(dbFailing.data as { id: string }).id])
  t.equal(boosts[0]?.n, 1)
})

t.test('only the owner releases a lock: an expired lease cannot delete its successor', async (t) => {
  const redis = new Redis(SHARED_REDIS_URL, { keyPrefix: `bwtest:${process.pid}:owner:` })
  t.teardown(() => redis.disconnect())
  const store = new RedisLockStore(redis)
  const lock = `lock:{webhook:${randomUUID()}}`
  const marker = lock.replace('lock:', 'processed:')
  t.equal(await store.acquire(lock, marker, 'first', 100), 'acquired')
  t.equal(await store.acquire(lock, marker, 'second', 1000), 'held', 'taken while the first lease lives')
  await sleep(150)
  t.equal(await store.acquire(lock, marker, 'second', 5000), 'acquired', 'taken once the first lease expired')
  t.equal(await store.release(lock, marker, 'first'), false, 'the first holder learns its lease was lost')
  t.equal(await redis.get(lock), 'second', 'and the successor keeps its lock')
  t.equal(await store.release(lock, marker, 'second', 60_000), true)
  t.equal(await redis.exists(lock), 0)
  t.equal(await store.acquire(lock, marker, 'third', 1000), 'processed', 'the marker answers later attempts')
  t.equal(await redis.exists(lock), 0, 'and the lease taken to read it was given back at once')
})

t.test('contention: a held lock answers 409 with Retry-After and counts webhook_lock_contention_total', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const event = boostPurchaseEvent()
  await redis.set(lockOf(config.redisKeyPrefix, event.event_id as string), 'someone-else', 'PX', 5000)
  const answer = await deliver(app, event)
  t.equal(answer.statusCode, 409)
  t.equal(answer.headers['retry-after'], '1')
  t.match(answer.json(), { status: 'in_progress', error: 'in_progress', eventId: event.event_id })
  t.equal(await metricValue(app, 'webhook_lock_contention_total', { event_type: 'transaction.completed' }), 1)
  t.equal(await redis.get(lockOf(config.redisKeyPrefix, event.event_id as string)), 'someone-else', 'the holder keeps its lock')
  t.same(await database.query('select 1 from webhook_events'), [])
})

t.test('duplicates: the Redis marker answers duplicate; with only Postgres knowing, duplicate and the marker is set again', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const event = boostPurchaseEvent()
  t.equal((await deliver(app, event)).json().status, 'processed')
  t.same((await deliver(app, event)).json(), { status: 'duplicate', eventId: event.event_id })
  const marker = markerOf(config.redisKeyPrefix, event.event_id as string)
  t.ok(await redis.pttl(marker) > 345_000_000, 'the marker lives about 4 days')
  await redis.del(marker)
  t.same((await deliver(app, event)).json(), { status: 'duplicate', eventId: event.event_id }, 'Postgres knows')
  t.equal(await redis.exists(marker), 1, 'the marker is set again')
  const boosts = await database.query('select count(*)::int as n from boosts')
  t.equal(boosts[0]?.n, 1, 'one effect')
})

t.test('a lock that expires mid-handler lets a second delivery run, yet the effect happens once', async (t) => {
  const { app, database } = await buildTestApp(t, { config: { lockTtlSeconds: 1, lockTtlExtendedSeconds: 1 } })
  await slowInserts(database, 'boosts', 'community_id', 'community_slow', 2)
  const event = boostPurchaseEvent({ community_id: 'community_slow' })
  const first = deliver(app, event)
  await sleep(1300)
  const second = await deliver(app, event)
  const firstAnswer = await first
  t.equal(firstAnswer.json().status, 'processed')
  t.equal(second.json().status, 'duplicate', 'the second holder hit the fence')
  const boosts = await database.query('select count(*)::int as n from boosts')
  t.equal(boosts[0]?.n, 1, 'exactly one effect')
  // Both leases may run out (the second holder waits on the first's uncommitted record); at least the
  // first holder's must have.
  t.ok(await metricValue(app, 'lock_ttl_exhausted_total') >= 1, 'the first holder found its lease gone')
})

t.test('lock TTLs on the real key: 30 s by default and without custom_data, 60 s for boost and badge purchases', async (t) => {
  const { app, database, config } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  // Every event's record insert sleeps, so the lock can be read while the request is in flight.
  await database.query(`
    create function bw_test_pause() returns trigger language plpgsql as $$ begin perform pg_sleep(0.6); return new; end $$;
    create trigger bw_test_pause before insert on webhook_events for each row execute function bw_test_pause();`)

  async function pttlDuring (event: Record<string, unknown>): Promise<number> {
    const pending = deliver(app, event)
    await sleep(300)
    const ttl = await redis.pttl(lockOf(config.redisKeyPrefix, event.event_id as string))
    t.equal((await pending).statusCode, 200)
    return ttl
  }
  const boost = await pttlDuring(boostPurchaseEvent())
  t.ok(boost > 59_000 && boost <= 60_000, `boost purchase: ${boost} ms`)
  const badge = await pttlDuring(boostPurchaseEvent({ type: 'badge_purchase', badge_id: 'badge_1' }))
  t.ok(badge > 59_000 && badge <= 60_000, `badge purchase: ${badge} ms`)
  const plain = await pttlDuring(subscriptionEvent('subscription.created', paddleId('sub')))
  t.ok(plain > 29_000 && plain <= 30_000, `subscription: ${plain} ms`)
  const bare = await pttlDuring(paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), subscription_id: paddleId('sub') } }))
  t.ok(bare > 29_000 && bare <= 30_000, `no custom_data: ${bare} ms`)
})
