// The fault suite's two load scenarios, run against one Redis (storm-and-burst.test.ts) and against a Redis
// Cluster (redis-cluster.test.ts): a storm of one event delivered at once on every replica, and a burst of
// distinct events. Each checks its own events by id, so scenarios can share a database.
import type { Test } from 'tap'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { Provider, attemptsOf, badErrorBodies, isHttp, recordedIds, summarise, type Cluster, type Summary } from './harness.js'

type Assert = Pick<Test, 'ok' | 'equal' | 'same'>

/** `copies` deliveries of one event at once over the replicas: exactly one boost, every delivery a 200 in the end. */
export async function duplicateStorm (t: Assert, cluster: Cluster, copies = 300, community = 'community_storm'): Promise<Summary> {
  const { database, replicas } = cluster
  const provider = new Provider(cluster)
  const event = boostPurchaseEvent({ community_id: community })
  const deliveries = await Promise.all(Array.from({ length: copies }, (_, i) => provider.deliver(event, i % replicas.length)))

  const firsts = deliveries.map((d) => d.attempts[0]!)
  t.same(new Set(firsts.map((a) => a.replica)), new Set(replicas.map((_, i) => i)), 'the first attempts reached every replica')
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
  t.equal(statuses.filter((s) => s === 'duplicate').length, copies - 1, 'answered duplicate otherwise')

  const events = await database.query('select event_id, status from webhook_events where event_id = $1', [event.event_id])
  t.same(events, [{ event_id: event.event_id, status: 'processed' }], 'one record')
  const boosts = await database.query<{ transaction_id: string }>('select transaction_id from boosts where community_id = $1', [community])
  t.same(boosts, [{ transaction_id: (event.data as { id: string }).id }], 'one effect')
  return summarise(`duplicate storm: ${copies} deliveries of 1 event`, deliveries)
}

/** `count` distinct events, `concurrency` at a time: one record and one effect each, no 5xx. */
export async function uniqueBurst (t: Assert, cluster: Cluster, count = 1000, concurrency = 50, community = 'community_burst'): Promise<Summary> {
  const { database, replicas } = cluster
  const provider = new Provider(cluster)
  const events = Array.from({ length: count }, () => boostPurchaseEvent({ community_id: community }))
  const deliveries = await provider.deliverAll(events, concurrency)

  const attempts = attemptsOf(deliveries)
  t.same(new Set(attempts.map((a) => a.replica)), new Set(replicas.map((_, i) => i)), 'spread over every replica')
  t.same(attempts.filter((a) => !isHttp(a.status) || a.status >= 500).map((a) => a.status), [], 'no 5xx, no network error')
  t.same(badErrorBodies(deliveries), [], 'every refusal is { error, message }')
  t.ok(deliveries.every((d) => d.final?.json.status === 'processed'), 'every event answered processed')

  const recorded = await recordedIds(database)
  t.ok(deliveries.every((d) => recorded.has(d.eventId)), 'each event has its webhook_events row')
  const [boosts] = await database.query(`select count(*)::int as n, count(distinct transaction_id)::int as distinct
    from boosts where community_id = $1`, [community])
  t.same(boosts, { n: count, distinct: count }, `${count} effects, one per transaction`)
  return summarise(`unique burst: ${count} events, ${concurrency} at a time`, deliveries)
}
