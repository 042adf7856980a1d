import t from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, metricValue, waitForRedis } from '../helpers/app.js'
import { TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, oneOffTransaction } from '../helpers/paddle-payloads.js'
import { startOwnRedis } from '../helpers/redis-server.js'

const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
const newKey = () => `key-${randomBytes(8).toString('hex')}`

function grant (app: FastifyInstance, key: string | undefined, body: unknown) {
  return app.inject({
    method: 'POST',
    url: '/admin/boosts',
    headers: { ...auth, 'content-type': 'application/json', ...(key !== undefined ? { 'idempotency-key': key } : {}) },
    payload: JSON.stringify(body)
  })
}

t.test('50 concurrent grants with one key over two replicas: exactly one boost, one answer', async (t) => {
  const prefix = `bwtest:${process.pid}:two-replicas:`
  const first = await buildTestApp(t, { config: { redisKeyPrefix: prefix } })
  const second = await buildTestApp(t, { database: first.database, config: { redisKeyPrefix: prefix } })
  const key = newKey()
  const body = { communityId: 'community_two', memberId: 'member_1', months: 3, reason: 'launch promo' }
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => grant(i % 2 === 0 ? first.app : second.app, key, body)))

  const created = answers.filter((a) => a.statusCode === 201)
  const busy = answers.filter((a) => a.statusCode === 409)
  t.comment(`${created.length} answered 201, ${busy.length} answered 409`)
  t.equal(created.length + busy.length, 50, 'every answer is 201 or 409')
  t.ok(created.length >= 1, 'at least one 201')
  const canonical = created[0]!.json()
  for (const answer of created) t.same(answer.json(), canonical, 'every 201 carries the same boost')
  t.equal(created.filter((a) => a.headers['idempotent-replayed'] === undefined).length, 1, 'one first answer; every other 201 is a replay')
  for (const answer of busy) {
    t.equal(answer.json().status, 'in_progress')
    t.equal(answer.headers['retry-after'], '1')
  }
  // The provider-style retry of every 409 turns into the same body, replayed.
  for (let i = 0; i < busy.length; i++) {
    const retry = await grant(second.app, key, body)
    t.equal(retry.statusCode, 201)
    t.same(retry.json(), canonical)
    t.equal(retry.headers['idempotent-replayed'], 'true')
  }
  const rows = await first.database.query('select count(*)::int as n from boosts where community_id = $1', ['community_two'])
  t.equal(rows[0]?.n, 1, 'exactly one boost row')
  const keys = await first.database.query('select count(*)::int as n from idempotency_keys')
  t.equal(keys[0]?.n, 1, 'one idempotency record')
  const both = async (name: string, labels: Record<string, string>) =>
    await metricValue(first.app, name, labels) + await metricValue(second.app, name, labels)
  t.equal(await both('webhook_events_total', { event_type: 'admin_boost', result: 'processed' }), 1, 'one processed, over both replicas')
  t.equal(await both('webhook_events_total', { event_type: 'admin_boost', result: 'in_progress' }), busy.length)
  t.equal(await both('webhook_lock_contention_total', { event_type: 'admin_boost' }), busy.length)
  t.equal(await both('webhook_events_total', { event_type: 'admin_boost' }), 50 + busy.length, 'every answer counted once')
})

t.test('grants: separate keys make separate boosts, a reused key with another body is 422, a missing key 400', async (t) => {
  const { app, database } = await buildTestApp(t)
  const body = { communityId: 'community_keys', months: 2, reason: 'goodwill' }
  const a = await grant(app, newKey(), body)
  const b = await grant(app, newKey(), body)
  t.equal(a.statusCode, 201)
  t.equal(b.statusCode, 201)
  t.not(a.json().id, b.json().id)
  t.equal(a.json().source, 'admin')
  t.equal(a.json().memberId, null)
  const expires = new Date(a.json().expiresAt).getTime() - new Date(a.json().createdAt).getTime()
  t.ok(expires > 55 * 86400_000 && expires < 63 * 86400_000, 'expires two months after creation')

  const key = newKey()
  t.equal((await grant(app, key, body)).statusCode, 201)
  const reused = await grant(app, key, { ...body, months: 5 })
  t.equal(reused.statusCode, 422)
  t.equal(reused.json().error, 'idempotency_key_reused')

  const missing = await grant(app, undefined, body)
  t.equal(missing.statusCode, 400)
  t.match(missing.json().message, /Idempotency-Key/)
  const spaced = await grant(app, 'has a space', body)
  t.equal(spaced.statusCode, 400)

  const rows = await database.query('select count(*)::int as n from boosts where community_id = $1', ['community_keys'])
  t.equal(rows[0]?.n, 3)
})

