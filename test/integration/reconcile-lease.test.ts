// The reconcile lease in Postgres: one holder at a time, taken over once expired, renewed only by its
// holder; the cursor moves only under the lease and only forward; a pass that loses its lease stops.
import t from 'tap'
import { until } from '../helpers/lvver.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { buildReplica, jsonLines, logEvent, storedCursor, TEST_PADDLE_KEY } from '../helpers/reconcile.js'
import { PaddleEventsClient } from '../../services/reconcile/client.js'
import { systemClock } from '../../services/reconcile/clock.js'
import { ReconcileLease } from '../../services/reconcile/lease.js'
import { leaseTtlFor, Reconciler } from '../../services/reconcile/scheduler.js'

t.test('one holder at a time; an expired lease is taken over; only the holder renews, advances, releases', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api })
  const lease = new ReconcileLease(app.database, 'paddle_events', 30_000)
  const expire = () => database.query("update reconcile_state set lease_until = now() - interval '1 second'")

  t.same(await lease.acquire('a'), { cursor: null }, 'a takes the free lease')
  t.equal(await lease.acquire('b'), undefined, 'b is refused while a holds it')
  t.equal(await lease.acquire('a'), undefined, 'a holder does not take it twice')
  t.equal(await lease.renew('a'), true)
  t.equal(await lease.advance('a', 'evt_02'), true)
  t.equal(await lease.advance('a', 'evt_01'), true, 'an older id is accepted...')
  t.equal(await storedCursor(database), 'evt_02', '...but the cursor never moves back')

  await expire()
  t.equal(await lease.renew('a'), false, 'an expired lease is not renewed')
  t.same(await lease.acquire('b'), { cursor: 'evt_02' }, 'b takes the expired lease over, with the cursor')
  t.equal(await lease.advance('a', 'evt_03'), false, 'the old holder can no longer move the cursor')
  await lease.release('a')
  t.equal(await lease.acquire('c'), undefined, 'a release by someone else frees nothing')
  await lease.release('b')
  t.equal(await lease.acquire('c', { minGapMs: 60_000 }), undefined, 'a scheduled pass waits when one just ended')
  t.same(await lease.acquire('c'), { cursor: 'evt_02' }, 'an asked-for pass does not')

  t.equal(leaseTtlFor(300_000), 30_000, 'the default interval gets a 30 s lease')
  t.equal(leaseTtlFor(1000), 5000, 'a short interval a short one, never below 5 s')
  t.equal(leaseTtlFor(0), 30_000, 'no timer: 30 s')
})

t.test('a pass whose lease is taken away stops, and leaves the cursor to the new holder', async (t) => {
  const api = await startPaddleApi(t)
  api.keys.add(TEST_PADDLE_KEY)
  api.maxPerPage = 2
  api.delayMs = 150
  api.add(...Array.from({ length: 12 }, (_, i) => logEvent('transaction.completed', Date.now() - (20 - i) * 3600_000)))
  const { app, database, logs } = await buildReplica(t, { api })
  const reconciler = new Reconciler({
    database: app.database,
    client: new PaddleEventsClient({ apiKey: TEST_PADDLE_KEY, baseUrl: api.url, clock: systemClock, log: app.log }),
    apply: (event, source) => app.inbox.apply(event, source),
    log: app.log,
    metrics: { event () {} },
    intervalMs: 0,
    lookbackMs: 72 * 3600_000,
    leaseTtlMs: 600
  })
  const pass = reconciler.runOnce()
  await until('the first page settled', async () => await storedCursor(database) ?? undefined)
  await database.query("update reconcile_state set lease_owner = 'another-replica', lease_until = now() + interval '1 minute'")
  const run = await pass
  if (!run.ran) throw new Error('the pass did not run')
  t.ok(run.report.interrupted || run.report.error !== undefined, 'the pass stopped')
  t.ok(run.report.summary.seen < 12, `before the end of the log (${run.report.summary.seen} of 12 read)`)
  t.ok(jsonLines(logs).some((line) => line.msg === 'reconcile lease lost to another replica; stopping this pass' ||
    /another replica took it/.test(String(line.error))), 'and said why')
  const [state] = await database.query<{ lease_owner: string }>('select lease_owner from reconcile_state')
  t.equal(state?.lease_owner, 'another-replica', 'the new holder keeps its lease')
})
