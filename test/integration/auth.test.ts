import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { requestKeys } from '../helpers/lvver.js'

const body = JSON.stringify({ communityId: 'community_auth', months: 1, reason: 'auth test' })
function grant (app: FastifyInstance, authorization?: string) {
  return app.inject({
    method: 'POST',
    url: '/admin/boosts',
    headers: {
      'content-type': 'application/json',
      'idempotency-key': randomBytes(8).toString('hex'),
      ...(authorization !== undefined ? { authorization } : {})
    },
    payload: body
  })
}

t.test('bearer auth: missing and wrong tokens are 401 and write nothing; rotation accepts both tokens', async (t) => {
  const { app, database } = await buildTestApp(t, { config: { adminTokens: ['old-token-aaaaaaaa', 'new-token-bbbbbbbb'] } })
  for (const header of [undefined, '', 'Bearer', 'Bearer wrong-token', 'Basic b2xkLXRva2Vu', 'Bearer old-token-aaaaaaa', 'Bearer old-token-aaaaaaaab']) {
    const answer = await grant(app, header)
    t.equal(answer.statusCode, 401, `${header ?? 'no header'} is refused`)
    t.equal(answer.json().error, 'unauthorized')
  }
  t.equal((await grant(app, 'Bearer old-token-aaaaaaaa')).statusCode, 201, 'the old token still works during rotation')
  t.equal((await grant(app, 'bearer new-token-bbbbbbbb')).statusCode, 201, 'the new token works')
  const rows = await database.query('select count(*)::int as n from boosts')
  t.equal(rows[0]?.n, 2)
})

t.test('bearer auth: once the old token is removed it is refused', async (t) => {
  const { app } = await buildTestApp(t, { config: { adminTokens: ['new-token-bbbbbbbb'] } })
  t.equal((await grant(app, 'Bearer old-token-aaaaaaaa')).statusCode, 401)
  t.equal((await grant(app, 'Bearer new-token-bbbbbbbb')).statusCode, 201)
})

t.test('bearer auth: with no ADMIN_API_TOKEN every admin and member route is 401, with a warning at start', async (t) => {
  const { app, logs } = await buildTestApp(t, { config: { adminTokens: [] } })
  t.equal((await grant(app, 'Bearer anything')).statusCode, 401)
  t.equal((await grant(app, 'Bearer ')).statusCode, 401)
  const list = await app.inject({ method: 'GET', url: '/admin/boosts?communityId=c', headers: { authorization: 'Bearer x' } })
  t.equal(list.statusCode, 401)
  const badge = await app.inject({
    method: 'POST',
    url: '/badges/purchase',
    headers: { authorization: 'Bearer x', 'content-type': 'application/json', 'idempotency-key': 'k1' },
    payload: JSON.stringify({ memberId: 'm', communityId: 'c', badgeId: 'b' })
  })
  t.equal(badge.statusCode, 401)
  t.equal(badge.json().error, 'unauthorized')
  t.ok(logs.some((line) => line.includes('ADMIN_API_TOKEN is unset')), 'the start logged a warning')
})

t.test('order: the guard, then auth, then the body schema, then the key, then LVVER; a refused request takes no lock', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const key = 'held-key-1'
  const lock = `${config.redisKeyPrefix}lock:{admin_boost:${key}}`
  await redis.set(lock, 'someone-else', 'PX', 10_000)
  const post = (headers: Record<string, string>, payload: string) => app.inject({
    method: 'POST', url: '/admin/boosts', headers: { 'content-type': 'application/json', ...headers }, payload
  })

  const forged = await post({ authorization: 'Bearer wrong-token', 'idempotency-key': key }, body)
  t.equal(forged.statusCode, 401, 'a wrong token is refused before the lock is looked at (not 409)')
  const badBodyNoAuth = await post({ 'idempotency-key': key }, JSON.stringify({ communityId: 'c', months: 0, reason: 'r' }))
  t.equal(badBodyNoAuth.statusCode, 401, 'auth before the body schema')
  const notJsonNoAuth = await post({ 'idempotency-key': key }, '{not json')
  t.equal(notJsonNoAuth.statusCode, 401, 'auth before the body is parsed')
  const noKeyNoAuth = await post({}, body)
  t.equal(noKeyNoAuth.statusCode, 401, 'auth before the key')

  const authorized = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
  const badBodyNoKey = await post(authorized, JSON.stringify({ communityId: 'c', months: 0, reason: 'r' }))
  t.equal(badBodyNoKey.statusCode, 400)
  t.equal(badBodyNoKey.json().error, 'validation_error', 'the body schema before the key')
  const noKey = await post(authorized, body)
  t.equal(noKey.statusCode, 400)
  t.equal(noKey.json().error, 'bad_request')
  t.match(noKey.json().message, /Idempotency-Key/)
  const held = await post({ ...authorized, 'idempotency-key': key }, body)
  t.equal(held.statusCode, 409, 'only an authenticated, valid request reaches the lock')

  t.equal(await redis.get(lock), 'someone-else', 'the holder kept its lock throughout')
  t.same(await requestKeys(redis, config), [lock], 'no other lock or marker was written')
  const rows = await database.query('select (select count(*) from boosts)::int as b, (select count(*) from idempotency_keys)::int as k')
  t.same(rows[0], { b: 0, k: 0 })
})
