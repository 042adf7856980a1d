// The lock TTL policy (DESIGN §2 step 1): extended for purchases, the default for anything else.
import t from 'tap'
import { lockTtlMs } from '../../services/ttl-policy.js'

const policy = { lockTtlSeconds: 30, lockTtlExtendedSeconds: 60 }

t.test('boost and badge purchases get the extended TTL', async (t) => {
  t.equal(lockTtlMs('boost_purchase', policy), 60_000)
  t.equal(lockTtlMs('badge_purchase', policy), 60_000)
})

t.test('anything else, present or not, of any type, gets the default', async (t) => {
  for (const other of [undefined, null, '', 'subscription', 'gift_card', 'BOOST_PURCHASE', ' boost_purchase', 'boost_purchase ', 42, true, ['boost_purchase'], { type: 'boost_purchase' }]) {
    t.equal(lockTtlMs(other, policy), 30_000, JSON.stringify(other) ?? 'undefined')
  }
})

t.test('both values are configurable', async (t) => {
  const custom = { lockTtlSeconds: 1, lockTtlExtendedSeconds: 2 }
  t.equal(lockTtlMs('badge_purchase', custom), 2000)
  t.equal(lockTtlMs(undefined, custom), 1000)
})
