// The pipeline's logic step by step, with the in-process lock store on an injected clock and jobs made of
// plain functions. (The Redis lock itself is tested against real Redis in test/integration/lvver-*.test.ts.)
import t from 'tap'
import { MemoryLockStore, type LockStore } from '../../services/lock-store.js'
import { lockKey, markerKey, runLvver, type LvverDeps, type LvverJob } from '../../services/lvver.js'
import { TokenBuckets } from '../../services/token-bucket.js'

const LOCK = lockKey('test', 'id_1')
const MARKER = markerKey('test', 'id_1')

/** Records each lock-store call into `steps` (and the lease TTL asked for into `ttls`) before passing it on. */
function recording (inner: LockStore, steps: string[], ttls: number[]): LockStore {
  return {
    kind: inner.kind,
    isReady: () => inner.isReady(),
    async acquire (lock, marker, token, ttl, checkMarker) {
      ttls.push(ttl)
      const result = await inner.acquire(lock, marker, token, ttl, checkMarker)
      steps.push(`acquire${checkMarker ? '' : '(past the marker)'}:${result}`)
      return result
    },
    async release (lock, marker, token, markerTtl) {
      const result = await inner.release(lock, marker, token, markerTtl)
      steps.push(`${markerTtl === undefined ? 'release' : 'release+marker'}:${result}`)
      return result
    }
  }
}

const TTL_BY_TYPE: Record<string, number> = { t: 1000, long: 5000 }

function setup (locks?: LockStore) {
  const clock = { now: 0 }
  const memory = new MemoryLockStore(1000, () => clock.now)
  const steps: string[] = []
  const ttls: number[] = []
  const counts = { contention: [] as string[], fallback: [] as Array<[string, boolean]>, exhausted: 0, warnings: [] as string[], warned: [] as object[] }
  const deps: LvverDeps = {
    locks: recording(locks ?? memory, steps, ttls),
    buckets: new TokenBuckets(2, 1, new Set(['t']), () => clock.now),
    markerTtlMs: 60_000,
    ttlMs: (type) => TTL_BY_TYPE[type] ?? 2000,
    log: { warn: (obj, msg) => { counts.warned.push(obj); counts.warnings.push(msg) } },
    metrics: {
      lockContention: (type) => { counts.contention.push(type) },
      lockFallback: (type, allowed) => { counts.fallback.push([type, allowed]) },
      lockTtlExhausted: () => { counts.exhausted++ }
    }
  }
  const job = (overrides: Partial<LvverJob<string, string>> = {}): LvverJob<string, string> => ({
    scope: 'test',
    id: 'id_1',
    type: 't',
    trustMarker: true,
    findFinal: async () => { steps.push('find'); return undefined },
    validate: () => { steps.push('validate'); return 'the plan' },
    execute: async (plan) => { steps.push(`execute:${plan}`); return 'recorded' },
    recordFailure: async (err) => { steps.push(`failure:${(err as Error).message}`) },
    ...overrides
  })
  return { deps, steps, ttls, counts, clock, memory, job }
}

t.test('a new id: lock, find, validate, execute with the plan, then marker + unlock; the next attempt stops at the marker', async (t) => {
  const { deps, steps, job } = setup()
  t.same(await runLvver(deps, job()), { kind: 'done', result: 'recorded' })
  t.same(steps, ['acquire:acquired', 'find', 'validate', 'execute:the plan', 'release+marker:true'])
  steps.length = 0
  t.same(await runLvver(deps, job()), { kind: 'duplicate', via: 'redis' })
  t.same(steps, ['acquire:processed'], 'no other step ran for the duplicate')
})

t.test('the lease TTL comes from deps.ttlMs(job.type), and the lease lives exactly that long', async (t) => {
  const { deps, ttls, clock, memory, job } = setup()
  await runLvver(deps, job({
    type: 'long',
    execute: async () => {
      clock.now += 4999
      t.equal(await memory.acquire(LOCK, MARKER, 'other', 1000, true), 'held', 'held 1 ms before the long TTL ends')
      clock.now += 1
      t.equal(await memory.acquire(LOCK, MARKER, 'other', 1000, true), 'acquired', 'free at 5000 ms')
      return 'recorded'
    }
  }))
  await runLvver(deps, job({ id: 'id_2', type: 'no.such.type' }))
  t.same(ttls, [5000, 2000], 'each job asked its own type\'s TTL')
})

