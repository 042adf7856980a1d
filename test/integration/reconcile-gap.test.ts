// Reconciliation fills the gap a webhook outage leaves: what Paddle's log holds and the inbox does not is
// applied once, through the pipeline; what was delivered is left alone.
import t from 'tap'
import { metricValue } from '../helpers/app.js'
import { deliver } from '../helpers/paddle.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { buildReplica, inboxRows, jsonLines, logEvent, reconcileNow, storedCursor, TEST_PADDLE_KEY } from '../helpers/reconcile.js'
import { TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { count } from '../helpers/lvver.js'

const HOUR = 3600_000

t.test('a pass applies the events the webhook never delivered, once, and leaves the delivered ones alone', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database, logs } = await buildReplica(t, { api })
  const now = Date.now()
  const tooOld = logEvent('transaction.completed', now - 80 * HOUR)
  const delivered = [
    logEvent('subscription.created', now - 50 * HOUR),
    logEvent('transaction.completed', now - 30 * HOUR),
    logEvent('customer.updated', now - 20 * HOUR)
  ]
  const missed = [
    logEvent('transaction.completed', now - 40 * HOUR),
    logEvent('subscription.updated', now - 10 * HOUR),
    logEvent('transaction.completed', now - 3 * HOUR),
    logEvent('address.created', now - 2 * HOUR)
  ]
  api.add(tooOld, ...delivered, ...missed)
  for (const event of delivered) {
    const answer = await deliver(app, event)
    t.equal(answer.statusCode, 200, 'the webhook applied it first')
  }
  const before = await database.query<{ event_id: string, received_at: Date, processed_at: Date | null }>(
    'select event_id, received_at, processed_at from webhook_events order by event_id')

  const answer = await reconcileNow(app)
  t.equal(answer.statusCode, 200)
  const last = missed.at(-1)?.event_id
  t.same(answer.json(), {
    pages: 1, seen: 8, processed: 3, duplicate: 3, ignored: 1, needsReview: 0, failed: 0, skipped: 1, invalid: 0, cursor: last, caughtUp: true
  }, 'the first pass skips what is older than the lookback and applies the rest')

  const rows = await inboxRows(database)
  for (const event of missed) {
    t.equal(rows.get(event.event_id)?.source, 'reconcile', `${event.event_type} recorded as reconciled`)
  }
  t.notOk(rows.has(tooOld.event_id), 'an event older than the lookback is not applied by a first pass')
  t.equal(await count(database, 'boosts'), 3, 'one boost per boost purchase inside the window, the delivered one included')
  const after = await database.query<{ event_id: string, received_at: Date, processed_at: Date | null }>(
    'select event_id, received_at, processed_at from webhook_events where event_id = any($1) order by event_id',
    [delivered.map((event) => event.event_id)])
  t.same(after, before, 'the delivered events are untouched')
  for (const event of delivered) t.equal(rows.get(event.event_id)?.source, 'webhook')
  t.equal(await storedCursor(database), last, 'the cursor is the last event handled')

  const request = api.requests.at(-1)
  t.equal(request?.key, TEST_PADDLE_KEY, 'Bearer auth with the configured key')
  t.equal(request?.orderBy, 'id[ASC]')
  t.equal(request?.perPage, '200')
  t.equal(request?.after, null, 'a first pass pages from the start of the log')

  t.equal(await metricValue(app, 'reconcile_events_total', { result: 'processed' }), 3)
  t.equal(await metricValue(app, 'reconcile_events_total', { result: 'duplicate' }), 3)
  t.equal(await metricValue(app, 'reconcile_events_total', { result: 'skipped' }), 1)
  t.ok(await metricValue(app, 'reconcile_lag_seconds') < 60, 'caught up: the lag is the time since the pass read the end of the log')

  const reconciled = jsonLines(logs).filter((line) => line.msg === 'reconciled an event the webhook had not delivered')
  t.same(reconciled.map((line) => line.eventId).sort(), missed.map((event) => event.event_id).sort(), 'each reconciled event is logged by id')

  // A late webhook of a reconciled event is a duplicate, and a second pass starts after the cursor.
  const late = await deliver(app, missed[0])
  t.same(late.json(), { status: 'duplicate', eventId: missed[0]?.event_id })
  const again = await reconcileNow(app)
  t.match(again.json(), { pages: 1, seen: 0, processed: 0, cursor: last, caughtUp: true })
  t.equal(api.requests.at(-1)?.after, last, 'the next pass asks for the events after the cursor')
})

t.test('a later pass applies what arrived in the log since, whatever its age', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api })
  const now = Date.now()
  const first = logEvent('transaction.completed', now - 2 * HOUR)
  api.add(first)
  t.match((await reconcileNow(app)).json(), { processed: 1, cursor: first.event_id })
  // Paddle's ids grow with time, so a later event sorts after the cursor.
  const next = logEvent('transaction.completed', now - HOUR)
  api.add(next)
  t.match((await reconcileNow(app)).json(), { seen: 1, processed: 1, skipped: 0, cursor: next.event_id })
  t.equal(await count(database, 'boosts'), 2)
})

t.test('POST /admin/reconcile needs the bearer token, a configured key, and a free lease', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api })
  const anonymous = await app.inject({ method: 'POST', url: '/admin/reconcile' })
  t.equal(anonymous.statusCode, 401)
  t.equal(api.requests.length, 0, 'an unauthenticated request never reaches Paddle')

  await database.query('insert into reconcile_state (name, lease_owner, lease_until) values (\'paddle_events\', \'other-replica\', now() + interval \'1 minute\')')
  const busy = await reconcileNow(app)
  t.equal(busy.statusCode, 409)
  t.equal(busy.json().error, 'reconcile_running')
  t.equal(api.requests.length, 0, 'no pass while another replica holds the lease')

  await database.query('update reconcile_state set lease_until = now() - interval \'1 second\'')
  t.equal((await reconcileNow(app)).statusCode, 200, 'an expired lease is taken over')

  const off = await buildReplica(t, { api, config: { paddleApiKey: undefined } })
  const disabled = await off.app.inject({ method: 'POST', url: '/admin/reconcile', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })
  t.equal(disabled.statusCode, 409)
  t.same(disabled.json(), { error: 'reconcile_disabled', message: 'Reconciliation is off: PADDLE_API_KEY is not set.' })
})
