// LVVER's lease on the real Redis: released on every path, only by its owner, and refused (409) while
// another holder has it.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { buildTestApp, metricValue } from '../helpers/app.js'
import type { TestDatabase } from '../helpers/database.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { count, lockKeyOf, markerKeyOf, slowFirstInsert, until } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, oneOffTransaction } from '../helpers/paddle-payloads.js'
import { failInserts } from '../helpers/triggers.js'
import { RedisLockStore } from '../../services/lock-store.js'
import { lockKey, markerKey, runLvver, type LvverDeps } from '../../services/lvver.js'
import { TokenBuckets } from '../../services/token-bucket.js'

/** A web checkout paying the example catalogue's 3-month boost, as Paddle sends it. */
const boostPurchaseEvent = () => oneOffTransaction({
  items: [{ priceId: EXAMPLE_PRICES.boost3 }],
  customData: { community_id: 'community_1', member_id: 'member_1' }
})
const transactionOf = (event: { data: { id: string } }) => event.data.id

interface InboxRow { status: string, attempts: number, last_error: string | null }
const inboxRow = async (database: TestDatabase, eventId: string) =>
  (await database.query<InboxRow>('select status, attempts, last_error from webhook_events where event_id = $1', [eventId]))[0]
// These tests drive the store's scripts directly; the health check that judges Redis has tests of its own.
const healthy = { isHealthy: () => true, report: () => undefined }

t.test('the lease is released after a success, and the processed marker is set', async (t) => {
  const { app, config } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const event = boostPurchaseEvent()
  t.equal((await deliver(app, event)).json().status, 'processed')
  t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'no lease left')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 1, 'the marker is set')
})

t.test('a handler write that fails (a trigger raising on boosts): 500, kept as failed with a short last_error, no marker, lease released; the next delivery succeeds', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const restore = await failInserts(database, 'boosts')
  const event = boostPurchaseEvent()

  const failed = await deliver(app, event)
  t.equal(failed.statusCode, 500)
  t.same(failed.json(), { error: 'internal_error', message: failed.json().message }, 'the shared error shape')
  t.notMatch(failed.body, /injected failure|\.ts:\d+|\.js:\d+/, 'no database detail or stack in the answer')
  t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'the lease is released')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 0, 'no processed marker')
  t.same(await inboxRow(database, event.event_id), { status: 'failed', attempts: 1, last_error: 'postgres P0001: injected failure' },
    'kept as failed (not final), with the error in one short line')
  t.equal(await count(database, 'boosts'), 0, 'no effect: the failed transaction wrote nothing')

  t.equal((await deliver(app, event)).statusCode, 500, 'retried while the fault lasts: still 500, not duplicate')
  t.match(await inboxRow(database, event.event_id), { status: 'failed', attempts: 2 }, 'each attempt counted')
  await restore()
  t.equal((await deliver(app, event)).json().status, 'processed', 'the fault gone, the next delivery applies it')
  t.match(await inboxRow(database, event.event_id), { status: 'processed', attempts: 3 }, 'the failed row moved on to processed')
  t.equal(await count(database, 'boosts where transaction_id = $1', [transactionOf(event)]), 1)
})

t.test('a database that refuses connections: 500, nothing recorded, no marker, lease released; the retry after recovery succeeds', async (t) => {
  const { app, config, database, logs } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const event = boostPurchaseEvent()

  // The app's connections are cut and no new one is allowed while the event arrives.
  await database.admin(`alter database ${database.name} allow_connections false`)
  await database.admin('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = \'billing-webhooks\'', [database.name])
  let down
  try {
    down = await deliver(app, event)
  } finally {
    await database.admin(`alter database ${database.name} allow_connections true`)
  }
  t.equal(down.statusCode, 500)
  t.equal(down.json().error, 'internal_error')
  t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'the lease is released')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 0, 'no processed marker')
  t.equal(await count(database, 'webhook_events'), 0, 'nothing could be kept: the provider\'s retry is what keeps it')
  t.ok(logs.some((line) => line.includes('"level":40') && line.includes('could not keep the failed event')), 'and that is logged as a warning')

  // The pool may still hand out a connection the server cut; the provider would simply retry.
  const retried = await until('a delivery that is not a 500', async () => {
    const answer = await deliver(app, event)
    return answer.statusCode === 500 ? undefined : answer
  })
  t.equal(retried.json().status, 'processed', 'the retry applies the event')
  t.equal(await count(database, 'webhook_events'), 1)
  t.equal(await count(database, 'boosts where transaction_id = $1', [transactionOf(event)]), 1)
})

