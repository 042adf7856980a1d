// The timer: passes run by themselves every RECONCILE_INTERVAL_SECONDS once the app is ready; start-up
// and the webhook route never wait for Paddle; a stop interrupts a pass even while it backs off.
import t from 'tap'
import { metricValue } from '../helpers/app.js'
import { count, until } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { samplePaddleEvent } from '../helpers/paddle-payloads.js'
import { freePort } from '../helpers/redis-server.js'
import { buildReplica, jsonLines, logEvent } from '../helpers/reconcile.js'

t.test('scheduled passes apply the log without being asked', async (t) => {
  const api = await startPaddleApi(t)
  const events = [3, 2, 1].map((hours) => logEvent('transaction.completed', Date.now() - hours * 3600_000))
  api.add(...events)
  const { app, database } = await buildReplica(t, { api, config: { reconcileIntervalSeconds: 1 } })
  await until('the log applied', async () => await count(database, 'boosts') === 3 ? true : undefined)
  t.equal(await metricValue(app, 'reconcile_events_total', { result: 'processed' }), 3)
  // Later events are picked up by a later pass.
  const later = logEvent('transaction.completed', Date.now() - 600_000)
  api.add(later)
  await until('the later event applied', async () => await count(database, 'boosts') === 4 ? true : undefined)
  t.ok(api.requests.some((request) => request.after === events[2]?.event_id), 'a later pass starts after the cursor')
})

t.test('with Paddle unreachable the app starts, serves webhooks, and stops a backing-off pass at once', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database, logs } = await buildReplica(t, {
    api, config: { reconcileIntervalSeconds: 1, paddleApiUrl: `http://127.0.0.1:${await freePort()}` }
  })
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready without Paddle')
  const event = samplePaddleEvent('transaction.completed')
  t.same((await deliver(app, event)).json(), { status: 'processed', eventId: event.event_id }, 'webhooks are served')
  await until('a pass backing off', async () =>
    jsonLines(logs).find((line) => line.msg === 'Paddle API request failed; retrying' && line.reason === 'connection failed (ECONNREFUSED)'))
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'a failing pass leaves readiness alone')

  await app.close()
  t.match(jsonLines(logs).find((line) => line.msg === 'reconcile pass ended'), { interrupted: true, pages: 0 }, 'the stop interrupted the pass')
  const [state] = await database.query<{ lease_owner: string | null }>('select lease_owner from reconcile_state')
  t.equal(state?.lease_owner, null, 'and gave the lease back before Postgres closed')
})
