// Redis lost between the guard and the lock: the client still reports ready (the connection is open),
// but commands time out. The per-type token bucket bounds the work; the fence keeps effects exactly once.
import t from 'tap'
import { buildTestApp, metricValue, waitForRedis } from '../helpers/app.js'
import { count } from '../helpers/lvver.js'
import { boostPurchaseEvent, deliver, subscriptionEvent, paddleId } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'

t.test('Redis stalls after the guard: 15 events of one type at once, the bucket lets 10 through, then 429; effects exactly once', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database } = await buildTestApp(t, {
    redisUrl: redis.url,
    // A slow refill keeps the count of tokens independent of how fast this machine runs the burst;
    // the refill rate itself is a unit test of the bucket.
    config: { redisCommandTimeoutMs: 200, fallbackBucketSize: 10, fallbackRefillPerSecond: 0.01 }
  })
  const events = Array.from({ length: 15 }, () => boostPurchaseEvent({ community_id: 'community_stall' }))

  // The connection stays open, so the client still reports ready, but every command waits 3 s.
  t.equal(await redis.client.call('CLIENT', 'PAUSE', '3000', 'ALL'), 'OK')
  t.equal(app.lockStore.isReady(), true, 'the guard still sees Redis ready')
  const answers = await Promise.all(events.map((event) => deliver(app, event)))

  const processed = answers.filter((a) => a.statusCode === 200 && a.json().status === 'processed')
  const refused = answers.filter((a) => a.statusCode === 429)
  t.equal(processed.length, 10, 'ten proceed on the bucket\'s tokens')
  t.equal(refused.length, 5, 'the other five are refused')
  for (const answer of refused) {
    t.ok(Number(answer.headers['retry-after']) >= 1, 'with Retry-After')
    t.same(answer.json(), { error: 'too_many_requests', message: answer.json().message, retryAfter: Number(answer.headers['retry-after']), eventId: answer.json().eventId })
  }
  t.equal(await metricValue(app, 'redis_lock_fallback_total'), 15, 'every failed lock counted')
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'transaction.completed', result: 'allowed' }), 10)
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'transaction.completed', result: 'rejected' }), 5)
  t.equal(await count(database, "boosts where community_id = 'community_stall'"), 10, 'the ten applied, the five not')
  const refusedIds = new Set(refused.map((a) => a.json().eventId))
  t.equal(refusedIds.size, 5)
  t.equal(await count(database, 'webhook_events where event_id = any($1)', [[...refusedIds]]), 0, 'nothing recorded for the refused')
  // The bucket only covers the moments before the health check trips: the timeouts themselves closed the guard.
  t.equal(app.lockStore.isReady(), false, 'the failed locks closed the guard')
  t.equal((await deliver(app, boostPurchaseEvent())).statusCode, 503, 'so a request arriving now is refused before any lock')

  await waitForRedis(app, true)
  t.same(await redis.client.keys('*lock:*'), [], 'no lease survives the stall')

  // The provider delivers every event again.
  const again = await Promise.all(events.map((event) => deliver(app, event)))
  const byId = new Map(again.map((a) => [a.json().eventId as string, a.json().status as string]))
  for (const event of events) {
    const expected = refusedIds.has(event.event_id as string) ? 'processed' : 'duplicate'
    t.equal(byId.get(event.event_id as string), expected, `${refusedIds.has(event.event_id as string) ? 'refused' : 'applied'} before: ${expected} now`)
  }
  t.equal(await count(database, "boosts where community_id = 'community_stall'"), 15, 'each event applied exactly once')
  t.equal(await count(database, 'webhook_events'), 15)
})

t.test('the fallback bucket is per event type: one type\'s burst does not spend another\'s tokens', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, database } = await buildTestApp(t, {
    redisUrl: redis.url,
    config: { redisCommandTimeoutMs: 200, fallbackBucketSize: 2, fallbackRefillPerSecond: 0.01 }
  })
  t.equal(await redis.client.call('CLIENT', 'PAUSE', '2000', 'ALL'), 'OK')
  // All four pass the guard together, before their failed locks close it.
  const [subscription, ...boosts] = await Promise.all([
    deliver(app, subscriptionEvent('subscription.created', paddleId('sub'))),
    ...Array.from({ length: 3 }, () => deliver(app, boostPurchaseEvent()))
  ])
  t.same(boosts.map((a) => a.statusCode).sort(), [200, 200, 429], 'transaction.completed: two tokens, then 429')
  t.equal(subscription.json().status, 'processed', 'subscription.created still has its own tokens')
  t.equal(await metricValue(app, 'local_rate_limiter_requests_total', { event_type: 'subscription.created', result: 'allowed' }), 1)
  t.equal(await count(database, 'webhook_events'), 3)
  await waitForRedis(app, true)
})
