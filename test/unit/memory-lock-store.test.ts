// The in-process lock store (one replica, no REDIS_URL): the same semantics as the Redis scripts, on an
// injected clock.
import t from 'tap'
import { MemoryLockStore } from '../../services/lock-store.js'

function store (maxMarkers = 100) {
  const clock = { now: 1_000 }
  return { clock, locks: new MemoryLockStore(maxMarkers, () => clock.now) }
}

t.test('a lease is exclusive until it expires, then anyone may take it', async (t) => {
  const { clock, locks } = store()
  t.equal(locks.isReady(), true)
  t.equal(locks.kind, 'memory')
  t.equal(await locks.acquire('lock:a', 'processed:a', 'one', 100, true), 'acquired')
  t.equal(await locks.acquire('lock:a', 'processed:a', 'two', 100, true), 'held')
  t.equal(await locks.acquire('lock:b', 'processed:b', 'two', 100, true), 'acquired', 'another key is independent')
  clock.now += 99
  t.equal(await locks.acquire('lock:a', 'processed:a', 'two', 100, true), 'held', 'still held 1 ms before expiry')
  clock.now += 1
  t.equal(await locks.acquire('lock:a', 'processed:a', 'two', 100, true), 'acquired', 'free at the expiry')
})

t.test('only the owner releases: the first holder of an expired lease cannot free its successor', async (t) => {
  const { clock, locks } = store()
  await locks.acquire('lock:a', 'processed:a', 'first', 100, true)
  clock.now += 150
  await locks.acquire('lock:a', 'processed:a', 'second', 100, true)
  t.equal(await locks.release('lock:a', 'processed:a', 'first'), false, 'the first learns its lease was lost')
  t.equal(await locks.acquire('lock:a', 'processed:a', 'third', 100, true), 'held', 'the successor still holds it')
  t.equal(await locks.release('lock:a', 'processed:a', 'second'), true)
  t.equal(await locks.acquire('lock:a', 'processed:a', 'third', 100, true), 'acquired', 'freed by its owner')
  t.equal(await locks.release('lock:z', 'processed:z', 'nobody'), false, 'releasing what nobody holds is false')
})

t.test('the marker: set by release when asked, answers acquire with processed, expires with its TTL', async (t) => {
  const { clock, locks } = store()
  await locks.acquire('lock:a', 'processed:a', 'one', 100, true)
  t.equal(await locks.release('lock:a', 'processed:a', 'one'), true)
  t.equal(await locks.acquire('lock:a', 'processed:a', 'two', 100, true), 'acquired', 'no marker without a marker TTL')
  t.equal(await locks.release('lock:a', 'processed:a', 'two', 1_000), true)
  t.equal(await locks.acquire('lock:a', 'processed:a', 'three', 100, true), 'processed')
  t.equal(await locks.acquire('lock:a', 'processed:a', 'four', 100, true), 'processed', 'and the check left no lease behind')
  clock.now += 1_000
  t.equal(await locks.acquire('lock:a', 'processed:a', 'five', 100, true), 'acquired', 'the marker expired')
})

t.test('a lost lease still records the marker: the work was done', async (t) => {
  const { clock, locks } = store()
  await locks.acquire('lock:a', 'processed:a', 'first', 100, true)
  clock.now += 150
  t.equal(await locks.release('lock:a', 'processed:a', 'first', 1_000), false)
  t.equal(await locks.acquire('lock:a', 'processed:a', 'second', 100, true), 'processed')
})

t.test('markers are capped: the oldest goes first, and refreshing one makes it young again', async (t) => {
  const { locks } = store(2)
  await locks.release('lock:1', 'processed:1', 'x', 60_000)
  await locks.release('lock:2', 'processed:2', 'x', 60_000)
  await locks.release('lock:1', 'processed:1', 'x', 60_000)
  await locks.release('lock:3', 'processed:3', 'x', 60_000)
  t.equal(await locks.acquire('lock:2', 'processed:2', 'y', 100, true), 'acquired', 'the oldest marker (2) was dropped')
  t.equal(await locks.acquire('lock:1', 'processed:1', 'y', 100, true), 'processed', '1 was refreshed, so it stayed')
  t.equal(await locks.acquire('lock:3', 'processed:3', 'y', 100, true), 'processed')
})

t.test('checkMarker false (a replay) looks past the marker: the lease is taken, and the marker stays', async (t) => {
  const { locks } = store()
  await locks.release('lock:a', 'processed:a', 'one', 1_000)
  t.equal(await locks.acquire('lock:a', 'processed:a', 'two', 100, false), 'acquired', 'past the marker')
  t.equal(await locks.acquire('lock:a', 'processed:a', 'three', 100, false), 'held', 'and the lease is exclusive all the same')
  t.equal(await locks.release('lock:a', 'processed:a', 'two'), true)
  t.equal(await locks.acquire('lock:a', 'processed:a', 'four', 100, true), 'processed', 'the marker is still there for deliveries')
})
