// The cursor: kept page by page, it survives a restart mid-pass; it stops before an event left failed
// (the next pass retries it) and before events too young to be sure of their order; it never moves back.
import t from 'tap'
import { metricValue } from '../helpers/app.js'
import { count, slowEveryInsert, until } from '../helpers/lvver.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { failInserts } from '../helpers/triggers.js'
import { buildReplica, inboxRows, jsonLines, logEvent, reconcileNow, storedCursor } from '../helpers/reconcile.js'

const HOUR = 3600_000

t.test('paging across several pages: a restart mid-pass resumes at the cursor, skipping nothing and applying nothing twice', async (t) => {
  const api = await startPaddleApi(t)
  // Paddle answers at most its maximum per page whatever is asked; a small one makes several pages.
  api.maxPerPage = 4
  const now = Date.now()
  const events = Array.from({ length: 14 }, (_, i) => logEvent('transaction.completed', now - (20 - i) * HOUR))
  api.add(...events)

  const first = await buildReplica(t, { api })
  // Slow enough that the stop lands mid-page, not between passes.
  await slowEveryInsert(first.database, 'boosts', 0.05)
  const reconciler = first.app.reconciler
  if (reconciler === null) throw new Error('no reconciler')
  const pass = reconciler.runOnce()
  await until('six events applied', async () => await count(first.database, 'webhook_events') >= 6 ? true : undefined)
  await first.app.close()
  const stopped = await pass
  if (!stopped.ran) throw new Error('the pass did not run')
  t.ok(stopped.report.interrupted, 'the stop interrupted the pass')
  const appliedBefore = stopped.report.summary.processed
  t.ok(appliedBefore >= 6 && appliedBefore < 14, `stopped mid-pass after ${appliedBefore} events`)
  const cursor = await storedCursor(first.database)
  t.equal(cursor, events[appliedBefore - 1]?.event_id, 'the cursor is the last event the stopped pass settled')
  const [state] = await first.database.query<{ lease_owner: string | null }>('select lease_owner from reconcile_state')
  t.equal(state?.lease_owner, null, 'the stop gave the lease back')

  const requestsBefore = api.requests.length
  const second = await buildReplica(t, { api, database: first.database })
  const resumed = await reconcileNow(second.app)
  t.equal(resumed.statusCode, 200)
  t.match(resumed.json(), { processed: 14 - appliedBefore, duplicate: 0, failed: 0, cursor: events[13]?.event_id, caughtUp: true })
  t.equal(api.requests[requestsBefore]?.after, cursor, 'the restarted pass asks for the events after the stored cursor')

  const rows = await inboxRows(second.database)
  t.equal(rows.size, 14, 'every event of the log is in the inbox')
  for (const event of events) t.equal(rows.get(event.event_id)?.status, 'processed')
  t.equal(await count(second.database, 'boosts'), 14, 'one boost per event: none skipped, none twice')
  const served = api.requests.flatMap((request) => request.ids)
  t.same([...new Set(served)].sort(), events.map((event) => event.event_id).sort(), 'the passes together read the whole log')
})

t.test('an event that fails holds the cursor before it; the next pass retries it and moves on', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api })
  const now = Date.now()
  const [before, failing, after] = [
    logEvent('subscription.created', now - 3 * HOUR),
    logEvent('transaction.completed', now - 2 * HOUR),
    logEvent('subscription.updated', now - HOUR)
  ]
  if (before === undefined || failing === undefined || after === undefined) throw new Error('events')
  api.add(before, failing, after)
  const heal = await failInserts(database, 'boosts')

  const broken = await reconcileNow(app)
  t.match(broken.json(), { processed: 2, failed: 1, cursor: before.event_id, caughtUp: false })
  const rows = await inboxRows(database)
  t.match(rows.get(failing.event_id), { status: 'failed', source: 'reconcile' }, 'the failed event is kept for the next attempt')
  t.equal(await storedCursor(database), before.event_id)
  const lag = await metricValue(app, 'reconcile_lag_seconds')
  t.ok(lag >= 3 * 3600 - 60 && lag < 4 * 3600, `the lag runs from the cursor's event while an event waits (${Math.round(lag)} s)`)

  await heal()
  const healed = await reconcileNow(app)
  t.match(healed.json(), { processed: 1, duplicate: 1, failed: 0, cursor: after.event_id, caughtUp: true })
  t.match((await inboxRows(database)).get(failing.event_id), { status: 'processed', source: 'reconcile', attempts: 2 })
  t.ok(await metricValue(app, 'reconcile_lag_seconds') < 60, 'caught up again')
})

t.test('events younger than the settling window are applied, but the cursor waits behind them', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api })
  const old = logEvent('transaction.completed', Date.now() - HOUR)
  const fresh = logEvent('transaction.completed', Date.now() - 10_000)
  api.add(old, fresh)
  t.match((await reconcileNow(app)).json(), { processed: 2, cursor: old.event_id, caughtUp: true })
  t.equal(await count(database, 'boosts'), 2)
  // The next pass reads the young event again: already settled, left untouched.
  t.match((await reconcileNow(app)).json(), { seen: 1, duplicate: 1, processed: 0, cursor: old.event_id })
  t.equal(api.requests.at(-1)?.after, old.event_id)
})

t.test('a pass from a date reaches further back than the lookback, and leaves a later cursor where it is', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api, config: { reconcileLookbackHours: 3 } })
  const now = Date.now()
  const events = [5, 4, 2, 1].map((hours) => logEvent('transaction.completed', now - hours * HOUR))
  api.add(...events)
  t.match((await reconcileNow(app)).json(), { skipped: 2, processed: 2, cursor: events[3]?.event_id }, 'the first pass reaches back 3 hours')

  const reconciler = app.reconciler
  if (reconciler === null) throw new Error('no reconciler')
  const run = await reconciler.runOnce({ since: new Date(now - 4.5 * HOUR) })
  if (!run.ran) throw new Error('the pass did not run')
  t.match(run.report.summary, { seen: 4, skipped: 1, processed: 1, duplicate: 2, cursor: events[3]?.event_id })
  t.equal(api.requests.at(-1)?.after, null, 'a pass from a date pages from the start of the log')
  t.equal((await inboxRows(database)).get(events[1]?.event_id ?? '')?.source, 'reconcile')
  t.equal(await count(database, 'boosts'), 3, 'the event 4 hours old is applied; the one 5 hours old is not')
  t.equal(await storedCursor(database), events[3]?.event_id, 'the cursor did not move back')
})

t.test('an event without a usable envelope is logged and passed over, not retried forever', async (t) => {
  const api = await startPaddleApi(t)
  const { app, logs } = await buildReplica(t, { api })
  const broken = { ...logEvent('transaction.completed', Date.now() - 2 * HOUR), occurred_at: 'yesterday' }
  const good = logEvent('transaction.completed', Date.now() - HOUR)
  api.add(broken, good)
  t.match((await reconcileNow(app)).json(), { invalid: 1, processed: 1, failed: 0, cursor: good.event_id })
  t.match(jsonLines(logs).find((line) => line.eventId === broken.event_id), { level: 50, error: /occurred_at/ })
})
