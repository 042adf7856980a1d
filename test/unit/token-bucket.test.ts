// The fallback token bucket, on an injected clock.
import t from 'tap'
import { OVERFLOW_KEY, TokenBucket, TokenBuckets } from '../../services/token-bucket.js'

t.test('a full bucket gives its 10 tokens at once, then refuses', async (t) => {
  const now = 0
  const bucket = new TokenBucket(10, 10, () => now)
  const taken = Array.from({ length: 12 }, () => bucket.tryTake())
  t.same(taken, [...Array(10).fill(true), false, false])
})

t.test('it refills at its rate, fractions included, and never above its capacity', async (t) => {
  let now = 0
  const bucket = new TokenBucket(10, 10, () => now)
  for (let i = 0; i < 10; i++) bucket.tryTake()
  now += 99
  t.equal(bucket.tryTake(), false, '99 ms at 10/s: not yet a whole token')
  now += 1
  t.equal(bucket.tryTake(), true, '100 ms: one token')
  t.equal(bucket.tryTake(), false)
  now += 50
  t.equal(bucket.tryTake(), false, 'half a token')
  now += 50
  t.equal(bucket.tryTake(), true, 'the halves add up')
  now += 250
  t.equal([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()].filter(Boolean).length, 2, '250 ms: two and a half tokens')
  now += 60_000
  t.equal(Array.from({ length: 15 }, () => bucket.tryTake()).filter(Boolean).length, 10, 'a long pause refills to the capacity only')
})

t.test('other capacities and rates', async (t) => {
  let now = 0
  const bucket = new TokenBucket(3, 0.5, () => now)
  t.equal(Array.from({ length: 5 }, () => bucket.tryTake()).filter(Boolean).length, 3)
  now += 1999
  t.equal(bucket.tryTake(), false)
  now += 1
  t.equal(bucket.tryTake(), true, 'one token every 2 s at 0.5/s')
})

t.test('a clock going backwards mints no tokens', async (t) => {
  let now = 1000
  const bucket = new TokenBucket(1, 1, () => now)
  t.equal(bucket.tryTake(), true)
  now = 0
  t.equal(bucket.tryTake(), false)
  now = 999
  t.equal(bucket.tryTake(), false, 'time regained from the jump back is not counted twice')
  now = 1999
  t.equal(bucket.tryTake(), true)
})

t.test('one bucket per known type; every unknown type shares the overflow bucket; the map stays bounded', async (t) => {
  let now = 0
  const buckets = new TokenBuckets(2, 1, new Set(['a', 'b']), () => now)
  t.equal(buckets.keyFor('a'), 'a')
  t.equal(buckets.keyFor('zzz'), OVERFLOW_KEY)
  t.same([buckets.tryTake('a'), buckets.tryTake('a'), buckets.tryTake('a')], [true, true, false], 'a: two, then empty')
  t.equal(buckets.tryTake('b'), true, 'b has its own tokens')
  const novel = Array.from({ length: 10_000 }, (_, i) => buckets.tryTake(`novel.${i}`))
  t.equal(novel.filter(Boolean).length, 2, 'ten thousand novel types share two tokens: no fresh bucket per name')
  t.equal(buckets.size, 3, 'a, b and the overflow bucket: nothing else was stored')
  now += 1000
  t.equal(buckets.tryTake('a'), true, 'a refilled')
  t.equal(buckets.tryTake('anything.else'), true, 'the overflow bucket refills too')
  t.equal(buckets.size, 3)
})
