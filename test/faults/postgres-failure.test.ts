// Scenario 4: the service's Postgres connections cut mid-burst and new ones refused for a while.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { Provider, startCluster, summarise, table } from './harness.js'

t.setTimeout(240_000)

t.test('Postgres failure: 500s, no marker without a record, no lock left, then each event once', async (t) => {
  const cluster = await startCluster(t)
  const { database, redis } = cluster
  const provider = new Provider(cluster, { maxWaitMs: 300, timeoutMs: 15_000 })
  const events = Array.from({ length: 600 }, () => boostPurchaseEvent({ community_id: 'community_pg' }))
  const burst = provider.deliverAll(events, 30)

  while (provider.deliveries.filter((d) => d.final !== undefined).length < 150) await sleep(10)
  const cutAt = Date.now()
  await database.admin(`alter database ${database.name} allow_connections false`)
  await database.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'billing-webhooks'`, [database.name])
  await sleep(2000)
  // While Postgres is refused: every processed marker in Redis belongs to an answered event.
  const markersDuringOutage = (await redis.client.keys('*processed:*')).length
  const answeredDuringOutage = provider.deliveries.filter((d) => d.final !== undefined).length
  await database.admin(`alter database ${database.name} allow_connections true`)
  const deliveries = await burst

  const attempts = deliveries.flatMap((d) => d.attempts)
  const failed = attempts.filter((a) => a.status === 500 && a.at >= cutAt)
  t.ok(failed.length > 0, `requests during the failure answered 500 (${failed.length})`)
  t.ok(attempts.every((a) => a.status !== 'network'), 'none hung past its timeout')
  t.ok(markersDuringOutage <= answeredDuringOutage, `no marker without an answered event (${markersDuringOutage} markers, ${answeredDuringOutage} answered)`)
  t.ok(deliveries.every((d) => d.final?.status === 200), 'every event answered 200 after recovery')

  const eventIds = deliveries.map((d) => (JSON.parse(d.body) as { event_id: string }).event_id)
  const rows = await database.query<{ event_id: string }>('select event_id from webhook_events')
  t.equal(rows.length, 600, 'one record per event')
  t.same(new Set(rows.map((r) => r.event_id)), new Set(eventIds))
  const [boosts] = await database.query(`select count(*)::int as n, count(distinct transaction_id)::int as d from boosts`)
  t.same(boosts, { n: 600, d: 600 }, 'one effect per event')
  const markers = await redis.client.keys('*processed:*')
  t.equal(markers.length, 600, 'each marker belongs to a recorded event')
  t.same(await redis.client.keys('*lock:*'), [], 'no lock left behind')
  t.comment(`\n${table([summarise('Postgres connections cut, refused for 2 s (600 events, 30 at a time)', deliveries)])}`)
})
