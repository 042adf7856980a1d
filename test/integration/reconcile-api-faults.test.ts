// Paddle's API failing under the reconciler: rate limits are honoured, 5xx and dropped connections back
// off and retry, a pass that cannot read the log ends without harm, and a rejected key is said once, clearly.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { deliver } from '../helpers/paddle.js'
import { startPaddleApi, type PaddleApi } from '../helpers/paddle-api.js'
import { samplePaddleEvent } from '../helpers/paddle-payloads.js'
import { buildReplica, jsonLines, logEvent, reconcileNow, storedCursor, TEST_PADDLE_KEY } from '../helpers/reconcile.js'
import { PaddleEventsClient, PaddleKeyRejectedError, PaddleUnavailableError } from '../../services/reconcile/client.js'
import { systemClock } from '../../services/reconcile/clock.js'
import { Reconciler } from '../../services/reconcile/scheduler.js'

const HOUR = 3600_000

/** A reconciler of the replica's own parts, with a client whose back-off is short enough for a test. */
function quickReconciler (app: FastifyInstance, api: PaddleApi, backoffBaseMs = 40): Reconciler {
  return new Reconciler({
    database: app.database,
    client: new PaddleEventsClient({ apiKey: TEST_PADDLE_KEY, baseUrl: api.url, clock: systemClock, log: app.log, backoffBaseMs, requestsPerMinute: 6000 }),
    apply: (event, source) => app.inbox.apply(event, source),
    log: app.log,
    metrics: { event () {} },
    intervalMs: 0,
    lookbackMs: 72 * HOUR
  })
}

const gaps = (api: PaddleApi) => api.requests.slice(1).map((request, i) => request.at - (api.requests[i]?.at ?? 0))

t.test('a 429 with Retry-After holds the next request that long, then the pass goes on', async (t) => {
  const api = await startPaddleApi(t)
  const { app, logs } = await buildReplica(t, { api })
  const events = [logEvent('transaction.completed', Date.now() - 2 * HOUR), logEvent('transaction.completed', Date.now() - HOUR)]
  api.add(...events)
  api.fail({ status: 429, retryAfter: '1' })

  const answer = await reconcileNow(app)
  t.equal(answer.statusCode, 200)
  t.match(answer.json(), { processed: 2, failed: 0, caughtUp: true })
  t.same(api.requests.map((request) => request.status), [429, 200])
  t.ok((gaps(api)[0] ?? 0) >= 990, `the retry came after Retry-After (${gaps(api)[0]} ms)`)
  const warning = jsonLines(logs).find((line) => line.msg === 'Paddle API request failed; retrying')
  t.match(warning, { status: 429, code: 'too_many_requests', waitMs: 1000 })
})

t.test('5xx answers and a dropped connection back off with growing waits, and the pass completes', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database } = await buildReplica(t, { api })
  const events = [logEvent('transaction.completed', Date.now() - 2 * HOUR), logEvent('transaction.completed', Date.now() - HOUR)]
  api.add(...events)
  api.fail({ status: 502, body: '<html><body>Bad gateway</body></html>' }, { drop: true }, { status: 500 }, { status: 503 })

  const run = await quickReconciler(app, api).runOnce()
  t.ok(run.ran)
  if (!run.ran) return
  t.equal(run.report.error, undefined)
  t.match(run.report.summary, { pages: 1, processed: 2, failed: 0 })
  t.same(api.requests.map((request) => request.status), [502, 'dropped', 500, 503, 200])
  // Each wait is at least half of its step (base 40 ms, doubling): 20, 40, 80, 160 ms.
  const waits = gaps(api)
  for (const [i, floor] of [20, 40, 80, 160].entries()) t.ok((waits[i] ?? 0) >= floor, `wait ${i + 1} (${waits[i]} ms) >= ${floor} ms`)
  t.equal(await storedCursor(database), events[1]?.event_id)
})

