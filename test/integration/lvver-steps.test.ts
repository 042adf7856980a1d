// LVVER step by step on the real stores: runLvver driven with the real Redis lock store and the inbox's
// real event job, each call recorded; and, through the route, every Postgres query checked against Redis at
// the moment it is sent: the event's lease must already be there. (lvver-order.test.ts watches the same
// order on the wire: MONITOR and the app's traffic timeline.)
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { lockKeyOf, markerKeyOf, watchPostgres } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, newPaddleId, oneOffTransaction, samplePaddleEvent, subscriptionSnapshot } from '../helpers/paddle-payloads.js'
import { failInserts } from '../helpers/triggers.js'
import type { EventSource } from '../../db/schema.js'
import { isRefusal } from '../../services/errors.js'
import { Inbox } from '../../services/inbox.js'
import type { LockStore } from '../../services/lock-store.js'
import { runLvver, type LvverDeps, type LvverJob, type LvverOutcome } from '../../services/lvver.js'
import { checkEnvelope } from '../../services/paddle/envelope.js'
import { TokenBuckets } from '../../services/token-bucket.js'

/** A lock store that records each call (and what acquire found) before passing it on. */
function recording (store: LockStore, steps: string[]): LockStore {
  return {
    kind: store.kind,
    isReady: () => store.isReady(),
    async acquire (lockKey, markerKey, token, ttlMs, checkMarker) {
      steps.push(checkMarker ? 'acquire' : 'acquire past the marker')
      const result = await store.acquire(lockKey, markerKey, token, ttlMs, checkMarker)
      steps.push(`acquired:${result}`)
      return result
    },
    async release (lockKey, markerKey, token, markerTtlMs) {
      steps.push(markerTtlMs === undefined ? 'release' : 'release+marker')
      return store.release(lockKey, markerKey, token, markerTtlMs)
    }
  }
}

/** The job with each of its steps recorded as it starts. */
function recordedJob<P, R> (job: LvverJob<P, R>, steps: string[]): LvverJob<P, R> {
  const noted = <A extends unknown[], T>(name: string, fn: (...args: A) => T) => (...args: A): T => { steps.push(name); return fn(...args) }
  return {
    ...job,
    ...(job.findFinal !== undefined ? { findFinal: noted('findFinal', job.findFinal.bind(job)) } : {}),
    ...(job.validate !== undefined ? { validate: noted('validate', job.validate.bind(job)) } : {}),
    execute: noted('execute', job.execute.bind(job)),
    ...(job.recordFailure !== undefined ? { recordFailure: noted('recordFailure', job.recordFailure.bind(job)) } : {})
  }
}

/** An inbox over the app's database and catalogue whose LVVER runs on the real Redis lock store, recorded. */
function recordedInbox (app: FastifyInstance) {
  const steps: string[] = []
  const outcomes: Array<LvverOutcome<unknown>['kind']> = []
  const deps: LvverDeps = {
    locks: recording(app.lockStore, steps),
    buckets: new TokenBuckets(10, 10, new Set()),
    metrics: { lockContention: () => {}, lockFallback: () => {}, lockTtlExhausted: () => {} },
    log: { warn: () => {} },
    ttlMs: () => 30_000,
    markerTtlMs: 60_000
  }
  const inbox = new Inbox({
    database: app.database,
    catalog: app.catalog,
    lvver: async (job) => {
      const outcome = await runLvver(deps, recordedJob(job, steps))
      outcomes.push(outcome.kind)
      return outcome
    },
    lockReady: () => app.lockStore.isReady(),
    webhook: { secrets: app.config.webhookSecrets, toleranceSeconds: app.config.webhookToleranceSeconds },
    log: { info: () => {}, warn: () => {} },
    observe: () => {}
  })
  const run = async (body: object, source: EventSource = 'webhook') => {
    steps.length = 0
    outcomes.length = 0
    const checked = checkEnvelope(JSON.parse(JSON.stringify(body)))
    if (!checked.ok) throw new Error(checked.message)
    let answer: string
    try {
      answer = (await inbox.process(checked.event, source)).status
    } catch (err) {
      answer = isRefusal(err) ? err.code : `thrown: ${(err as Error).message}`
    }
    return { kind: outcomes[0], answer, steps: [...steps] }
  }
  return { run }
}

const boostPurchase = () => oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'community_1', member_id: 'member_1' } })
const APPLIED = ['acquire', 'acquired:acquired', 'validate', 'execute', 'release+marker']

