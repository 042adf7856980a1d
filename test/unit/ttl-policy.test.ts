// The lock TTL policy: extended for what may be a purchase and for the admin and member routes.
import t from 'tap'
import { lockTtlMs } from '../../services/ttl-policy.js'

const policy = { lockTtlSeconds: 30, lockTtlExtendedSeconds: 60 }

t.test('transaction.completed and the admin and member routes get the extended TTL', async (t) => {
  for (const type of ['transaction.completed', 'admin_boost', 'badge_purchase']) t.equal(lockTtlMs(type, policy), 60_000, type)
})

t.test('anything else gets the default, whatever its spelling', async (t) => {
  for (const other of ['', 'subscription.created', 'transaction.payment_failed', 'TRANSACTION.COMPLETED', ' transaction.completed', 'boost_purchase', 'other']) {
    t.equal(lockTtlMs(other, policy), 30_000, JSON.stringify(other))
  }
})

t.test('both values are configurable', async (t) => {
  const custom = { lockTtlSeconds: 1, lockTtlExtendedSeconds: 2 }
  t.equal(lockTtlMs('badge_purchase', custom), 2000)
  t.equal(lockTtlMs('subscription.updated', custom), 1000)
})
