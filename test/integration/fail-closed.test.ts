// Fail closed when Redis is down; bounded fallback when Redis stalls after the guard.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildTestApp, metricValue, waitForRedis } from '../helpers/app.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'

t.test('Redis down: every lock route answers 503 before auth or parsing; other routes serve; recovery needs no restart', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database } = await buildTestApp(t, { redisUrl: redis.url })
  await redis.stop()
  await waitForRedis(app, false)

  // Bodies and credentials that would fail if anything but the guard looked at them.
  const attempts = [
    { method: 'POST' as const, url: '/billing/webhook', headers: { 'content-type': 'application/json' }, payload: '{not json' },
    { method: 'POST' as const, url: '/admin/boosts', headers: { 'content-type': 'application/json' }, payload: '{not json' },
    { method: 'POST' as const, url: '/badges/purchase', headers: { 'content-type': 'text/plain' }, payload: 'x' }
  ]
  for (const attempt of attempts) {
    const answer = await app.inject(attempt)
    t.equal(answer.statusCode, 503, `${attempt.url} fails closed`)
    t.equal(answer.headers['retry-after'], '30')
    t.same(answer.json(), { error: 'service_unavailable', message: answer.json().message, retryAfter: 30 })
    t.equal(await metricValue(app, 'security_fail_closed_total', { route: attempt.url }), 1)
  }
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200)
  const security = await app.inject({ url: '/health/security' })
  t.equal(security.statusCode, 503)
  t.equal(security.json().status, 'degraded')

  await redis.start()
  await waitForRedis(app, true)
  const event = boostPurchaseEvent()
  t.equal((await deliver(app, event)).json().status, 'processed', 'Redis is back: processed, with no restart')
  t.equal((await app.inject({ url: '/health/security' })).statusCode, 200)
  const rows = await database.query('select count(*)::int as n from webhook_events')
  t.equal(rows[0]?.n, 1)
})

t.test('Redis stalls after the guard: the token bucket lets 10 through, then 429; effects stay exactly once', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database } = await buildTestApp(t, { redisUrl: redis.url, config: { redisCommandTimeoutMs: 200 } })
  const events = Array.from({ length: 15 }, () => boostPurchaseEvent())

  // The connection stays open, so the client still reports ready, but every command times out.
  await redis.client.call('CLIENT', 'PAUSE', '2500', 'ALL')
  t.ok(app.lockStore.isReady(), 'the guard still sees Redis ready')
  const answers = await Promise.all(events.map((event) => deliver(app, event)))
  const processed = answers.filter((a) => a.statusCode === 200 && a.json().status === 'processed')
  const refused = answers.filter((a) => a.statusCode === 429)
  t.equal(processed.length, 10, 'ten proceed on the bucket')
  t.equal(refused.length, 5, 'the rest are refused')
  for (const answer of refused) {
    t.equal(answer.headers['retry-after'], '1')
    t.equal(answer.json().error, 'too_many_requests')
  }
  t.equal(await metricValue(app, 'redis_lock_fallback_total'), 15)
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'transaction.completed', result: 'allowed' }), 10)
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'transaction.completed', result: 'rejected' }), 5)

  await sleep(2700)
  // Once Redis answers again, every event is delivered again, as the provider would.
  const again = await Promise.all(events.map((event) => deliver(app, event)))
  const statuses = again.map((a) => a.json().status).sort()
  t.same(statuses, [...Array(10).fill('duplicate'), ...Array(5).fill('processed')].sort())
  const boosts = await database.query('select count(*)::int as n from boosts')
  t.equal(boosts[0]?.n, 15, 'each event applied exactly once')
  const locks = await redis.client.keys('*lock:*')
  t.same(locks, [], 'no lease survives the stall')
})
