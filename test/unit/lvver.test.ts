// The pipeline's logic step by step, with the in-process lock store on an injected clock and jobs made of
// plain functions. (The Redis lock itself is tested against real Redis in test/integration/lvver-*.test.ts.)
import t from 'tap'
import { MemoryLockStore, type LockStore } from '../../services/lock-store.js'
import { lockKey, markerKey, runLvver, type LvverDeps, type LvverJob } from '../../services/lvver.js'
import { TokenBuckets } from '../../services/token-bucket.js'

const LOCK = lockKey('test', 'id_1')
const MARKER = markerKey('test', 'id_1')

/** Records each lock-store call into `steps` before passing it on. */
function recording (inner: LockStore, steps: string[]): LockStore {
  return {
    kind: inner.kind,
    isReady: () => inner.isReady(),
    async acquire (lock, marker, token, ttl) {
      const result = await inner.acquire(lock, marker, token, ttl)
      steps.push(`acquire:${result}`)
      return result
    },
    async release (lock, marker, token, markerTtl) {
      const result = await inner.release(lock, marker, token, markerTtl)
      steps.push(`${markerTtl === undefined ? 'release' : 'release+marker'}:${result}`)
      return result
    }
  }
}

function setup (locks?: LockStore) {
  const clock = { now: 0 }
  const memory = new MemoryLockStore(1000, () => clock.now)
  const steps: string[] = []
  const counts = { contention: [] as string[], fallback: [] as Array<[string, boolean]>, exhausted: 0, warnings: [] as string[] }
  const deps: LvverDeps = {
    locks: recording(locks ?? memory, steps),
    buckets: new TokenBuckets(2, 1, new Set(['t']), () => clock.now),
    markerTtlMs: 60_000,
    log: { warn: (_obj, msg) => { counts.warnings.push(msg) } },
    metrics: {
      lockContention: (type) => { counts.contention.push(type) },
      lockFallback: (type, allowed) => { counts.fallback.push([type, allowed]) },
      lockTtlExhausted: () => { counts.exhausted++ }
    }
  }
  const job = (overrides: Partial<LvverJob<string>> = {}): LvverJob<string> => ({
    scope: 'test',
    id: 'id_1',
    type: 't',
    ttlMs: 1000,
    fenceConstraint: 'fence_pkey',
    findRecorded: async () => { steps.push('find'); return undefined },
    validate: () => { steps.push('validate'); return { ok: true } },
    execute: async () => { steps.push('execute'); return 'done' },
    recordIgnored: async (reason) => { steps.push(`ignore:${reason}`); return 'ignored' },
    ...overrides
  })
  return { deps, steps, counts, clock, memory, job }
}

/** A unique violation as drizzle wraps it: the pg error is the cause. */
const uniqueViolation = (constraint: string) => Object.assign(new Error('Failed query'), { cause: { code: '23505', constraint } })

t.test('a new id: lock, find, validate, execute, then marker + unlock; the next attempt stops at the marker', async (t) => {
  const { deps, steps, job } = setup()
  t.same(await runLvver(deps, job()), { kind: 'processed', result: 'done' })
  t.same(steps, ['acquire:acquired', 'find', 'validate', 'execute', 'release+marker:true'])
  steps.length = 0
  t.same(await runLvver(deps, job()), { kind: 'duplicate', via: 'redis' })
  t.same(steps, ['acquire:processed'], 'no other step ran for the duplicate')
})

t.test('Postgres knows the id: duplicate with its stored result, nothing executed, and the marker set again', async (t) => {
  const { deps, steps, job, memory } = setup()
  t.same(await runLvver(deps, job({ findRecorded: async () => { steps.push('find'); return 'stored' } })),
    { kind: 'duplicate', via: 'postgres', result: 'stored' })
  t.same(steps, ['acquire:acquired', 'find', 'release+marker:true'])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000), 'processed')
})

t.test('a job without findRecorded goes from the lock straight to validate', async (t) => {
  const { deps, steps, job } = setup()
  t.same(await runLvver(deps, job({ findRecorded: undefined })), { kind: 'processed', result: 'done' })
  t.same(steps, ['acquire:acquired', 'validate', 'execute', 'release+marker:true'])
})

