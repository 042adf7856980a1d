import t from 'tap'
import { lockTtlMs } from '../../services/ttl-policy.js'

t.test('lock TTL: extended for boost and badge purchases, default for anything else', async (t) => {
  const policy = { lockTtlSeconds: 30, lockTtlExtendedSeconds: 60 }
  t.equal(lockTtlMs('boost_purchase', policy), 60_000)
  t.equal(lockTtlMs('badge_purchase', policy), 60_000)
  for (const other of [undefined, null, '', 'subscription', 'BOOST_PURCHASE', 42, { type: 'boost_purchase' }]) {
    t.equal(lockTtlMs(other, policy), 30_000, JSON.stringify(other) ?? 'undefined')
  }
  t.equal(lockTtlMs('badge_purchase', { lockTtlSeconds: 1, lockTtlExtendedSeconds: 2 }), 2000, 'configurable')
})