t.test('Postgres knows the id (findFinal): duplicate with its stored record, nothing validated or executed, the marker set again', async (t) => {
  const { deps, steps, job, memory } = setup()
  t.same(await runLvver(deps, job({ findFinal: async () => { steps.push('find'); return 'stored' } })),
    { kind: 'duplicate', via: 'postgres', result: 'stored' })
  t.same(steps, ['acquire:acquired', 'find', 'release+marker:true'])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000, true), 'processed')
})

t.test('a job without findFinal goes from the lock straight to validate; one without validate executes with no plan', async (t) => {
  const { deps, steps, job } = setup()
  t.same(await runLvver(deps, job({ findFinal: undefined })), { kind: 'done', result: 'recorded' })
  t.same(steps, ['acquire:acquired', 'validate', 'execute:the plan', 'release+marker:true'])

  steps.length = 0
  const plans: unknown[] = []
  t.same(await runLvver(deps, job({ id: 'id_2', validate: undefined, execute: async (plan) => { plans.push(plan); return 'recorded' } })),
    { kind: 'done', result: 'recorded' })
  t.same(plans, [undefined], 'an input checked before the lock leaves nothing to decide')
  t.same(steps, ['acquire:acquired', 'find', 'release+marker:true'])
})

t.test('the gate: execute resolving undefined means another holder recorded the id: duplicate via fence, marker set', async (t) => {
  const { deps, steps, job, memory } = setup()
  t.same(await runLvver(deps, job({ execute: async () => { steps.push('execute'); return undefined } })), { kind: 'duplicate', via: 'fence' })
  t.same(steps, ['acquire:acquired', 'find', 'validate', 'execute', 'release+marker:true'], 'no failure recorded: a duplicate is no error')
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000, true), 'processed', 'the marker is set: the id is recorded')
})

t.test('a failure in steps 3-5: recorded by the job, then thrown; lease released, no marker; the next attempt runs again', async (t) => {
  const { deps, steps, job } = setup()
  const boom = new Error('connection terminated')
  await t.rejects(runLvver(deps, job({ findFinal: async () => { throw boom } })), boom, 'a failing Postgres check')
  t.same(steps, ['acquire:acquired', 'failure:connection terminated', 'release:true'], 'recorded, then released without a marker')

  steps.length = 0
  await t.rejects(runLvver(deps, job({ validate: () => { throw boom } })), boom, 'a throwing validation')
  t.same(steps, ['acquire:acquired', 'find', 'failure:connection terminated', 'release:true'])

  steps.length = 0
  // The gate never raises a unique violation; one that arises anyway is a failure like any other, not a duplicate.
  const violation = Object.assign(new Error('duplicate key'), { cause: { code: '23505', constraint: 'webhook_events_pkey' } })
  await t.rejects(runLvver(deps, job({ execute: async () => { throw violation } })), violation)
  t.same(steps, ['acquire:acquired', 'find', 'validate', 'failure:duplicate key', 'release:true'])

  steps.length = 0
  t.same(await runLvver(deps, job()), { kind: 'done', result: 'recorded' }, 'nothing was left behind')
  t.same(steps[0], 'acquire:acquired')
})

t.test('a job without recordFailure: the error still propagates, the lease is still released', async (t) => {
  const { deps, steps, job, memory } = setup()
  const boom = new TypeError('handler bug')
  await t.rejects(runLvver(deps, job({ recordFailure: undefined, execute: async () => { throw boom } })), boom)
  t.same(steps, ['acquire:acquired', 'find', 'validate', 'release:true'])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000, true), 'acquired', 'no lease, no marker left behind')
})

t.test('trustMarker false (a replay): the marker does not end the request; the steps run and the marker is set again', async (t) => {
  const { deps, steps, job, memory } = setup()
  await runLvver(deps, job())
  steps.length = 0
  t.same(await runLvver(deps, job({ trustMarker: false })), { kind: 'done', result: 'recorded' })
  t.same(steps, ['acquire(past the marker):acquired', 'find', 'validate', 'execute:the plan', 'release+marker:true'])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000, true), 'processed')

  await memory.acquire(LOCK, MARKER, 'holder', 10_000, false)
  steps.length = 0
  t.same(await runLvver(deps, job({ trustMarker: false })), { kind: 'in_progress' }, 'a held lease still refuses a replay')
  t.same(steps, ['acquire(past the marker):held'])
})

t.test('a held lock: in_progress, counted with the job\'s type, no step run, the holder untouched', async (t) => {
  const { deps, steps, counts, job, memory } = setup()
  await memory.acquire(LOCK, MARKER, 'other', 10_000, true)
  t.same(await runLvver(deps, job()), { kind: 'in_progress' })
  t.same(steps, ['acquire:held'], 'nothing else, not even a release')
  t.same(counts.contention, ['t'])
  t.equal(await memory.release(LOCK, MARKER, 'other'), true, 'the holder still owns its lease')
})

