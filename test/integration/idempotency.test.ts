// Idempotency-Key LVVER on the admin and member routes: the lock on <scope>:<key>, its TTL, the key
// claimed first in the effect's transaction (a duplicate claim writes nothing and raises nothing), the
// shared busy answers, and keys that never collide across routes.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildTestApp, metricValue, waitForRedis } from '../helpers/app.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { startOwnRedis } from '../helpers/redis-server.js'
import { failInserts, slowInserts } from '../helpers/triggers.js'

const newKey = () => `key-${randomBytes(8).toString('hex')}`
const lockOf = (prefix: string, scope: string, key: string) => `${prefix}lock:{${scope}:${key}}`

function post (app: FastifyInstance, url: string, key: string, body: unknown) {
  return app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': key },
    payload: JSON.stringify(body)
  })
}
const grantBody = { communityId: 'community_idem', months: 1, reason: 'idempotency test' }
const badgeBody = { memberId: 'member_idem', communityId: 'community_idem', badgeId: 'badge_gold' }

t.test('a held lock on <scope>:<key> answers 409 in_progress with Retry-After and writes nothing; the retry then succeeds', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())

  for (const [url, scope, body] of [['/admin/boosts', 'admin_boost', grantBody], ['/badges/purchase', 'badge_purchase', badgeBody]] as const) {
    const key = newKey()
    const lock = lockOf(config.redisKeyPrefix, scope, key)
    await redis.set(lock, 'someone-else', 'PX', 5000)
    const busy = await post(app, url, key, body)
    t.equal(busy.statusCode, 409, `${url}: busy`)
    t.equal(busy.headers['retry-after'], '1')
    t.same(busy.json(), { error: 'in_progress', status: 'in_progress', message: busy.json().message, retryAfter: 1 })
    t.equal(await redis.get(lock), 'someone-else', 'the holder keeps its lock')
    t.equal(await metricValue(app, 'webhook_lock_contention_total', { event_type: scope }), 1)
    t.equal(await metricValue(app, 'webhook_events_total', { event_type: scope, result: 'in_progress' }), 1)

    await redis.del(lock)
    const done = await post(app, url, key, body)
    t.equal(done.statusCode, 201, `${url}: the retry is applied`)
    t.equal(done.headers['idempotent-replayed'], undefined, 'a first answer is not marked as replayed')
    t.equal(await metricValue(app, 'webhook_events_total', { event_type: scope, result: 'processed' }), 1)
    t.equal(await redis.exists(lock), 0, 'released after success')
    t.equal(await redis.exists(`${config.redisKeyPrefix}processed:{${scope}:${key}}`), 1, 'the processed marker is set')
    const replay = await post(app, url, key, body)
    t.same(replay.json(), done.json())
    t.equal(replay.headers['idempotent-replayed'], 'true')
    t.equal(await metricValue(app, 'webhook_events_total', { event_type: scope, result: 'duplicate' }), 1)
  }
  const rows = await database.query('select (select count(*) from boosts)::int as b, (select count(*) from badge_purchases)::int as p')
  t.same(rows[0], { b: 1, p: 1 })
})

t.test('the lock on a key lives 60 s (the extended TTL) while the effect runs', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  await slowInserts(database, 'boosts', 'community_id', 'community_ttl', 0.6)
  const key = newKey()
  const pending = post(app, '/admin/boosts', key, { ...grantBody, communityId: 'community_ttl' })
  await sleep(300)
  const ttl = await redis.pttl(lockOf(config.redisKeyPrefix, 'admin_boost', key))
  t.equal((await pending).statusCode, 201)
  t.ok(ttl > 59_000 && ttl <= 60_000, `lock TTL ${ttl} ms`)
})

t.test('one key on both routes: two records that never collide', async (t) => {
  const { app, database } = await buildTestApp(t)
  const key = newKey()
  t.equal((await post(app, '/admin/boosts', key, grantBody)).statusCode, 201)
  const badge = await post(app, '/badges/purchase', key, badgeBody)
  t.equal(badge.statusCode, 201, 'the same key on the other route is a new request')
  t.equal(badge.headers['idempotent-replayed'], undefined)
  const rows = await database.query<{ key: string, scope: string, status_code: number }>('select key, scope, status_code from idempotency_keys order by key')
  t.same(rows, [
    { key: `admin_boost:${key}`, scope: 'admin_boost', status_code: 201 },
    { key: `badge_purchase:${key}`, scope: 'badge_purchase', status_code: 201 }
  ])
})

t.test('a lock that expires mid-effect: the second holder\'s claim waits for the first to commit, finds the key taken and replays the first answer', async (t) => {
  const { app, database } = await buildTestApp(t, { config: { lockTtlSeconds: 1, lockTtlExtendedSeconds: 1 } })
  await slowInserts(database, 'boosts', 'community_id', 'community_slow', 2)
  const key = newKey()
  const body = { ...grantBody, communityId: 'community_slow' }
  const first = post(app, '/admin/boosts', key, body)
  await sleep(1300)
  const second = await post(app, '/admin/boosts', key, body)
  const firstAnswer = await first
  t.equal(firstAnswer.statusCode, 201)
  t.equal(second.statusCode, 201)
  t.same(second.json(), firstAnswer.json(), 'the second holder answers with the first boost')
  t.equal(second.headers['idempotent-replayed'], 'true')
  const rows = await database.query('select count(*)::int as n from boosts')
  t.equal(rows[0]?.n, 1, 'the second effect never ran')
  const keys = await database.query<{ status_code: number }>('select status_code from idempotency_keys')
  t.same(keys, [{ status_code: 201 }], 'one key, holding the first answer')
  t.ok(await metricValue(app, 'lock_ttl_exhausted_total') >= 1, 'the first holder found its lease gone')
})

