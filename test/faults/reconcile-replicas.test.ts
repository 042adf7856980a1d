// Two real server processes with reconciliation on: one pass at a time across both, and when the replica
// running it is killed (SIGKILL, no goodbye), the other takes the lease over and finishes the log, each
// event applied once.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { freshDatabase } from '../helpers/database.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { count, until } from '../helpers/lvver.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { EXAMPLE_CATALOG_PATH } from '../helpers/paddle-payloads.js'
import { logEvent } from '../helpers/reconcile.js'
import { startServerProcess } from '../helpers/server-process.js'

const KEYS = ['pdl_sdbx_apikey_01replicaaaaaaaaaaaaaaaaaaaaaaaaaa', 'pdl_sdbx_apikey_01replicabbbbbbbbbbbbbbbbbbbbbbbbbb']

t.test('two replicas, one reconciler: one pass at a time, and the other takes over when the first is killed', async (t) => {
  const api = await startPaddleApi(t, { keys: KEYS })
  // A slow API, and small pages, keep a pass going long enough to kill its replica in the middle of it.
  api.maxPerPage = 5
  api.delayMs = 300
  const now = Date.now()
  const events = Array.from({ length: 60 }, (_, i) => logEvent('transaction.completed', now - (70 - i) * 60_000))

  const database = await freshDatabase(t)
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: SHARED_REDIS_URL,
    REDIS_KEY_PREFIX: `bwtest:${process.pid}:${randomBytes(3).toString('hex')}:`,
    ADMIN_API_TOKEN: TEST_ADMIN_TOKEN,
    PADDLE_API_URL: api.url,
    PRICE_CATALOG: EXAMPLE_CATALOG_PATH,
    RECONCILE_INTERVAL_SECONDS: '1',
    // A killed replica may die holding an event's lock; the survivor's retry then waits this long.
    LOCK_TTL_SECONDS: '2',
    LOCK_TTL_EXTENDED_SECONDS: '2'
  }
  // Each replica presents its own key, so the stand-in can tell who is paging.
  const first = await startServerProcess(t, { ...env, PADDLE_API_KEY: KEYS[0] ?? '' })
  const second = await startServerProcess(t, { ...env, PADDLE_API_KEY: KEYS[1] ?? '' })
  const replicas = [first, second]

  // Both replicas are up and taking turns over an empty log; now the events arrive.
  await until('both replicas have run a pass', async () => KEYS.every((key) => api.requests.some((request) => request.key === key)) ? true : undefined, 20_000)
  const start = api.requests.length
  api.add(...events)
  // The requests from the first page that carried events on.
  const passRequests = () => {
    const first = api.requests.findIndex((request, i) => i >= start && request.ids.length > 0)
    return first < 0 ? [] : api.requests.slice(first)
  }
  await until('a pass three pages in', async () => passRequests().length >= 3 ? true : undefined, 20_000)
  const holderKey = passRequests()[0]?.key
  const holder = KEYS.indexOf(holderKey ?? '')
  t.ok(holder >= 0, 'the pass is run by one of the replicas')
  t.ok(passRequests().every((request) => request.key === holderKey), 'while it runs, only the lease holder asks Paddle for anything')
  const cursorAtKill = (await database.query<{ cursor: string | null }>('select cursor from reconcile_state'))[0]?.cursor ?? null
  const killedAt = Date.now()
  const requestsAtKill = api.requests.length
  replicas[holder]?.signal('SIGKILL')
  await replicas[holder]?.exited

  const survivorKey = KEYS[1 - holder]
  const takeover = await until('the other replica takes over', async () =>
    api.requests.slice(requestsAtKill).find((request) => request.key === survivorKey), 30_000)
  t.ok(takeover.at - killedAt <= 30_000, `taken over ${takeover.at - killedAt} ms after the kill (a dead holder's lease is free within 30 s)`)
  t.ok(api.requests.slice(requestsAtKill).every((request) => request.key === survivorKey || request.at < takeover.at),
    'the killed replica made no request after its death')
  t.ok(takeover.after === null || cursorAtKill === null || takeover.after >= cursorAtKill,
    'the survivor resumes at or after the cursor the killed replica stored')

  await until('every event applied', async () =>
    await count(database, "webhook_events where status = 'processed'") === events.length ? true : undefined, 60_000)
  const rows = await database.query<{ event_id: string }>('select event_id from webhook_events')
  t.same(rows.map((row) => row.event_id).sort(), events.map((event) => event.event_id).sort(), 'every event of the log, no other')
  t.equal(await count(database, 'boosts'), events.length, 'one boost per event: none skipped by the takeover, none applied twice')

  const keys = passRequests().map((request) => request.key)
  const switchAt = keys.findIndex((key) => key !== holderKey)
  t.ok(switchAt > 0 && keys.slice(switchAt).every((key) => key === survivorKey), 'from the first page on: the holder\'s requests, then only the survivor\'s')
  t.notOk(replicas.flatMap((replica) => replica.lines).some((line) => KEYS.some((key) => line.includes(key))), 'no log line holds an API key')
})