t.test('a lease that expires mid-execute and is taken by another holder: counted, warned with the TTL, the successor keeps it', async (t) => {
  const { deps, counts, clock, job, memory } = setup()
  const outcome = await runLvver(deps, job({
    execute: async () => {
      clock.now += 1500
      t.equal(await memory.acquire(LOCK, MARKER, 'successor', 10_000, true), 'acquired', 'another holder takes the expired lease')
      return 'recorded'
    }
  }))
  t.same(outcome, { kind: 'done', result: 'recorded' }, 'the work itself stands (the gate guards it)')
  t.equal(counts.exhausted, 1)
  t.match(counts.warnings, [/lock expired before release/])
  t.match(counts.warned, [{ scope: 'test', id: 'id_1', ttlMs: 1000 }])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000, false), 'held', 'the successor still holds it')
  t.equal(await memory.release(LOCK, MARKER, 'successor'), true)
})

t.test('a release that fails is logged, not fatal: the answer stands', async (t) => {
  const memory = new MemoryLockStore()
  const flaky: LockStore = {
    kind: 'redis',
    isReady: () => true,
    acquire: (...args) => memory.acquire(...args),
    release: async () => { throw new Error('Command timed out') }
  }
  const { deps, counts, job } = setup(flaky)
  t.same(await runLvver(deps, job()), { kind: 'done', result: 'recorded' })
  t.equal(counts.exhausted, 0, 'not counted as an expiry')
  t.match(counts.warnings, [/could not record the marker or release the lock/])
})

t.test('a failing lock store falls back to the type\'s bucket: tokens let work through, then fallback_exhausted', async (t) => {
  const releases: Array<number | undefined> = []
  const broken: LockStore = {
    kind: 'redis',
    isReady: () => true,
    acquire: async () => { throw new Error('Command timed out') },
    release: async (_lock, _marker, _token, markerTtl) => { releases.push(markerTtl); throw new Error('Command timed out') }
  }
  const { deps, steps, counts, job } = setup(broken)
  t.same(await runLvver(deps, job({ id: '1' })), { kind: 'done', result: 'recorded' })
  t.same(await runLvver(deps, job({ id: '2' })), { kind: 'done', result: 'recorded' })
  t.same(await runLvver(deps, job({ id: '3' })), { kind: 'fallback_exhausted' })
  t.same(counts.fallback, [['t', true], ['t', true], ['t', false]], 'each decision counted with its type')
  t.equal(steps.filter((s) => s.startsWith('execute')).length, 2, 'the refused request did no work')
  t.equal(counts.contention.length + counts.exhausted, 0)
  t.match(counts.warnings, [/token-bucket fallback/, /token-bucket fallback/, /token-bucket fallback/])
  // A lease may still be set late by the stalled Redis: every request releases it by token, the two that
  // ran also set the marker; none waits for that.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(releases, [60_000, 60_000, undefined])
  t.same(await runLvver(deps, job({ id: '4', type: 'unknown.type' })), { kind: 'done', result: 'recorded' }, 'an unknown type has its own (overflow) bucket')
})

t.test('a failing lock store and a failing job: the failure is recorded and thrown, the background release sets no marker', async (t) => {
  const releases: Array<number | undefined> = []
  const broken: LockStore = {
    kind: 'redis',
    isReady: () => true,
    acquire: async () => { throw new Error('Command timed out') },
    release: async (_lock, _marker, _token, markerTtl) => { releases.push(markerTtl); return false }
  }
  const { deps, steps, counts, job } = setup(broken)
  const boom = new Error('deadlock detected')
  await t.rejects(runLvver(deps, job({ execute: async () => { throw boom } })), boom)
  t.ok(steps.includes('failure:deadlock detected'), 'the job kept its failure')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(releases, [undefined], 'released by token, without a marker')
  t.equal(counts.exhausted, 0, 'a lease never taken is not counted as lost')
})

t.test('the bucket refills: a refused type is let through again after its refill time', async (t) => {
  const broken: LockStore = {
    kind: 'redis',
    isReady: () => true,
    acquire: async () => { throw new Error('Command timed out') },
    release: async () => false
  }
  const { deps, clock, job } = setup(broken)
  await runLvver(deps, job({ id: '1' }))
  await runLvver(deps, job({ id: '2' }))
  t.same(await runLvver(deps, job({ id: '3' })), { kind: 'fallback_exhausted' })
  clock.now += 1000
  t.same(await runLvver(deps, job({ id: '3' })), { kind: 'done', result: 'recorded' }, 'one token per second')
})