t.test('an API that keeps failing ends the pass without harm; webhooks keep being served meanwhile', async (t) => {
  const api = await startPaddleApi(t)
  const { app, database, logs } = await buildReplica(t, { api })
  const event = logEvent('transaction.completed', Date.now() - HOUR)
  api.add(event)
  api.fail(...Array.from({ length: 6 }, () => ({ status: 500 })))
  const reconciler = quickReconciler(app, api, 200)

  const pass = reconciler.runOnce()
  // While the pass backs off, the webhook route answers as always.
  const live = samplePaddleEvent('transaction.completed')
  const delivered = await deliver(app, live)
  t.same(delivered.json(), { status: 'processed', eventId: live.event_id }, 'the webhook route is served during a failing pass')
  t.ok(reconciler.running, 'the pass was still backing off')

  const run = await pass
  t.ok(run.ran)
  if (!run.ran) return
  t.type(run.report.error, PaddleUnavailableError)
  t.equal(api.requests.length, 6, 'six attempts, then the pass gives up')
  t.equal(await storedCursor(database), null, 'the cursor did not move')
  const [state] = await database.query<{ lease_owner: string | null }>('select lease_owner from reconcile_state')
  t.equal(state?.lease_owner, null, 'the lease is given back')
  t.ok(jsonLines(logs).some((line) => line.msg === 'reconcile pass stopped: the Paddle event log could not be read'))

  // Once Paddle answers again, the next pass completes (the route's 502 is the rejected-key test's).
  const healed = await reconcileNow(app)
  t.match(healed.json(), { processed: 1, cursor: event.event_id })
})

for (const status of [401, 403] as const) {
  t.test(`a rejected key (${status}) is logged once per pass, clearly and without the key, and not retried`, async (t) => {
    const api = await startPaddleApi(t)
    const { app, logs } = await buildReplica(t, { api })
    api.add(logEvent('transaction.completed', Date.now() - HOUR))
    api.keys.clear()
    api.rejectStatus = status

    for (let pass = 1; pass <= 2; pass++) {
      const answer = await reconcileNow(app)
      t.equal(answer.statusCode, 502)
      t.match(answer.json(), { error: 'paddle_api_error', message: `Paddle rejected PADDLE_API_KEY (${status} invalid_token)` })
      t.equal(api.requests.length, pass, 'a rejected key is not retried within the pass')
      const errors = jsonLines(logs).filter((line) => line.level === 50 && line.component === 'reconcile')
      t.equal(errors.length, pass, 'one error line per pass')
      t.match(errors.at(-1), { status, code: 'invalid_token', msg: /Paddle rejected PADDLE_API_KEY/ })
    }
    t.notOk(logs.some((line) => line.includes(TEST_PADDLE_KEY)), 'the key appears in no log line')
    t.equal(api.requests[0]?.key, TEST_PADDLE_KEY, 'the key was sent, as a bearer token')
  })
}

t.test('the client refuses a log that is not in ascending order, and reads Retry-After dates', async (t) => {
  const api = await startPaddleApi(t)
  const { app } = await buildReplica(t, { api })
  const client = new PaddleEventsClient({ apiKey: TEST_PADDLE_KEY, baseUrl: `${api.url}/`, clock: systemClock, log: app.log })
  api.keys.add(TEST_PADDLE_KEY)
  const older = logEvent('transaction.completed', Date.now() - 2 * HOUR)
  const newer = logEvent('transaction.completed', Date.now() - HOUR)
  api.add(older, newer)
  const page = await client.page(undefined, new AbortController().signal)
  t.same(page.events.map((event) => event.event_id), [older.event_id, newer.event_id])
  t.equal(page.hasMore, false)
  const empty = await client.page(newer.event_id, new AbortController().signal)
  t.same(empty, { events: [], hasMore: false }, 'nothing after the newest id')

  const { retryAfterMs, readPage } = await import('../../services/reconcile/client.js')
  t.equal(retryAfterMs('7', 0), 7000)
  t.equal(retryAfterMs(new Date(60_000).toUTCString(), 0), 60_000)
  t.equal(retryAfterMs('soon', 0), undefined)
  t.throws(() => readPage({ data: [newer, older], meta: { pagination: { has_more: false } } }, undefined), /not in ascending order/)
  t.equal(readPage({ data: [{ id: 'x' }], meta: { pagination: { has_more: false } } }, undefined), undefined, 'an event without event_id is not a page')
  t.type(new PaddleKeyRejectedError(403, undefined).message, 'string')
})
