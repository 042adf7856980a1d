// The pipeline's logic step by step, with the in-process lock store and jobs made of plain functions.
// (The Redis lock itself is tested against a real Redis in test/integration/lvver-lock.test.ts.)
import t from 'tap'
import { MemoryLockStore, type LockStore } from '../../services/lock-store.js'
import { lockKey, markerKey, runLvver, type LvverDeps, type LvverJob } from '../../services/lvver.js'
import { TokenBuckets } from '../../services/token-bucket.js'

function setup (locks: LockStore = new MemoryLockStore()) {
  const counts = { contention: 0, fallbackAllowed: 0, fallbackRejected: 0, exhausted: 0, warnings: 0 }
  const deps: LvverDeps = {
    locks,
    buckets: new TokenBuckets(2, 0.0001, new Set(['t'])),
    markerTtlMs: 60_000,
    log: { warn: () => { counts.warnings++ } },
    metrics: {
      lockContention: () => { counts.contention++ },
      lockFallback: (_type, allowed) => { allowed ? counts.fallbackAllowed++ : counts.fallbackRejected++ },
      lockTtlExhausted: () => { counts.exhausted++ }
    }
  }
  return { deps, counts }
}

function job (steps: string[], overrides: Partial<LvverJob<string>> = {}): LvverJob<string> {
  return {
    scope: 'test',
    id: 'id_1',
    type: 't',
    ttlMs: 1000,
    fenceConstraint: 'fence_pkey',
    findRecorded: async () => { steps.push('find'); return undefined },
    validate: () => { steps.push('validate'); return { ok: true } },
    execute: async () => { steps.push('execute'); return 'done' },
    recordIgnored: async () => { steps.push('ignore'); return 'ignored' },
    ...overrides
  }
}

const fenceError = () => Object.assign(new Error('Failed query'), { cause: { code: '23505', constraint: 'fence_pkey' } })

t.test('a new id: find, validate, execute in order; then the marker answers duplicates', async (t) => {
  const { deps } = setup()
  const steps: string[] = []
  t.same(await runLvver(deps, job(steps)), { kind: 'processed', result: 'done' })
  t.same(steps, ['find', 'validate', 'execute'])
  t.same(await runLvver(deps, job(steps)), { kind: 'duplicate', via: 'redis' })
  t.same(steps, ['find', 'validate', 'execute'], 'no step ran for the duplicate')
})

t.test('Postgres knows the id: duplicate with its stored result, and the marker is set', async (t) => {
  const { deps } = setup()
  const steps: string[] = []
  const outcome = await runLvver(deps, job(steps, { findRecorded: async () => 'stored' }))
  t.same(outcome, { kind: 'duplicate', via: 'postgres', result: 'stored' })
  t.equal(await deps.locks.acquire(lockKey('test', 'id_1'), markerKey('test', 'id_1'), 'x', 1000), 'processed')
})

t.test('validation failure records the id as ignored; a fence violation is a duplicate; other errors propagate', async (t) => {
  const { deps } = setup()
  const steps: string[] = []
  t.same(await runLvver(deps, job(steps, { id: 'a', validate: () => ({ ok: false, reason: 'nope' }) })), { kind: 'ignored', result: 'ignored', reason: 'nope' })
  t.same(await runLvver(deps, job(steps, { id: 'b', execute: async () => { throw fenceError() } })), { kind: 'duplicate', via: 'fence' })
  const other = Object.assign(new Error('x'), { cause: { code: '23505', constraint: 'another_unique' } })
  await t.rejects(runLvver(deps, job(steps, { id: 'c', execute: async () => { throw other } })), other)
  // The failed id left neither lock nor marker: the next attempt runs again.
  t.same(await runLvver(deps, job(steps, { id: 'c' })), { kind: 'processed', result: 'done' })
})

t.test('a held lock is in_progress and counted; the holder is untouched', async (t) => {
  const { deps, counts } = setup()
  await deps.locks.acquire(lockKey('test', 'id_1'), markerKey('test', 'id_1'), 'other', 10_000)
  const steps: string[] = []
  t.same(await runLvver(deps, job(steps)), { kind: 'in_progress' })
  t.same(steps, [])
  t.equal(counts.contention, 1)
})

t.test('a lease lost before release is counted and warned about', async (t) => {
  const { deps, counts } = setup()
  const steps: string[] = []
  await runLvver(deps, job(steps, {
    execute: async () => {
      // Another holder took the key meanwhile (as after an expiry).
      await deps.locks.release(lockKey('test', 'id_1'), markerKey('test', 'id_1'), 'unknown')
      ;(deps.locks as MemoryLockStore)['locks'].set(lockKey('test', 'id_1'), { value: 'successor', expiresAt: Date.now() + 10_000 })
      return 'done'
    }
  }))
  t.equal(counts.exhausted, 1)
  t.ok(counts.warnings >= 1)
})

t.test('a failing lock store falls back to the bucket: tokens let work through, then fallback_exhausted', async (t) => {
  const broken: LockStore = {
    kind: 'redis',
    isReady: () => true,
    acquire: async () => { throw new Error('Command timed out') },
    release: async () => { throw new Error('Command timed out') }
  }
  const { deps, counts } = setup(broken)
  const steps: string[] = []
  t.same(await runLvver(deps, job(steps, { id: '1' })), { kind: 'processed', result: 'done' })
  t.same(await runLvver(deps, job(steps, { id: '2' })), { kind: 'processed', result: 'done' })
  t.same(await runLvver(deps, job(steps, { id: '3' })), { kind: 'fallback_exhausted' })
  t.same(counts, { contention: 0, fallbackAllowed: 2, fallbackRejected: 1, exhausted: 0, warnings: 3 })
  t.same(steps.filter((s) => s === 'execute').length, 2, 'the refused request did no work')
})

t.test('MemoryLockStore: expiry, ownership, marker cap', async (t) => {
  let now = 0
  const store = new MemoryLockStore(2, () => now)
  t.equal(await store.acquire('l', 'm', 'a', 100), 'acquired')
  t.equal(await store.acquire('l', 'm', 'b', 100), 'held')
  now = 150
  t.equal(await store.acquire('l', 'm', 'b', 100), 'acquired', 'expired lease taken over')
  t.equal(await store.release('l', 'm', 'a'), false, 'not the owner')
  t.equal(await store.release('l', 'm', 'b', 1000), true)
  t.equal(await store.acquire('l', 'm', 'c', 100), 'processed')
  await store.release('l2', 'm2', 'x', 1000)
  await store.release('l3', 'm3', 'x', 1000)
  t.equal(await store.acquire('l', 'm', 'c', 100), 'acquired', 'the oldest marker was dropped at the cap')
})
