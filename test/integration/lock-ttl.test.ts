// The lease's TTL, read with PTTL on the real Redis key while the request is in flight: 30 s by default,
// 60 s for what may be a purchase (every transaction.completed), both configurable.
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { lockKeyOf, slowEveryInsert, until } from '../helpers/lvver.js'
import { badgePurchaseEvent, boostPurchaseEvent, deliver, paddleEvent, paddleId, subscriptionEvent } from '../helpers/paddle.js'

/** Delivers `event` and reads the PTTL of its lease once the lease exists (the handler is slowed meanwhile). */
async function leaseTtl (app: FastifyInstance, config: Config, redis: Redis, event: Record<string, unknown>): Promise<number> {
  const lock = lockKeyOf(config, event.event_id)
  const pending = deliver(app, event)
  const ttl = await until(`the lease of ${String(event.event_id)}`, async () => {
    const ms = await redis.pttl(lock)
    return ms >= 0 ? ms : undefined
  })
  const answer = await pending
  if (answer.statusCode !== 200) throw new Error(`delivery answered ${answer.statusCode}: ${answer.body}`)
  return ttl
}

t.test('lock TTLs with the default configuration', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  // Every record insert sleeps, so each request holds its lease long enough to be looked at.
  await slowEveryInsert(database, 'webhook_events', 0.5)
  const between = (low: number, high: number) => (ms: number) => ms > low && ms <= high

  const cases: Array<[string, Record<string, unknown>, (ms: number) => boolean]> = [
    ['a subscription event: 30 s', subscriptionEvent('subscription.created', paddleId('sub')), between(29_000, 30_000)],
    ['a boost purchase: 60 s', boostPurchaseEvent(), between(59_000, 60_000)],
    ['a badge purchase: 60 s', badgePurchaseEvent(), between(59_000, 60_000)],
    // Whether a transaction.completed is a purchase is known only once its prices are read, after the lock.
    ['a subscription\'s transaction.completed: 60 s',
      paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), subscription_id: paddleId('sub'), custom_data: null } }), between(59_000, 60_000)],
    ['a payment failure: 30 s',
      paddleEvent({ eventType: 'transaction.payment_failed', data: { id: paddleId('txn'), subscription_id: paddleId('sub') } }), between(29_000, 30_000)],
    ['an unhandled event type: 30 s', paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } }), between(29_000, 30_000)]
  ]
  for (const [name, event, ok] of cases) {
    const ttl = await leaseTtl(app, config, redis, event)
    t.ok(ok(ttl), `${name} (PTTL ${ttl} ms)`)
  }
})

t.test('lock TTLs follow LOCK_TTL_SECONDS and LOCK_TTL_EXTENDED_SECONDS', async (t) => {
  const { app, config, database } = await buildTestApp(t, { config: { lockTtlSeconds: 5, lockTtlExtendedSeconds: 7 } })
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  await slowEveryInsert(database, 'webhook_events', 0.5)
  const plain = await leaseTtl(app, config, redis, subscriptionEvent('subscription.updated', paddleId('sub')))
  t.ok(plain > 4_000 && plain <= 5_000, `default: ${plain} ms`)
  const boost = await leaseTtl(app, config, redis, boostPurchaseEvent())
  t.ok(boost > 6_000 && boost <= 7_000, `extended: ${boost} ms`)
})
