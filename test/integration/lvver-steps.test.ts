// LVVER step by step on the real stores: runLvver driven with the real Redis lock store and the real
// webhook job, each call recorded; and, through the route, every Postgres query checked against Redis at
// the moment it is sent: the event's lease must already be there. (lvver-order.test.ts watches the same
// order on the wire: MONITOR and the app's traffic timeline.)
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { lockKeyOf, markerKeyOf, watchPostgres } from '../helpers/lvver.js'
import { boostPurchaseEvent, deliver, paddleEvent, paddleId, subscriptionEvent } from '../helpers/paddle.js'
import type { LockStore } from '../../services/lock-store.js'
import { runLvver, type LvverDeps, type LvverJob } from '../../services/lvver.js'
import { checkEnvelope } from '../../services/paddle/envelope.js'
import { webhookJob } from '../../services/webhook-job.js'

/** A lock store that records each call (and what acquire found) before passing it on. */
function recording (store: LockStore, steps: string[]): LockStore {
  return {
    kind: store.kind,
    isReady: () => store.isReady(),
    async acquire (lockKey, markerKey, token, ttlMs) {
      steps.push('acquire')
      const result = await store.acquire(lockKey, markerKey, token, ttlMs)
      steps.push(`acquired:${result}`)
      return result
    },
    async release (lockKey, markerKey, token, markerTtlMs) {
      steps.push(markerTtlMs === undefined ? 'release' : 'release+marker')
      return store.release(lockKey, markerKey, token, markerTtlMs)
    }
  }
}

/** The real webhook job for `body`, each of its steps recorded as it starts. */
function recordedJob (app: FastifyInstance, body: Record<string, unknown>, steps: string[]): LvverJob<true> {
  const checked = checkEnvelope(body)
  if (!checked.ok) throw new Error(checked.message)
  const event = checked.event
  const job = webhookJob(app.db, event, { ttlMs: app.lockTtlMs(event.data.custom_data?.type), receivedAt: new Date() })
  const noted = <A extends unknown[], R>(name: string, fn: (...args: A) => R) => (...args: A): R => { steps.push(name); return fn(...args) }
  return {
    ...job,
    ...(job.findRecorded !== undefined ? { findRecorded: noted('findRecorded', job.findRecorded.bind(job)) } : {}),
    validate: noted('validate', job.validate.bind(job)),
    execute: noted('execute', job.execute.bind(job)),
    recordIgnored: noted('recordIgnored', job.recordIgnored.bind(job))
  }
}

t.test('runLvver with the real Redis lock store and the real webhook job: the lease is acquired before every other step', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const steps: string[] = []
  const deps: LvverDeps = {
    locks: recording(app.lockStore, steps),
    buckets: app.fallbackBuckets,
    metrics: { lockContention: () => {}, lockFallback: () => {}, lockTtlExhausted: () => {} },
    log: { warn: () => {} },
    markerTtlMs: 60_000
  }
  const run = async (body: Record<string, unknown>) => {
    steps.length = 0
    const outcome = await runLvver(deps, recordedJob(app, body, steps))
    return { kind: outcome.kind, steps: [...steps] }
  }
  t.equal(app.lockStore.kind, 'redis', 'the real Redis lock store')

  const event = boostPurchaseEvent()
  t.same(await run(event), { kind: 'processed', steps: ['acquire', 'acquired:acquired', 'validate', 'execute', 'release+marker'] }, 'a new event')
  t.same(await run(event), { kind: 'duplicate', steps: ['acquire', 'acquired:processed'] }, 'the marker answers within the acquire: no other step')

  await redis.del(markerKeyOf(config, event.event_id))
  t.same(await run(event), { kind: 'duplicate', steps: ['acquire', 'acquired:acquired', 'validate', 'execute', 'release+marker'] },
    'only Postgres knows it: lease first, then the record\'s key refuses the write, and the marker is set again')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 1)

  const unknown = paddleEvent({ eventType: 'address.created', data: { id: paddleId('add') } })
  t.same(await run(unknown), { kind: 'ignored', steps: ['acquire', 'acquired:acquired', 'validate', 'recordIgnored', 'release+marker'] }, 'an unhandled type')

  const held = boostPurchaseEvent()
  await redis.set(lockKeyOf(config, held.event_id), 'another-holder', 'PX', 10_000)
  t.same(await run(held), { kind: 'in_progress', steps: ['acquire', 'acquired:held'] }, 'a held lease: nothing else runs, nothing is released')
  t.equal(await redis.get(lockKeyOf(config, held.event_id)), 'another-holder', 'the holder keeps it')

  const [row] = await database.query<{ n: number }>('select count(*)::int as n from boosts')
  t.equal(row?.n, 1, 'one boost for all of it')
})

t.test('every Postgres query the webhook sends for an event is sent while the event\'s lease is in Redis', async (t) => {
  const { app, config } = await buildTestApp(t)
  const probe = new Redis(SHARED_REDIS_URL)
  t.teardown(() => probe.disconnect())
  let lock = ''
  const leaseAtQuery: Array<string | null> = []
  // Each query waits until the probe has read the lease key: what Redis held at that moment.
  const queries = watchPostgres(app, async () => { leaseAtQuery.push(await probe.get(lock)) })

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a boost purchase', boostPurchaseEvent(), 'processed'],
    ['a subscription event', subscriptionEvent('subscription.created', paddleId('sub')), 'processed'],
    ['an ignored event', paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } }), 'ignored']
  ]
  for (const [name, event, status] of cases) {
    lock = lockKeyOf(config, event.event_id)
    queries.length = 0
    leaseAtQuery.length = 0
    t.equal((await deliver(app, event)).json().status, status, name)
    t.ok(queries.length >= 1, `${name}: reached Postgres (${queries.length} queries)`)
    t.ok(queries.every((q) => q.values.includes(event.event_id)), `${name}: every query was about this event`)
    t.ok(leaseAtQuery.every((token) => token !== null), `${name}: the lease was in Redis at each of them`)
    t.equal(await probe.exists(lock), 0, `${name}: and released afterwards`)
  }
})
