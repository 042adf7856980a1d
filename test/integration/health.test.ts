import t from 'tap'
import { once } from 'node:events'
import { buildTestApp } from '../helpers/app.js'
import { watchPostgres } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, oneOffTransaction } from '../helpers/paddle-payloads.js'
import { statements } from '../../db/statements.js'

const METRICS: Array<[string, string]> = [
  ['webhook_events_total', 'counter'],
  ['webhook_processing_seconds', 'histogram'],
  ['webhook_lock_contention_total', 'counter'],
  ['security_fail_closed_total', 'counter'],
  ['redis_lock_fallback_total', 'counter'],
  ['local_rate_limiter_requests_total', 'counter'],
  ['lock_ttl_exhausted_total', 'counter'],
  ['redis_up', 'gauge'],
  ['webhook_inbox_events', 'gauge'],
  ['webhook_inbox_oldest_seconds', 'gauge'],
  ['reconcile_events_total', 'counter'],
  ['reconcile_lag_seconds', 'gauge'],
  ['retention_deleted_total', 'counter'],
  ['redis_unhealthy_total', 'counter'],
  ['redis_pending_commands', 'gauge']
]

t.test('health routes and metrics', async (t) => {
  const { app } = await buildTestApp(t)
  const second = await buildTestApp(t)

  const live = await app.inject({ url: '/health/live' })
  t.same([live.statusCode, live.json()], [200, { status: 'ok' }])
  const ready = await app.inject({ url: '/health/ready' })
  t.same([ready.statusCode, ready.json()], [200, { status: 'ok', checks: { database: 'ok', migrations: 'applied' } }])
  const security = await app.inject({ url: '/health/security' })
  t.equal(security.statusCode, 200)
  t.match(security.json().checks.since, /^\d{4}-\d\d-\d\dT/, 'since when Redis has been healthy')
  t.same(security.json(), {
    status: 'ok',
    checks: {
      lockStore: 'redis',
      redis: 'ready',
      topology: 'standalone',
      since: security.json().checks.since,
      failClosed: 'open',
      counters: {
        security_fail_closed_total: [],
        redis_lock_fallback_total: [{ labels: {}, value: 0 }],
        local_rate_limiter_requests_total: [],
        lock_ttl_exhausted_total: [{ labels: {}, value: 0 }]
      }
    }
  }, 'the security view: Redis ready, and every fail-closed counter')

  t.equal((await deliver(app, oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost1 }], customData: { community_id: 'c1' } }))).json().status, 'processed')
  t.equal((await deliver(app, oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost1 }], customData: null }))).json().status, 'needs_review')
  const queries = watchPostgres(app)
  const metrics = await app.inject({ url: '/metrics' })
  t.equal(queries.filter((q) => q.text === statements.eventWaiting.text).length, 1, 'one inbox query per scrape, for both inbox gauges')
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  for (const [name, type] of METRICS) t.match(metrics.body, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name)
  t.match(metrics.body, /^process_cpu_user_seconds_total \d/m, 'default process metrics')
  t.match(metrics.body, /^webhook_events_total\{event_type="transaction\.completed",result="processed"\} 1$/m)
  t.match(metrics.body, /^webhook_events_total\{event_type="transaction\.completed",result="needs_review"\} 1$/m)
  t.match(metrics.body, /^redis_up 1$/m)
  t.match(metrics.body, /^webhook_inbox_events\{status="needs_review"\} 1$/m, 'the inbox gauge counts what waits for review')
  t.match(metrics.body, /^webhook_inbox_events\{status="failed"\} 0$/m)
  t.match(metrics.body, /^webhook_inbox_oldest_seconds\{status="needs_review"\} \d/m, 'and its age, in the same scrape')
  const other = await second.app.inject({ url: '/metrics' })
  t.notMatch(other.body, /result="processed"/, 'two apps in one process share no registry')

  app.lifecycle.shuttingDown = true
  const stopping = await app.inject({ url: '/health/ready' })
  t.same([stopping.statusCode, stopping.json()], [503, { error: 'not_ready', message: 'The service is stopping.', status: 'unavailable', checks: { shuttingDown: true } }])
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'liveness stays up while stopping')

  const notFound = await app.inject({ url: '/nope' })
  t.same([notFound.statusCode, notFound.json()], [404, { error: 'not_found', message: 'Route GET /nope not found' }])
})

t.test('readiness follows Postgres: 503 while the database refuses connections, 200 again after', async (t) => {
  const { app, database } = await buildTestApp(t)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
  await database.admin(`alter database ${database.name} allow_connections false`)
  t.teardown(() => database.admin(`alter database ${database.name} allow_connections true`))
  await database.admin('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database.name])
  const down = await app.inject({ url: '/health/ready' })
  t.same([down.statusCode, down.json()], [503, { error: 'not_ready', message: 'Postgres does not answer.', status: 'unavailable', checks: { database: 'unreachable', migrations: 'applied' } }])
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'liveness does not depend on Postgres')
  await database.admin(`alter database ${database.name} allow_connections true`)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready again with no restart')
})

t.test('closing the app marks it as shutting down (readiness 503) before anything closes', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal(app.lifecycle.shuttingDown, false)
  // The db plugin's onClose hook calls this very object's close(): what readiness said at that moment.
  const closeDatabase = app.database.close.bind(app.database)
  let whenPostgresCloses: boolean | undefined
  app.database.close = async () => {
    whenPostgresCloses = app.lifecycle.shuttingDown
    await closeDatabase()
  }
  const redis = app.redis
  if (redis === null) throw new Error('this test needs a Redis client')
  // 'end' follows QUIT's reply, a little after close() resolves.
  const redisEnded = once(redis, 'end').then(() => app.lifecycle.shuttingDown)
  await app.close()
  t.equal(app.lifecycle.shuttingDown, true)
  t.equal(whenPostgresCloses, true, 'readiness was already 503 when Postgres closed (preClose, not onClose)')
  t.equal(await redisEnded, true, 'the Redis connection ended too')
  t.equal(redis.status, 'end')
})
