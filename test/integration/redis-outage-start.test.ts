import t from 'tap'
import { buildTestApp, waitForRedis } from '../helpers/app.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'

t.test('Redis down at start: the service starts and serves; Redis returns: lock routes open, no restart', async (t) => {
  const redis = await startOwnRedis(t)
  await redis.stop()
  const started = Date.now()
  const { app } = await buildTestApp(t, { redisUrl: redis.url, waitForRedis: false })
  t.ok(Date.now() - started < 5000, 'start-up does not wait for Redis')
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
  const security = await app.inject({ url: '/health/security' })
  t.equal(security.statusCode, 503)
  t.equal(security.json().status, 'degraded')
  t.match((await app.inject({ url: '/metrics' })).body, /^redis_up 0$/m)
  const refused = await deliver(app, boostPurchaseEvent())
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '30')
  t.match(refused.json(), { error: 'service_unavailable', retryAfter: 30 })
  t.match((await app.inject({ url: '/health/security' })).json(), {
    status: 'degraded',
    checks: { lockStore: 'redis', counters: { security_fail_closed_total: [{ labels: { route: '/billing/webhook' }, value: 1 }] } }
  }, 'the refusal is counted on the security view')

  await redis.start()
  await waitForRedis(app, true, 10_000)
  t.equal((await app.inject({ url: '/health/security' })).statusCode, 200)
  t.match((await app.inject({ url: '/metrics' })).body, /^redis_up 1$/m)
  t.equal((await deliver(app, boostPurchaseEvent())).json().status, 'processed')
})

t.test('no REDIS_URL: the in-process lock store, announced by a warning', async (t) => {
  const { app, logs } = await buildTestApp(t, { redisUrl: null })
  t.ok(logs.some((line) => line.includes('"level":40') && line.includes('REDIS_URL is unset')))
  t.equal(app.lockStore.kind, 'memory')
  const event = boostPurchaseEvent()
  t.equal((await deliver(app, event)).json().status, 'processed')
  t.equal((await deliver(app, event)).json().status, 'duplicate')
  t.match((await app.inject({ url: '/health/security' })).json(), { status: 'ok', checks: { lockStore: 'memory', redis: 'not_configured' } })
})