t.test('runLvver with the real Redis lock store and the inbox\'s event job: the lease is acquired before every other step', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const { run } = recordedInbox(app)
  t.equal(app.lockStore.kind, 'redis', 'the real Redis lock store')

  const event = boostPurchase()
  t.same(await run(event), { kind: 'done', answer: 'processed', steps: APPLIED }, 'a new event: no separate Postgres check, the gated record is the check')
  t.same(await run(event), { kind: 'duplicate', answer: 'duplicate', steps: ['acquire', 'acquired:processed'] }, 'the marker answers within the acquire: no other step')

  await redis.del(markerKeyOf(config, event.event_id))
  t.same(await run(event), { kind: 'duplicate', answer: 'duplicate', steps: APPLIED },
    'only Postgres knows it: lease first, then the record\'s gate writes nothing, and the marker is set again')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 1)

  const unknown = samplePaddleEvent('address.created')
  t.same(await run(unknown), { kind: 'done', answer: 'ignored', steps: APPLIED }, 'an unhandled type: recorded ignored by the same gated step')
  const review = oneOffTransaction({ items: [{ priceId: newPaddleId('pri') }], customData: { community_id: 'community_1' } })
  t.same(await run(review), { kind: 'done', answer: 'needs_review', steps: APPLIED }, 'a price the catalogue lacks: kept for review')

  t.same(await run(unknown, 'replay'), { kind: 'done', answer: 'ignored', steps: ['acquire past the marker', ...APPLIED.slice(1)] },
    'a replay looks past the marker its first, final answer left, and runs every step again')
  const [replayed] = await database.query<{ attempts: number, source: string }>('select attempts, source from webhook_events where event_id = $1', [unknown.event_id])
  t.same(replayed, { attempts: 2, source: 'replay' })

  const held = boostPurchase()
  await redis.set(lockKeyOf(config, held.event_id), 'another-holder', 'PX', 10_000)
  t.same(await run(held), { kind: 'in_progress', answer: 'BW_ERR_IN_PROGRESS', steps: ['acquire', 'acquired:held'] }, 'a held lease: nothing else runs, nothing is released')
  t.equal(await redis.get(lockKeyOf(config, held.event_id)), 'another-holder', 'the holder keeps it')

  const restore = await failInserts(database, 'boosts')
  const failing = boostPurchase()
  t.same(await run(failing), { kind: undefined, answer: 'thrown: injected failure', steps: ['acquire', 'acquired:acquired', 'validate', 'execute', 'recordFailure', 'release'] },
    'a failing write: the failure is kept, then the lease released without a marker')
  await restore()

  const [row] = await database.query<{ n: number }>('select count(*)::int as n from boosts')
  t.equal(row?.n, 1, 'one boost for all of it')
})

t.test('every Postgres query the webhook sends for an event is sent while the event\'s lease is in Redis', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const probe = new Redis(SHARED_REDIS_URL)
  t.teardown(() => probe.disconnect())
  let lock = ''
  const leaseAtQuery: Array<string | null> = []
  // Each query waits until the probe has read the lease key: what Redis held at that moment.
  const queries = watchPostgres(app, async () => { leaseAtQuery.push(await probe.get(lock)) })

  const cases: Array<[string, { event_id: string }, number, string | undefined]> = [
    ['a boost purchase', boostPurchase(), 200, 'processed'],
    ['a subscription event', subscriptionSnapshot('subscription.created', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c1' } }), 200, 'processed'],
    ['an ignored event', samplePaddleEvent('customer.updated'), 200, 'ignored'],
    ['an event kept for review', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: null }), 200, 'needs_review'],
    ['a failing event, kept as failed', boostPurchase(), 500, undefined]
  ]
  for (const [name, event, statusCode, status] of cases) {
    const restore = statusCode === 500 ? await failInserts(database, 'boosts') : undefined
    lock = lockKeyOf(config, event.event_id)
    queries.length = 0
    leaseAtQuery.length = 0
    const answer = await deliver(app, event)
    await restore?.()
    t.equal(answer.statusCode, statusCode, name)
    if (status !== undefined) t.equal(answer.json().status, status, name)
    t.ok(queries.length >= (statusCode === 500 ? 2 : 1), `${name}: reached Postgres (${queries.length} queries)`)
    t.ok(queries.every((q) => q.values.includes(event.event_id)), `${name}: every query was about this event`)
    t.ok(leaseAtQuery.length === queries.length && leaseAtQuery.every((token) => token !== null), `${name}: the lease was in Redis at each of them`)
    t.equal(await probe.exists(lock), 0, `${name}: and released afterwards`)
  }
})
