import t from 'tap'
import { OVERFLOW_KEY, TokenBucket, TokenBuckets } from '../../services/token-bucket.js'

t.test('a bucket gives its capacity at once, then refills at its rate', async (t) => {
  let now = 0
  const bucket = new TokenBucket(10, 10, () => now)
  const taken = Array.from({ length: 12 }, () => bucket.tryTake())
  t.same(taken.filter(Boolean).length, 10, 'ten at once')
  t.equal(taken[10], false)
  now += 100
  t.equal(bucket.tryTake(), true, 'one token after 100 ms at 10/s')
  t.equal(bucket.tryTake(), false)
  now += 10_000
  t.equal(Array.from({ length: 15 }, () => bucket.tryTake()).filter(Boolean).length, 10, 'never more than the capacity')
})

t.test('a clock going backwards mints no tokens', async (t) => {
  let now = 1000
  const bucket = new TokenBucket(1, 1, () => now)
  t.equal(bucket.tryTake(), true)
  now = 0
  t.equal(bucket.tryTake(), false)
})

t.test('buckets per type: known types are separate, unknown ones share one bucket, the map stays bounded', async (t) => {
  const now = 0
  const buckets = new TokenBuckets(2, 1, new Set(['a', 'b']), () => now)
  t.equal(buckets.tryTake('a'), true)
  t.equal(buckets.tryTake('a'), true)
  t.equal(buckets.tryTake('a'), false, 'a is empty')
  t.equal(buckets.tryTake('b'), true, 'b has its own tokens')
  t.equal(buckets.keyFor('zzz'), OVERFLOW_KEY)
  const novel = Array.from({ length: 1000 }, (_, i) => buckets.tryTake(`novel.${i}`))
  t.equal(novel.filter(Boolean).length, 2, 'a thousand novel types share two tokens')
  t.equal(buckets.size, 3, 'a, b and the overflow bucket')
})
