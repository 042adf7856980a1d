// Scenarios 5 and 6: a lock outlived across replicas; SIGTERM of one replica under load.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { slowInserts } from '../helpers/triggers.js'
import { Provider, scrape, startCluster, summarise, table } from './harness.js'

t.setTimeout(240_000)

t.test('lock expiry across replicas: the second replica runs meanwhile, one effect, counted on the first', async (t) => {
  const cluster = await startCluster(t, { LOCK_TTL_SECONDS: '1', LOCK_TTL_EXTENDED_SECONDS: '1' }, 2)
  // Slowed from outside: a trigger on the suite's own database, no switch in the service.
  await slowInserts(cluster.database, 'boosts', 'community_id', 'community_slow', 2.5)
  const provider = new Provider(cluster)
  const event = boostPurchaseEvent({ community_id: 'community_slow' })
  const onA = provider.deliver(event, 0)
  await sleep(1500)
  const onB = await provider.deliver(event, 1)
  const a = await onA
  t.equal(onB.attempts[0]?.replica, 1)
  t.equal(onB.attempts[0]?.status, 200, 'replica B took the expired lock and answered')
  t.same([a.final?.json.status, onB.final?.json.status].sort(), ['duplicate', 'processed'])
  const [row] = await cluster.database.query(`select count(*)::int as n from boosts where community_id = 'community_slow'`)
  t.equal(row?.n, 1, 'exactly one effect')
  t.ok(await scrape(cluster.replicas[0]!, 'lock_ttl_exhausted_total') >= 1, 'replica A counted its lost lease')
  t.comment(`\n${table([summarise('lock expiry across replicas (TTL 1 s, handler 2.5 s)', [a, onB])])}`)
})

t.test('graceful stop under load: the stopped replica answers no 5xx, exits 0, leaves no lock; the others take over', async (t) => {
  const cluster = await startCluster(t)
  const provider = new Provider(cluster, { maxWaitMs: 300 })
  const events = Array.from({ length: 600 }, () => boostPurchaseEvent({ community_id: 'community_stop' }))
  const burst = provider.deliverAll(events, 30)
  while (provider.deliveries.filter((d) => d.final !== undefined).length < 150) await sleep(10)
  const stopped = cluster.replicas[0]!
  const stoppedAt = Date.now()
  stopped.signal('SIGTERM')
  const code = await stopped.exited
  const deliveries = await burst

  t.equal(code, 0, 'exit code 0')
  const fromStopped = deliveries.flatMap((d) => d.attempts).filter((a) => a.replica === 0)
  t.notOk(fromStopped.some((a) => typeof a.status === 'number' && a.status >= 500), 'the stopped replica answered no 5xx')
  t.ok(fromStopped.some((a) => a.at > stoppedAt), 'requests reached it while it stopped, and were retried elsewhere')
  t.ok(deliveries.every((d) => d.final?.json.status === 'processed'), 'every event processed once')
  const [counts] = await cluster.database.query(`select (select count(*) from webhook_events)::int as events, (select count(*) from boosts)::int as boosts`)
  t.same(counts, { events: 600, boosts: 600 })
  t.same(await cluster.redis.client.keys('*lock:*'), [], 'no lock left behind')
  t.ok(stopped.lines.some((line) => line.includes('"msg":"stopped"')), 'it logged a clean stop')
  t.comment(`\n${table([summarise('SIGTERM to one of three replicas mid-burst (600 events)', deliveries)])}`)
})