t.test('grants: invalid bodies answer 400 naming the field, and write nothing', async (t) => {
  const { app, database } = await buildTestApp(t)
  const cases: Array<[unknown, RegExp]> = [
    [{ communityId: 'c1', months: 0, reason: 'r' }, /months/],
    [{ communityId: 'c1', months: 25, reason: 'r' }, /months/],
    [{ communityId: 'c1', months: '3', reason: 'r' }, /months/],
    [{ months: 3, reason: 'r' }, /communityId/],
    [{ communityId: 'c1\n', months: 3, reason: 'r' }, /communityId/],
    [{ communityId: 'c'.repeat(129), months: 3, reason: 'r' }, /communityId/],
    [{ communityId: '', months: 3, reason: 'r' }, /communityId/],
    [{ communityId: 'c1', memberId: 42, months: 3, reason: 'r' }, /memberId/],
    [{ communityId: 'c1', months: 3, reason: 'a\u0000b' }, /reason/],
    [{ communityId: 'c1', months: 3 }, /reason/],
    [{ communityId: 'c1', months: 3, reason: 'r', extra: true }, /additional properties: 'extra'/]
  ]
  for (const [body, field] of cases) {
    const answer = await grant(app, newKey(), body)
    t.equal(answer.statusCode, 400, JSON.stringify(body))
    t.equal(answer.json().error, 'validation_error')
    t.match(answer.json().message, field)
  }
  const rows = await database.query('select count(*)::int as n from boosts')
  t.equal(rows[0]?.n, 0)
})

t.test('grants: an id is any printable text up to 128 characters, stored as sent (parameters, never SQL)', async (t) => {
  const { app, database } = await buildTestApp(t)
  for (const communityId of ["c1'; drop table boosts; --", 'Book Club 7', 'comunidad-españa', '会員🚀', 'c'.repeat(128)]) {
    const answer = await grant(app, newKey(), { communityId, memberId: `m ${communityId.slice(0, 5)}`, months: 1, reason: 'r' })
    t.equal(answer.statusCode, 201, JSON.stringify(communityId.slice(0, 20)))
    t.equal(answer.json().communityId, communityId, 'answered as sent')
    const list = await app.inject({ method: 'GET', url: `/admin/boosts?communityId=${encodeURIComponent(communityId)}`, headers: auth })
    t.same(list.json().boosts.map((b: { communityId: string }) => b.communityId), [communityId], 'and listed by it')
  }
  const rows = await database.query('select count(*)::int as n from boosts')
  t.equal(rows[0]?.n, 5, 'the table is still there, with each grant')
})

t.test('GET /admin/boosts lists purchased and granted boosts, newest first', async (t) => {
  const { app } = await buildTestApp(t)
  const purchase = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3, quantity: 2 }], customData: { community_id: 'community_list', months: 12 } })
  t.equal((await deliver(app, purchase)).json().status, 'processed')
  await sleep(5)
  await grant(app, newKey(), { communityId: 'community_list', months: 1, reason: 'first' })
  await sleep(5)
  await grant(app, newKey(), { communityId: 'community_list', months: 2, reason: 'second' })
  await grant(app, newKey(), { communityId: 'community_other', months: 2, reason: 'elsewhere' })
  const list = await app.inject({ method: 'GET', url: '/admin/boosts?communityId=community_list', headers: auth })
  t.equal(list.statusCode, 200)
  const listed = list.json().boosts as Array<{ reason: string | null, source: string, months: number }>
  t.same(listed.map((b) => [b.source, b.reason, b.months]), [['admin', 'second', 2], ['admin', 'first', 1], ['purchase', null, 6]],
    'the purchase: 3 months of the paid price x 2, whatever custom_data claimed')
  t.match(listed[2], { transactionId: purchase.data.id, priceId: EXAMPLE_PRICES.boost3 }, 'a purchase names its transaction and price')
  const limited = await app.inject({ method: 'GET', url: '/admin/boosts?communityId=community_list&limit=1', headers: auth })
  t.equal(limited.json().boosts.length, 1)
  const bad = await app.inject({ method: 'GET', url: '/admin/boosts?communityId=community_list&limit=500', headers: auth })
  t.equal(bad.statusCode, 400)
  const noAuth = await app.inject({ method: 'GET', url: '/admin/boosts?communityId=community_list' })
  t.equal(noAuth.statusCode, 401)
})

t.test('Redis down: grants and badge purchases answer 503 with Retry-After 30 and write nothing; listing still works', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database } = await buildTestApp(t, { redisUrl: redis.url })
  await redis.stop()
  await waitForRedis(app, false)
  const badge = app.inject({
    method: 'POST',
    url: '/badges/purchase',
    headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': newKey() },
    payload: JSON.stringify({ memberId: 'm1', communityId: 'community_down', badgeId: 'badge_gold' })
  })
  for (const answer of [await grant(app, newKey(), { communityId: 'community_down', months: 1, reason: 'r' }), await badge]) {
    t.equal(answer.statusCode, 503)
    t.equal(answer.headers['retry-after'], '30')
    t.same(answer.json(), { error: 'service_unavailable', message: answer.json().message, retryAfter: 30 })
  }
  const list = await app.inject({ method: 'GET', url: '/admin/boosts?communityId=community_down', headers: auth })
  t.equal(list.statusCode, 200)
  const rows = await database.query(`select (select count(*) from boosts)::int as b, (select count(*) from badge_purchases)::int as p,
    (select count(*) from idempotency_keys)::int as k`)
  t.same(rows[0], { b: 0, p: 0, k: 0 })
})