t.test('validation failure: recorded as ignored with its reason, marker set, never executed', async (t) => {
  const { deps, steps, job, memory } = setup()
  const outcome = await runLvver(deps, job({ validate: () => { steps.push('validate'); return { ok: false, reason: 'no community' } } }))
  t.same(outcome, { kind: 'ignored', result: 'ignored', reason: 'no community' })
  t.same(steps, ['acquire:acquired', 'find', 'validate', 'ignore:no community', 'release+marker:true'])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000), 'processed')
})

t.test('the fence: a unique violation of the job\'s constraint is a duplicate (from execute or from recordIgnored), marker set', async (t) => {
  const { deps, job, memory } = setup()
  t.same(await runLvver(deps, job({ execute: async () => { throw uniqueViolation('fence_pkey') } })), { kind: 'duplicate', via: 'fence' })
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000), 'processed', 'the marker is set: the id is recorded')
  const other = setup()
  t.same(await runLvver(other.deps, other.job({
    validate: () => ({ ok: false, reason: 'r' }),
    recordIgnored: async () => { throw uniqueViolation('fence_pkey') }
  })), { kind: 'duplicate', via: 'fence' })
})

t.test('any other error propagates: lease released, no marker, and the next attempt runs again', async (t) => {
  const { deps, steps, job } = setup()
  const otherConstraint = uniqueViolation('boosts_transaction_id_unique')
  await t.rejects(runLvver(deps, job({ execute: async () => { throw otherConstraint } })), otherConstraint, 'another unique constraint is not the fence')
  t.same(steps.slice(-1), ['release:true'], 'released without a marker')
  const boom = new Error('connection terminated')
  await t.rejects(runLvver(deps, job({ findRecorded: async () => { throw boom } })), boom, 'a failing Postgres check')
  await t.rejects(runLvver(deps, job({ validate: () => { throw boom } })), boom, 'a throwing validation')
  steps.length = 0
  t.same(await runLvver(deps, job()), { kind: 'processed', result: 'done' }, 'nothing was left behind')
  t.same(steps[0], 'acquire:acquired')
})

t.test('a held lock: in_progress, counted with the job\'s type, no step run, the holder untouched', async (t) => {
  const { deps, steps, counts, job, memory } = setup()
  await memory.acquire(LOCK, MARKER, 'other', 10_000)
  t.same(await runLvver(deps, job()), { kind: 'in_progress' })
  t.same(steps, ['acquire:held'], 'nothing else, not even a release')
  t.same(counts.contention, ['t'])
  t.equal(await memory.release(LOCK, MARKER, 'other'), true, 'the holder still owns its lease')
})

t.test('a lease that expires mid-execute and is taken by another holder: counted, warned, the successor keeps it', async (t) => {
  const { deps, counts, clock, job, memory } = setup()
  const outcome = await runLvver(deps, job({
    ttlMs: 1000,
    execute: async () => {
      clock.now += 1500
      t.equal(await memory.acquire(LOCK, MARKER, 'successor', 10_000), 'acquired', 'another holder takes the expired lease')
      return 'done'
    }
  }))
  t.same(outcome, { kind: 'processed', result: 'done' }, 'the work itself stands (the fence guards it)')
  t.equal(counts.exhausted, 1)
  t.match(counts.warnings, [/lock expired before release/])
  t.equal(await memory.acquire(LOCK, MARKER, 'x', 1000), 'held', 'the successor still holds it')
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
  t.same(await runLvver(deps, job()), { kind: 'processed', result: 'done' })
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
  t.same(await runLvver(deps, job({ id: '1' })), { kind: 'processed', result: 'done' })
  t.same(await runLvver(deps, job({ id: '2' })), { kind: 'processed', result: 'done' })
  t.same(await runLvver(deps, job({ id: '3' })), { kind: 'fallback_exhausted' })
  t.same(counts.fallback, [['t', true], ['t', true], ['t', false]], 'each decision counted with its type')
  t.equal(steps.filter((s) => s === 'execute').length, 2, 'the refused request did no work')
  t.equal(counts.contention.length + counts.exhausted, 0)
  // A lease may still be set late by the stalled Redis: every request releases it by token, the two that
  // ran also set the marker; none waits for that.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(releases, [60_000, 60_000, undefined])
  t.same(await runLvver(deps, job({ id: '4', type: 'unknown.type' })), { kind: 'processed', result: 'done' }, 'an unknown type has its own (overflow) bucket')
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
  t.same(await runLvver(deps, job({ id: '3' })), { kind: 'processed', result: 'done' }, 'one token per second')
})
