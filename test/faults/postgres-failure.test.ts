// Scenario 4: mid-burst, the service's Postgres connections are terminated and new ones refused for a few
// seconds (ALTER DATABASE ... ALLOW_CONNECTIONS false); then Postgres comes back.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import {
  Provider, attemptsOf, badErrorBodies, isHttp, leaks, lockKeys, markedIds, printTable, recordedIds, startCluster, summarise
} from './harness.js'

t.setTimeout(240_000)

const OUTAGE_MS = 3000

t.test('Postgres cut mid-burst: 500s, no marker without its record, no lock left, then each event once', async (t) => {
  const cluster = await startCluster(t)
  const { database, redis } = cluster
  // A connection opened before the cut: ALLOW_CONNECTIONS false spares it (and pg_terminate_backend only
  // targets the service's application_name), so the suite can read the records during the outage.
  const watcher = new pg.Client({ connectionString: database.url, application_name: 'fault-suite-watcher' })
  watcher.on('error', () => {})
  await watcher.connect()
  t.teardown(() => watcher.end())

  const provider = new Provider(cluster, { timeoutMs: 15_000 })
  const events = Array.from({ length: 600 }, () => boostPurchaseEvent({ community_id: 'community_pg' }))
  const burst = provider.deliverAll(events, 30)

  await provider.answered(150)
  const cutAt = Date.now()
  // Refuse new connections first, so that the pool cannot reconnect between the two statements.
  await database.admin(`alter database ${database.name} allow_connections false`)
  await database.admin(
    "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'billing-webhooks'",
    [database.name])
  await sleep(OUTAGE_MS)
  // Nothing can commit now. Markers first, records second: a marker is set only after its commit.
  const markedDuring = await markedIds(redis)
  const recordedDuring = new Set((await watcher.query<{ event_id: string }>('select event_id from webhook_events')).rows.map((r) => r.event_id))
  const restoredAt = Date.now()
  await database.admin(`alter database ${database.name} allow_connections true`)
  const deliveries = await burst

  const attempts = attemptsOf(deliveries)
  const failed = deliveries.filter((d) => d.attempts.some((a) => a.status === 500 && a.start >= cutAt && a.start < restoredAt))
  t.ok(failed.length > 0, `requests during the outage answered 500 (${failed.length} events)`)
  t.same(attempts.filter((a) => !isHttp(a.status) || ![200, 500].includes(a.status)).map((a) => a.status), [],
    'every answer was 200 or 500: nothing hung, nothing else')
  t.same(attempts.filter((a) => a.status === 500 && (a.body as { error?: string }).error !== 'internal_error').length, 0,
    'each 500 says internal_error')
  t.same(badErrorBodies(deliveries), [], 'every refusal is { error, message } without a stack')

  t.same([...markedDuring].filter((id) => !recordedDuring.has(id)), [], 'during the outage, every processed marker had its record')
  const failedUnrecorded = failed.filter((d) => !recordedDuring.has(d.eventId))
  t.ok(failedUnrecorded.length > 0, `events answered 500 and not recorded (${failedUnrecorded.length})...`)
  t.same(failedUnrecorded.filter((d) => markedDuring.has(d.eventId)).map((d) => d.eventId), [], '...have no processed marker')

  t.ok(deliveries.every((d) => d.final?.status === 200), 'every event answered 200 after recovery')
  const recorded = await recordedIds(database)
  t.ok(deliveries.every((d) => recorded.has(d.eventId)), 'each event recorded')
  t.equal(recorded.size, 600, 'and nothing else')
  const [boosts] = await database.query('select count(*)::int as n, count(distinct transaction_id)::int as distinct from boosts')
  t.same(boosts, { n: 600, distinct: 600 }, 'one effect per event')
  const marked = await markedIds(redis)
  t.same([...marked].filter((id) => !recorded.has(id)), [], 'every processed marker belongs to a recorded event')
  t.same(await lockKeys(redis), [], 'no lock left behind once the work is done')
  t.same(leaks(cluster), [], 'no secret, token, password or signature in any log line')
  printTable([summarise(`4. Postgres connections cut, refused for ${OUTAGE_MS / 1000} s: 600 events, 30 at a time`, deliveries)])
})