t.test('a handler that throws (runLvver, real Redis lock store): recorded by the job, then thrown to the caller; the lease is released', async (t) => {
  const redis = new Redis(SHARED_REDIS_URL, { keyPrefix: `bwtest:${process.pid}:${randomUUID()}:` })
  t.teardown(() => redis.disconnect())
  const store = new RedisLockStore(redis, healthy)
  const warnings: object[] = []
  const deps: LvverDeps = {
    locks: store,
    buckets: new TokenBuckets(1, 1, new Set()),
    metrics: { lockContention: () => {}, lockFallback: () => {}, lockTtlExhausted: () => {} },
    log: { warn: (obj: object) => { warnings.push(obj) } },
    ttlMs: () => 30_000,
    markerTtlMs: 60_000
  }
  const id = randomUUID()
  let heldDuring: string | null = null
  let ttlDuring = 0
  const kept: unknown[] = []
  const boom = new TypeError('handler bug')
  await t.rejects(runLvver(deps, {
    scope: 'webhook',
    id,
    type: 'transaction.completed',
    trustMarker: true,
    execute: async () => {
      heldDuring = await redis.get(lockKey('webhook', id))
      ttlDuring = await redis.pttl(lockKey('webhook', id))
      throw boom
    },
    recordFailure: async (err) => { kept.push(err) }
  }), boom)
  t.ok(heldDuring !== null, 'the lease was held while the handler ran')
  t.ok(ttlDuring > 29_000 && ttlDuring <= 30_000, `with the TTL deps.ttlMs gave (${ttlDuring} ms left)`)
  t.same(kept, [boom], 'the job kept the failure before it was thrown')
  t.equal(await redis.exists(lockKey('webhook', id)), 0, 'and released after it threw')
  t.equal(await redis.exists(markerKey('webhook', id)), 0, 'no marker for a failure')
  t.same(warnings, [], 'a normal release: no warning')
})

t.test('a handler that throws, through the route: 500, kept as failed, no marker, lease released; the next delivery succeeds', async (t) => {
  const { app, config, database, logs } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  // The handler's catalogue lookup throws once, as a bug in handler code would (no Postgres error).
  const grantOf = app.catalog.grantOf.bind(app.catalog)
  let thrown = 0
  app.catalog.grantOf = (priceId: string) => {
    if (thrown === 0) {
      thrown++
      throw new TypeError('handler bug')
    }
    return grantOf(priceId)
  }
  const event = boostPurchaseEvent()

  const failed = await deliver(app, event)
  t.equal(thrown, 1, 'the handler threw')
  t.equal(failed.statusCode, 500)
  t.same(failed.json(), { error: 'internal_error', message: failed.json().message }, 'the shared error shape')
  t.notMatch(failed.body, /handler bug|TypeError/, 'no detail in the answer')
  t.ok(logs.some((line) => line.includes('"level":50') && line.includes('handler bug')), 'the error is logged')
  t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'the lease is released')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 0, 'no processed marker')
  t.same(await inboxRow(database, event.event_id), { status: 'failed', attempts: 1, last_error: 'TypeError: handler bug' }, 'kept as failed, saying what failed')
  t.equal(await count(database, 'boosts'), 0, 'no effect')
  t.equal((await deliver(app, event)).json().status, 'processed', 'the next delivery applies it')
  t.equal(await count(database, 'boosts where transaction_id = $1', [transactionOf(event)]), 1)
})

