// Scenarios 1 and 2, on one cluster of three replicas: a storm of one event delivered 300 times at once,
// then a burst of 1,000 distinct events, 50 at a time.
import t from 'tap'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import {
  Provider, attemptsOf, badErrorBodies, isHttp, leaks, printTable, recordedIds, startCluster, summarise, type Summary
} from './harness.js'

t.setTimeout(240_000)

t.test('three replicas, one database, the suite\'s own Redis', async (t) => {
  const cluster = await startCluster(t)
  const { database } = cluster
  const rows: Summary[] = []
  t.teardown(() => { printTable(rows) })

  t.test('duplicate storm: 300 deliveries of one event at once over three replicas, exactly one boost', async (t) => {
    const provider = new Provider(cluster)
    const event = boostPurchaseEvent({ community_id: 'community_storm' })
    const deliveries = await Promise.all(Array.from({ length: 300 }, (_, i) => provider.deliver(event, i % 3)))
    rows.push(summarise('1. duplicate storm: 300 deliveries of 1 event', deliveries))

    const firsts = deliveries.map((d) => d.attempts[0]!)
    t.same(new Set(firsts.map((a) => a.replica)), new Set([0, 1, 2]), 'the first attempts reached all three replicas')
    t.same(firsts.filter((a) => ![200, 409, 429].includes(a.status as number)).map((a) => a.status), [],
      'every first answer is 200, 409 or 429')
    t.same(firsts.filter((a) => a.status === 200 && !['processed', 'duplicate'].includes((a.body as { status?: string }).status ?? '')), [],
      'every first 200 says processed or duplicate')
    t.same(attemptsOf(deliveries).filter((a) => a.status === 409 || a.status === 429).filter((a) => a.retryAfter === null), [],
      'every 409 and 429 carries Retry-After')
    t.same(badErrorBodies(deliveries), [], 'every refusal is { error, message }')
    t.ok(deliveries.every((d) => d.final?.status === 200), 'every delivery ends in a 200 (retries turned each 409/429 into one)')
    const statuses = deliveries.map((d) => d.final?.json.status)
    t.equal(statuses.filter((s) => s === 'processed').length, 1, 'processed once')
    t.equal(statuses.filter((s) => s === 'duplicate').length, 299, 'answered duplicate otherwise')

    const events = await database.query('select event_id, status from webhook_events')
    t.same(events, [{ event_id: event.event_id, status: 'processed' }], 'one record')
    const boosts = await database.query<{ transaction_id: string }>(
      "select transaction_id from boosts where community_id = 'community_storm'")
    t.same(boosts, [{ transaction_id: (event.data as { id: string }).id }], 'one effect')
  })

  t.test('unique burst: 1,000 distinct events, 50 at a time: 1,000 records, 1,000 effects, no 5xx', async (t) => {
    const provider = new Provider(cluster)
    const events = Array.from({ length: 1000 }, () => boostPurchaseEvent({ community_id: 'community_burst' }))
    const deliveries = await provider.deliverAll(events, 50)
    rows.push(summarise('2. unique burst: 1,000 events, 50 at a time', deliveries))

    const attempts = attemptsOf(deliveries)
    t.same(new Set(attempts.map((a) => a.replica)), new Set([0, 1, 2]), 'spread over the three replicas')
    t.same(attempts.filter((a) => !isHttp(a.status) || a.status >= 500).map((a) => a.status), [], 'no 5xx, no network error')
    t.same(badErrorBodies(deliveries), [], 'every refusal is { error, message }')
    t.ok(deliveries.every((d) => d.final?.json.status === 'processed'), 'every event answered processed')

    const recorded = await recordedIds(database)
    const ids = deliveries.map((d) => d.eventId)
    t.ok(ids.every((id) => recorded.has(id)), 'each event has its webhook_events row')
    t.equal(recorded.size, 1001, '1,000 rows (and the storm\'s one)')
    const [boosts] = await database.query(`select count(*)::int as n, count(distinct transaction_id)::int as distinct
      from boosts where community_id = 'community_burst'`)
    t.same(boosts, { n: 1000, distinct: 1000 }, '1,000 effects, one per transaction')
  })

  t.test('no secret, admin token, database password or signature in any log line', async (t) => {
    t.ok(cluster.lines().length > 1300, `the replicas logged (${cluster.lines().length} lines)`)
    t.same(leaks(cluster), [])
  })
})
