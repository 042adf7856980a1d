// Fail closed: with Redis down, every route flagged `config: { lock: true }` answers 503 before its body is
// parsed, before authentication and before its handler; the other routes serve; recovery needs no restart.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildApp } from '../../app.js'
import { metricValue, testConfig, waitForRedis } from '../helpers/app.js'
import { freshDatabase } from '../helpers/database.js'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { count } from '../helpers/lvver.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'

const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }

t.test('Redis down: the three lock routes answer 503 with Retry-After: 30 and never reach parser, auth or handler; recovery without a restart', async (t) => {
  const redis = await startOwnRedis(t)
  const database = await freshDatabase(t)
  const config = testConfig({
    databaseUrl: database.url,
    redisUrl: redis.url,
    redisKeyPrefix: `bwtest:${process.pid}:${randomBytes(3).toString('hex')}:`,
    webhookSecrets: [TEST_SECRET],
    adminTokens: [TEST_ADMIN_TOKEN],
    databasePoolSize: 3
  })
  const app = await buildApp(config)
  t.teardown(() => app.close())

  // A stub lock route, and the same without the flag, each with a body parser and a handler that count
  // their calls: what the guard must stop before, seen directly.
  const reached = { lockedParser: 0, lockedHandler: 0, openParser: 0, openHandler: 0 }
  await app.register(async (stubs) => {
    stubs.addContentTypeParser('application/x-stub', { parseAs: 'string' }, (request, body, done) => {
      if (request.routeOptions.config.lock === true) reached.lockedParser++
      else reached.openParser++
      done(null, body)
    })
    stubs.post('/stub/locked', { config: { lock: true } }, async () => { reached.lockedHandler++; return { ok: true } })
    stubs.post('/stub/open', async () => { reached.openHandler++; return { ok: true } })
  })
  await app.ready()
  await waitForRedis(app, true)

  const stub = (url: string) => app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-stub' }, payload: 'hello' })
  t.equal((await stub('/stub/locked')).statusCode, 200, 'with Redis up, the stub lock route serves')
  t.same(reached, { lockedParser: 1, lockedHandler: 1, openParser: 0, openHandler: 0 }, 'through its parser and handler')

  await redis.stop()
  await waitForRedis(app, false)

  const expect503 = async (name: string, answer: Awaited<ReturnType<typeof app.inject>>) => {
    t.equal(answer.statusCode, 503, `${name}: 503`)
    t.equal(answer.headers['retry-after'], '30', `${name}: Retry-After: 30`)
    t.same(answer.json(), { error: 'service_unavailable', message: answer.json().message, retryAfter: 30 }, `${name}: the fail-closed JSON`)
    t.match(answer.json().message, /redis/i, `${name}: the message says why`)
  }

  // The webhook: a valid signed event, a body of the wrong type (415 if parsed), one over the limit (413).
  const event = boostPurchaseEvent()
  await expect503('a valid signed webhook', await deliver(app, event))
  await expect503('a webhook in text/plain', await deliver(app, 'x', { contentType: 'text/plain' }))
  await expect503('a webhook over the body limit', await deliver(app, 'x'.repeat(config.bodyLimitBytes + 1)))
  await expect503('a webhook with no signature', await deliver(app, event, { signature: null }))
  t.equal(await metricValue(app, 'webhook_events_total'), 0, 'the webhook handler, which counts every request it sees, saw none')

  // The two bearer routes: without credentials (401 if authentication ran), and with a complete request.
  const grant = { communityId: 'community_1', months: 1, reason: 'test' }
  const purchase = { memberId: 'member_1', communityId: 'community_1', badgeId: 'badge_gold' }
  await expect503('POST /admin/boosts without a token', await app.inject({ method: 'POST', url: '/admin/boosts', headers: { 'content-type': 'application/json' }, payload: '{not json' }))
  await expect503('POST /admin/boosts, complete', await app.inject({ method: 'POST', url: '/admin/boosts', headers: { ...auth, 'idempotency-key': 'k-admin-1' }, payload: grant }))
  await expect503('POST /badges/purchase without a token', await app.inject({ method: 'POST', url: '/badges/purchase', headers: { 'content-type': 'text/plain' }, payload: 'x' }))
  await expect503('POST /badges/purchase, complete', await app.inject({ method: 'POST', url: '/badges/purchase', headers: { ...auth, 'idempotency-key': 'k-badge-1' }, payload: purchase }))

  await expect503('the stub lock route', await stub('/stub/locked'))
  t.same(reached, { lockedParser: 1, lockedHandler: 1, openParser: 0, openHandler: 0 }, 'the stub\'s parser and handler were not reached')
  t.equal((await stub('/stub/open')).statusCode, 200, 'a route without the flag is untouched')
  t.same(reached, { lockedParser: 1, lockedHandler: 1, openParser: 1, openHandler: 1 })

  t.equal(await count(database, 'webhook_events'), 0, 'nothing written: no event')
  t.equal(await count(database, 'boosts'), 0, 'no boost')
  t.equal(await count(database, 'badge_purchases'), 0, 'no badge purchase')
  t.equal(await count(database, 'idempotency_keys'), 0, 'no idempotency key')

  t.equal(await metricValue(app, 'security_fail_closed_total', { route: '/billing/webhook' }), 4)
  t.equal(await metricValue(app, 'security_fail_closed_total', { route: '/admin/boosts' }), 2)
  t.equal(await metricValue(app, 'security_fail_closed_total', { route: '/badges/purchase' }), 2)
  t.equal(await metricValue(app, 'security_fail_closed_total', { route: '/stub/locked' }), 1)
  t.equal(await metricValue(app, 'security_fail_closed_total', { route: '/stub/open' }), 0)

  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, '/health/live unaffected')
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, '/health/ready unaffected (Postgres is up)')
  const metrics = await app.inject({ url: '/metrics' })
  t.equal(metrics.statusCode, 200, '/metrics unaffected')
  t.match(metrics.body, /security_fail_closed_total\{route="\/billing\/webhook"\} 4/)
  t.match(metrics.body, /redis_up 0/)
  const security = await app.inject({ url: '/health/security' })
  t.equal(security.statusCode, 503)
  t.equal(security.json().status, 'degraded', '/health/security tells the story')

  await redis.start()
  await waitForRedis(app, true)
  t.equal((await deliver(app, event)).json().status, 'processed', 'Redis is back: the same app processes the webhook')
  t.equal((await app.inject({ method: 'POST', url: '/admin/boosts', headers: { ...auth, 'idempotency-key': 'k-admin-1' }, payload: grant })).statusCode, 201, 'and grants the boost')
  t.equal((await app.inject({ method: 'POST', url: '/badges/purchase', headers: { ...auth, 'idempotency-key': 'k-badge-1' }, payload: purchase })).statusCode, 201, 'and starts the badge purchase')
  t.equal((await stub('/stub/locked')).statusCode, 200)
  t.same(reached, { lockedParser: 2, lockedHandler: 2, openParser: 1, openHandler: 1 })
  t.equal((await app.inject({ url: '/health/security' })).statusCode, 200)
  t.equal(await metricValue(app, 'security_fail_closed_total'), 9, 'nothing more was refused')
})

t.test('the guard only reads a flag: a route flagged lock: false is never refused', async (t) => {
  const redis = await startOwnRedis(t)
  const database = await freshDatabase(t)
  const app = await buildApp(testConfig({ databaseUrl: database.url, redisUrl: redis.url, databasePoolSize: 2 }))
  t.teardown(() => app.close())
  app.post('/stub/unflagged', { config: { lock: false } }, async () => ({ ok: true }))
  await app.ready()
  await redis.stop()
  await waitForRedis(app, false)
  t.equal((await app.inject({ method: 'POST', url: '/stub/unflagged' })).statusCode, 200)
  t.equal(await metricValue(app, 'security_fail_closed_total'), 0)
})
