// Scenario 3: Redis killed in the middle of a burst, then restarted; no replica restarts.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { Provider, startCluster, summarise, table } from './harness.js'

t.setTimeout(240_000)

t.test('Redis outage under load: 503 within 1 s, nothing hangs, other routes serve, recovery, exactly once', async (t) => {
  const cluster = await startCluster(t)
  const provider = new Provider(cluster, { maxWaitMs: 300, timeoutMs: 5000 })
  const events = Array.from({ length: 600 }, () => boostPurchaseEvent({ community_id: 'community_outage' }))
  const burst = provider.deliverAll(events, 30)

  while (provider.deliveries.filter((d) => d.final !== undefined).length < 150) await sleep(10)
  const killedAt = Date.now()
  await cluster.redis.stop()

  // Meanwhile the routes that do not need the lock keep answering.
  const probes: number[] = []
  const probing = (async () => {
    while (Date.now() - killedAt < 2500) {
      for (const replica of cluster.replicas) {
        for (const path of ['/health/live', '/health/ready', '/metrics']) probes.push((await fetch(`${replica.url}${path}`)).status)
      }
      await sleep(100)
    }
  })()
  await sleep(2500)
  await probing
  await cluster.redis.start()
  const deliveries = await burst

  const attempts = deliveries.flatMap((d) => d.attempts)
  const first503 = Math.min(...attempts.filter((a) => a.status === 503 && a.at >= killedAt).map((a) => a.at))
  t.ok(first503 - killedAt <= 1000, `first 503 ${first503 - killedAt} ms after the kill`)
  t.ok(attempts.every((a) => a.status !== 'network'), 'no request failed or hung')
  const worst = Math.max(...attempts.map((a) => a.ms))
  t.ok(worst < 2000, `worst request ${Math.round(worst)} ms`)
  t.ok(attempts.filter((a) => a.status === 503).length > 0, 'lock routes failed closed')
  t.ok(probes.length > 20 && probes.every((s) => s === 200), `health and metrics answered 200 throughout (${probes.length} probes)`)
  t.ok(deliveries.every((d) => d.final?.status === 200), 'every event answered 200 after retries, with no replica restarted')
  t.ok(cluster.replicas.every((r) => r.child.exitCode === null), 'all replicas still running')
  const after = attempts.filter((a) => a.status === 200 && a.at > killedAt + 2500)
  t.ok(after.length > 0, '200s resumed after Redis returned')

  const [counts] = await cluster.database.query(`select
    (select count(*) from webhook_events)::int as events,
    (select count(distinct transaction_id) from boosts)::int as distinct_boosts,
    (select count(*) from boosts)::int as boosts`)
  t.same(counts, { events: 600, distinct_boosts: 600, boosts: 600 }, 'each event applied exactly once')
  t.comment(`\n${table([summarise('Redis killed mid-burst for 2.5 s (600 events, 30 at a time)', deliveries)])}`)
})