t.test('Redis stalls after the guard: the admin_boost bucket lets 2 through, then 429; retries apply each grant once', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database } = await buildTestApp(t, {
    redisUrl: redis.url,
    config: { redisCommandTimeoutMs: 200, fallbackBucketSize: 2, fallbackRefillPerSecond: 0.01 }
  })
  const keys = Array.from({ length: 4 }, newKey)
  await redis.client.call('CLIENT', 'PAUSE', '1500', 'ALL')
  t.ok(app.lockStore.isReady(), 'the guard still sees Redis ready')
  const answers = await Promise.all(keys.map((key) => post(app, '/admin/boosts', key, grantBody)))
  const statuses = answers.map((a) => a.statusCode)
  t.same([...statuses].sort(), [201, 201, 429, 429])
  for (const answer of answers.filter((a) => a.statusCode === 429)) {
    t.equal(answer.headers['retry-after'], '1')
    t.same(answer.json(), { error: 'too_many_requests', message: answer.json().message, retryAfter: 1 })
  }
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'admin_boost', result: 'allowed' }), 2)
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'admin_boost', result: 'rejected' }), 2)
  t.equal(await metricValue(app, 'webhook_events_total', { event_type: 'admin_boost', result: 'fallback_exhausted' }), 2)

  t.equal(app.lockStore.isReady(), false, 'the failed locks closed the guard')
  await waitForRedis(app, true)
  const again = await Promise.all(keys.map((key) => post(app, '/admin/boosts', key, grantBody)))
  t.same(again.map((a) => a.statusCode), [201, 201, 201, 201])
  for (let i = 0; i < keys.length; i++) {
    if (statuses[i] === 201) {
      t.equal(again[i]!.headers['idempotent-replayed'], 'true', 'a grant applied on the bucket is replayed')
      t.same(again[i]!.json(), answers[i]!.json())
    } else {
      t.equal(again[i]!.headers['idempotent-replayed'], undefined, 'a refused grant is applied now')
    }
  }
  const rows = await database.query('select count(*)::int as n from boosts')
  t.equal(rows[0]?.n, 4, 'each key granted exactly once')
})

t.test('the key: 255 printable characters pass, 256 or a control character are 400; the body is compared by value, not by key order', async (t) => {
  const { app, database } = await buildTestApp(t)
  const longest = `k${'x'.repeat(254)}`
  t.equal((await post(app, '/admin/boosts', longest, grantBody)).statusCode, 201, '255 characters')
  for (const bad of [`k${'x'.repeat(255)}`, 'tab\there', 'naïve']) {
    const answer = await post(app, '/admin/boosts', bad, grantBody)
    t.equal(answer.statusCode, 400, JSON.stringify(bad.slice(0, 12)))
    t.match(answer.json().message, /Idempotency-Key/)
  }
  t.equal(await metricValue(app, 'webhook_events_total', { event_type: 'admin_boost', result: 'invalid' }), 3, 'refused keys are counted')

  const key = newKey()
  const first = await post(app, '/badges/purchase', key, badgeBody)
  const reordered = await post(app, '/badges/purchase', key, { badgeId: badgeBody.badgeId, communityId: badgeBody.communityId, memberId: badgeBody.memberId })
  t.equal(reordered.statusCode, 201)
  t.equal(reordered.headers['idempotent-replayed'], 'true', 'the same fields in another order are the same request')
  t.same(reordered.json(), first.json())
  const changed = await post(app, '/badges/purchase', key, { ...badgeBody, badgeId: 'badge_silver' })
  t.equal(changed.statusCode, 422)
  t.same(changed.json(), { error: 'idempotency_key_reused', message: changed.json().message })
  t.equal(await metricValue(app, 'webhook_events_total', { event_type: 'badge_purchase', result: 'key_reused' }), 1)

  const rows = await database.query('select (select count(*) from boosts)::int as b, (select count(*) from badge_purchases)::int as p, (select count(*) from idempotency_keys)::int as k')
  t.same(rows[0], { b: 1, p: 1, k: 2 })
})

t.test('an effect that fails answers 500 with nothing recorded under the key; the retry with that key is applied', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const restore = await failInserts(database, 'boosts')
  const key = newKey()
  const failed = await post(app, '/admin/boosts', key, grantBody)
  t.equal(failed.statusCode, 500)
  t.same(failed.json(), { error: 'internal_error', message: failed.json().message })
  t.notMatch(failed.body, /injected failure/, 'the database error is not shown')
  t.equal(await redis.exists(lockOf(config.redisKeyPrefix, 'admin_boost', key)), 0, 'the lock is released')
  t.equal(await redis.exists(`${config.redisKeyPrefix}processed:{admin_boost:${key}}`), 0, 'no processed marker')
  const keys = await database.query('select count(*)::int as n from idempotency_keys')
  t.equal(keys[0]?.n, 0, 'no key row: it commits with the effect or not at all')
  t.equal(await metricValue(app, 'webhook_events_total', { event_type: 'admin_boost', result: 'error' }), 1)

  await restore()
  const retried = await post(app, '/admin/boosts', key, grantBody)
  t.equal(retried.statusCode, 201)
  t.equal(retried.headers['idempotent-replayed'], undefined, 'applied now, not a replay of the failure')
  const rows = await database.query('select count(*)::int as n from boosts')
  t.equal(rows[0]?.n, 1)
})
