// LVVER steps 2, 3 and 5's fence: an event already applied is answered 200 duplicate, with no second
// effect, whether Redis remembers it or only Postgres does.
import t from 'tap'
import { Redis } from 'ioredis'
import { buildTestApp, metricValue } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { count, lockKeyOf, markerKeyOf } from '../helpers/lvver.js'
import { boostPurchaseEvent, deliver, paddleEvent, paddleId, subscriptionEvent } from '../helpers/paddle.js'

t.test('duplicates', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const markerTtlMs = config.processedTtlSeconds * 1000

  t.test('already processed: 200 duplicate, and no second effect', async (t) => {
    const event = boostPurchaseEvent({ community_id: 'community_dup' })
    t.same((await deliver(app, event)).json(), { status: 'processed', eventId: event.event_id })
    const marker = markerKeyOf(config, event.event_id)
    const ttl = await redis.pttl(marker)
    t.ok(ttl > markerTtlMs - 60_000 && ttl <= markerTtlMs, `the marker lives PROCESSED_TTL_SECONDS (${ttl} ms)`)

    for (let i = 0; i < 3; i++) {
      const again = await deliver(app, event)
      t.equal(again.statusCode, 200)
      t.same(again.json(), { status: 'duplicate', eventId: event.event_id })
    }
    t.equal(await count(database, "boosts where community_id = 'community_dup'"), 1, 'one boost')
    t.equal(await count(database, 'webhook_events where event_id = $1', [event.event_id]), 1, 'one record')
    t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'no lease left behind by the duplicates')
    t.equal(await metricValue(app, 'webhook_events_total', { event_type: 'transaction.completed', result: 'duplicate' }), 3)
  })

  t.test('only Postgres knows it (marker deleted): 200 duplicate, no second effect, and the marker is set again', async (t) => {
    const event = boostPurchaseEvent({ member_id: 'member_dup' })
    t.equal((await deliver(app, event)).json().status, 'processed')
    const marker = markerKeyOf(config, event.event_id)
    t.equal(await redis.del(marker), 1, 'Redis forgot the event (eviction, failover, flush)')

    const again = await deliver(app, event)
    t.equal(again.statusCode, 200)
    t.same(again.json(), { status: 'duplicate', eventId: event.event_id })
    const ttl = await redis.pttl(marker)
    t.ok(ttl > markerTtlMs - 60_000 && ttl <= markerTtlMs, `the marker is set again, with its full TTL (${ttl} ms)`)
    t.same(await database.query("select months from boosts where member_id = 'member_dup'"), [{ months: 3 }], 'one boost')
    t.equal(await count(database, 'webhook_events where event_id = $1', [event.event_id]), 1)
    t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'the lease is released')
    t.same((await deliver(app, event)).json().status, 'duplicate', 'and the next one is answered from Redis again')
  })

  t.test('a subscription event delivered again after a later one does not overwrite it', async (t) => {
    const id = paddleId('sub')
    const created = subscriptionEvent('subscription.created', id, {}, '2026-11-20T10:00:00Z')
    await deliver(app, created)
    await deliver(app, subscriptionEvent('subscription.paused', id, { status: 'paused' }, '2026-11-20T11:00:00Z'))
    await redis.del(markerKeyOf(config, created.event_id))
    t.equal((await deliver(app, created)).json().status, 'duplicate')
    t.same(await database.query('select status from subscriptions where id = $1', [id]), [{ status: 'paused' }], 'still paused')
  })

  t.test('an ignored event is never examined again: duplicate from Redis, and from Postgres', async (t) => {
    const event = paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } })
    t.equal((await deliver(app, event)).json().status, 'ignored')
    t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 1, 'ignored events get the marker too')
    t.equal((await deliver(app, event)).json().status, 'duplicate')
    await redis.del(markerKeyOf(config, event.event_id))
    t.equal((await deliver(app, event)).json().status, 'duplicate', 'Postgres holds the ignored record')
    t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 1)
    t.same(await database.query('select status from webhook_events where event_id = $1', [event.event_id]), [{ status: 'ignored' }])
  })

  t.test('the same event delivered ten times at once: one processed, the rest 409 or duplicate, one effect', async (t) => {
    const event = boostPurchaseEvent({ community_id: 'community_burst' })
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(app, event)))
    const statuses = answers.map((a) => (a.statusCode === 200 ? a.json().status : a.statusCode))
    t.equal(statuses.filter((s) => s === 'processed').length, 1, `one processed (${statuses.join(', ')})`)
    t.ok(statuses.every((s) => s === 'processed' || s === 'duplicate' || s === 409), 'the others were told it is done or in progress')
    t.equal(await count(database, "boosts where community_id = 'community_burst'"), 1, 'one boost')
  })
})
