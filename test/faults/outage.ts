// A Redis fault in the middle of a burst, for every topology (one node hung or demoted, a cluster failover, a
// sentinel failover): the lock routes must fail closed within 1 s, open again by themselves within 5 s of
// Redis answering correctly, and every event must be applied exactly once across the change.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import type { ServerProcess } from '../helpers/server-process.js'
import {
  Provider, attemptsOf, badErrorBodies, endOf, isHttp, probe, recordedIds, scrape, summarise,
  type Attempt, type Cluster, type ProviderOptions, type Summary
} from './harness.js'

/** Each replica's /health/security, polled every 25 ms: when it answered closed, and open again. */
export function watchSecurity (replicas: ServerProcess[]) {
  const samples: Array<Array<{ at: number, status: number | string }>> = replicas.map(() => [])
  const watching = new AbortController()
  const done = Promise.all(replicas.map(async (replica, i) => {
    while (!watching.signal.aborted) {
      const { status } = await probe(`${replica.url}/health/security`, 1000)
      // The time of the answer: the state it reports held then.
      samples[i]!.push({ at: Date.now(), status })
      await sleep(25)
    }
  }))
  return {
    samples,
    async stop () { watching.abort(); await done },
    /** When replica `i` first answered other than 200 at or after `from`. */
    closedAt: (i: number, from: number) => samples[i]!.find((s) => s.at >= from && s.status !== 200)?.at,
    /** When replica `i` answered 200 again after its last refusal. */
    openedAt (i: number) {
      const list = samples[i]!
      const last = list.findLastIndex((s) => s.status !== 200)
      return last === -1 ? undefined : list.slice(last + 1).find((s) => s.status === 200)?.at
    }
  }
}

export interface Outage {
  name: string
  /** The first 503 to a real request, and each replica's guard closing, in ms after the fault. */
  first503: number
  closed: number[]
  /** ms from the fault until Redis answered correctly again (as the test saw it). */
  healed: number
  /** ms from then until each replica's guard was open again. */
  recovered: number[]
  /** The request answered 200 latest after its replica's guard had closed, sent before it closed (the bucket's moment). */
  lastBucket200: number
}

export interface FaultOptions {
  name: string
  community: string
  /** Breaks Redis; resolves when the fault is in place, with the time it took effect if that is later than the call. */
  fault(): Promise<number | void>
  /** Repairs it (if the topology does not repair itself); resolves when Redis answers correctly again. */
  heal(): Promise<void>
  events?: number
  concurrency?: number
  provider?: ProviderOptions
}

export function formatOutage (o: Outage): string {
  return `${o.name}: first 503 ${o.first503} ms after the fault (guards closed after ${o.closed.join(' / ')} ms); ` +
    `Redis healed after ${o.healed} ms; guards open again ${o.recovered.join(' / ')} ms after that`
}

/**
 * Delivers `events` distinct events, `concurrency` at a time; once a quarter are answered, runs `fault`, then
 * `heal`. Asserts fail closed, recovery, no restart, and exactly once. Returns the figures.
 */
export async function burstThroughFault (t: Test, service: Cluster, options: FaultOptions): Promise<{ summary: Summary, outage: Outage, attempts: Attempt[], faultAt: number }> {
  const { replicas, database } = service
  const { events: count = 600, concurrency = 30 } = options
  const pids = replicas.map((r) => r.child.pid)
  const trips = await Promise.all(replicas.map((r) => scrape(r, 'redis_unhealthy_total')))
  const provider = new Provider(service, { maxRetryAfterMs: 1000, timeoutMs: 5000, ...options.provider })
  const events = Array.from({ length: count }, () => boostPurchaseEvent({ community_id: options.community }))
  const burst = provider.deliverAll(events, concurrency)
  await provider.answered(Math.floor(count / 4))
  const watch = watchSecurity(replicas)
  const calledAt = Date.now()
  const faultAt = (await options.fault()) ?? calledAt
  await options.heal()
  const healedAt = Date.now()
  const deliveries = await burst
  await watch.stop()

  const attempts = attemptsOf(deliveries)
  const refused = attempts.filter((a) => a.status === 503)
  t.ok(refused.length > 0, `the lock routes failed closed (${refused.length} answers 503)`)
  const first503 = Math.round(Math.min(...refused.map(endOf)) - faultAt)
  t.ok(first503 <= 1000, `the first 503 came ${first503} ms after the fault`)
  const closed = replicas.map((_, i) => Math.round((watch.closedAt(i, faultAt) ?? Number.NaN) - faultAt))
  t.ok(closed.every((ms) => ms <= 1000), `each replica's guard closed within 1 s (${closed.join(', ')} ms)`)
  t.same(refused.filter((a) => a.retryAfter !== '30'), [], 'every 503 says Retry-After: 30')
  t.same(badErrorBodies(deliveries), [], 'every refusal is { error, message }')
  t.same(attempts.filter((a) => !isHttp(a.status) || (a.status >= 500 && a.status !== 503)).map((a) => a.status), [],
    'no 5xx other than the fail-closed 503, no network error')

  // Once a replica's guard has closed, no request sent to it gets a 200 until Redis is healed.
  const closedAt = replicas.map((_, i) => faultAt + closed[i]!)
  const unlocked = attempts.filter((a) => a.status === 200 && a.start > closedAt[a.replica]! && a.start < healedAt &&
    a.start < (watch.openedAt(a.replica) ?? Infinity))
  t.same(unlocked.map((a) => `${a.replica} ${a.start - faultAt}`), [], 'no 200 to a request that arrived after the trip')
  const lastBucket200 = Math.round(Math.max(0, ...attempts.filter((a) => a.status === 200 && a.start <= closedAt[a.replica]! && endOf(a) > closedAt[a.replica]!)
    .map((a) => endOf(a) - closedAt[a.replica]!)))

  const recovered = replicas.map((_, i) => Math.max(0, Math.round((watch.openedAt(i) ?? Number.NaN) - healedAt)))
  t.ok(recovered.every((ms) => ms <= 5000), `each replica's guard opened again within 5 s of Redis answering (${recovered.join(', ')} ms)`)
  for (const [i, replica] of replicas.entries()) {
    t.ok(await scrape(replica, 'redis_unhealthy_total') > trips[i]!, `replica ${i}: redis_unhealthy_total counted the trip`)
    t.equal(await scrape(replica, 'redis_up'), 1, `replica ${i}: redis_up is 1 again`)
  }
  t.same(replicas.map((r) => r.child.pid), pids, 'no replica restarted')

  t.ok(deliveries.every((d) => d.final?.status === 200), 'every event ended in a 200 after retries: none lost')
  const recorded = await recordedIds(database)
  t.ok(deliveries.every((d) => recorded.has(d.eventId)), 'each event recorded')
  const [boosts] = await database.query('select count(*)::int as n, count(distinct transaction_id)::int as distinct from boosts where community_id = $1', [options.community])
  t.same(boosts, { n: count, distinct: count }, 'each event applied exactly once across the change')
  return {
    summary: summarise(options.name, deliveries),
    outage: { name: options.name, first503, closed, healed: healedAt - faultAt, recovered, lastBucket200 },
    attempts,
    faultAt
  }
}
