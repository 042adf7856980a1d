// Scenarios 1 and 2: a storm of one event over three replicas; a burst of 1,000 distinct events.
import t from 'tap'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { Provider, leakedSecrets, startCluster, summarise, table, type Summary } from './harness.js'

t.setTimeout(240_000)

t.test('three replicas', async (t) => {
  const cluster = await startCluster(t, { ADMIN_API_TOKEN: TEST_ADMIN_TOKEN })
  const rows: Summary[] = []

  t.test('duplicate storm: 300 deliveries of one event at once, exactly one effect', async (t) => {
    const provider = new Provider(cluster)
    const event = boostPurchaseEvent({ community_id: 'community_storm' })
    const deliveries = await Promise.all(Array.from({ length: 300 }, (_, i) => provider.deliver(event, i % 3)))
    rows.push(summarise('duplicate storm (300 × 1 event)', deliveries))
    const firsts = deliveries.map((d) => d.attempts[0]?.status)
    t.ok(firsts.every((s) => s === 200 || s === 409 || s === 429), 'every first answer is 200, 409 or 429')
    t.ok(deliveries.every((d) => d.final?.status === 200), 'every delivery ends in 200')
    const statuses = deliveries.map((d) => d.final?.json.status)
    t.equal(statuses.filter((s) => s === 'processed').length, 1, 'processed once')
    t.equal(statuses.filter((s) => s === 'duplicate').length, 299, 'duplicate otherwise')
    const [row] = await cluster.database.query('select count(*)::int as n from boosts where community_id = $1', ['community_storm'])
    t.equal(row?.n, 1, 'one boost')
  })

  t.test('unique burst: 1,000 distinct events, 50 at a time, each applied once, no 5xx', async (t) => {
    const provider = new Provider(cluster)
    const events = Array.from({ length: 1000 }, () => boostPurchaseEvent({ community_id: 'community_burst' }))
    const deliveries = await provider.deliverAll(events, 50)
    rows.push(summarise('unique burst (1,000 events, 50 at a time)', deliveries))
    t.notOk(deliveries.some((d) => d.attempts.some((a) => typeof a.status === 'number' && a.status >= 500)), 'no 5xx')
    t.ok(deliveries.every((d) => d.final?.json.status === 'processed'), 'every event processed')
    const [counts] = await cluster.database.query(`select
      (select count(*) from webhook_events where event_type = 'transaction.completed')::int as events,
      (select count(*) from boosts where community_id = 'community_burst')::int as boosts`)
    t.same(counts, { events: 1001, boosts: 1000 }, '1,000 records and 1,000 effects (plus the storm\'s one)')
  })

  t.teardown(() => { t.comment(`\n${table(rows)}`) })
  t.test('no secret, token or signature in any log line', async (t) => {
    t.ok(cluster.lines().length > 1000, 'the replicas logged')
    t.same(leakedSecrets(cluster.lines(), [TEST_SECRET, TEST_ADMIN_TOKEN]), [])
  })
})