t.test('only the owner releases: an expired lease taken by another holder is not deleted by the first holder', async (t) => {
  const redis = new Redis(SHARED_REDIS_URL, { keyPrefix: `bwtest:${process.pid}:${randomUUID()}:` })
  t.teardown(() => redis.disconnect())
  const store = new RedisLockStore(redis, healthy)
  const lock = lockKey('webhook', randomUUID())
  const marker = lock.replace('lock:', 'processed:')
  t.equal(await store.acquire(lock, marker, 'first', 100, true), 'acquired')
  t.equal(await store.acquire(lock, marker, 'second', 5000, true), 'held', 'refused while the first lease lives')
  await until('the first lease to expire', async () => (await redis.exists(lock)) === 0 ? true : undefined)
  t.equal(await store.acquire(lock, marker, 'second', 5000, true), 'acquired', 'taken once the first lease expired')
  t.equal(await store.release(lock, marker, 'first'), false, 'the first holder learns its lease was lost')
  t.equal(await redis.get(lock), 'second', 'and the second holder keeps its lock')
  t.ok(await redis.pttl(lock) > 0, 'with its own expiry')
  t.equal(await store.release(lock, marker, 'second', 60_000), true, 'the owner releases')
  t.equal(await redis.exists(lock), 0)
  t.equal(await store.acquire(lock, marker, 'third', 1000, true), 'processed', 'the marker answers later attempts')
  t.equal(await redis.exists(lock), 0, 'and the lease taken to read it was given back at once')
})

t.test('only the owner releases, through the app: a slowed handler outlives its lease; the new holder\'s lock survives its release', async (t) => {
  const { app, config, database, logs } = await buildTestApp(t, { config: { lockTtlSeconds: 1, lockTtlExtendedSeconds: 1 } })
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  await slowFirstInsert(database, 'boosts', 2)
  const event = boostPurchaseEvent()
  const lock = lockKeyOf(config, event.event_id)

  const pending = deliver(app, event)
  await until('the lease to be taken', async () => (await redis.exists(lock)) === 1 ? true : undefined)
  await until('the lease to expire mid-handler', async () => (await redis.exists(lock)) === 0 ? true : undefined)
  // Another request takes the free key, as a second replica would.
  t.equal(await redis.set(lock, 'second-holder', 'PX', 10_000, 'NX'), 'OK')
  const answer = await pending
  t.equal(answer.json().status, 'processed', 'the slowed handler still commits: nobody else wrote the event')
  t.equal(await redis.get(lock), 'second-holder', 'its release left the other holder\'s lock alone')
  t.equal(await metricValue(app, 'lock_ttl_exhausted_total'), 1, 'the lost lease is counted')
  t.ok(logs.some((line) => line.includes('"level":40') && line.includes('lock expired before release')), 'and logged as a warning')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 1, 'the marker is set all the same')
})

t.test('contention: while another holder has the lease, a delivery gets 409 with Retry-After and counts webhook_lock_contention_total', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const event = boostPurchaseEvent()
  const lock = lockKeyOf(config, event.event_id)
  await redis.set(lock, 'someone-else', 'PX', 10_000)
  const before = await metricValue(app, 'webhook_lock_contention_total', { event_type: 'transaction.completed' })

  const answer = await deliver(app, event)
  t.equal(answer.statusCode, 409)
  t.ok(Number(answer.headers['retry-after']) >= 1, `Retry-After: ${answer.headers['retry-after']}`)
  t.same(answer.json(), {
    error: 'in_progress', status: 'in_progress', message: answer.json().message, retryAfter: Number(answer.headers['retry-after']), eventId: event.event_id
  })
  t.equal(await metricValue(app, 'webhook_lock_contention_total', { event_type: 'transaction.completed' }), before + 1)
  t.equal(await redis.get(lock), 'someone-else', 'the holder keeps its lease')
  t.equal(await count(database, 'webhook_events'), 0, 'nothing recorded')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 0, 'no marker')

  await redis.del(lock)
  t.equal((await deliver(app, event)).json().status, 'processed', 'once the holder is gone, the retry is processed')
})

t.test('contention between two deliveries of one event: the one arriving mid-handler gets 409, the first one applies it', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  await slowFirstInsert(database, 'boosts', 1)
  const event = boostPurchaseEvent()
  const lock = lockKeyOf(config, event.event_id)

  const first = deliver(app, event)
  await until('the first delivery to hold the lease', async () => (await redis.exists(lock)) === 1 ? true : undefined)
  const second = await deliver(app, event)
  t.equal(second.statusCode, 409, 'the second delivery is told to come back')
  t.equal(second.headers['retry-after'] !== undefined, true, 'with Retry-After')
  t.equal(await metricValue(app, 'webhook_lock_contention_total', { event_type: 'transaction.completed' }), 1)
  t.equal((await first).json().status, 'processed')
  t.equal((await deliver(app, event)).json().status, 'duplicate', 'the provider\'s retry then finds it done')
  t.equal(await count(database, 'boosts'), 1, 'one effect')
})
