// What each handled Paddle event does to the tables, with payloads in Paddle's documented shapes and the
// example catalogue's prices: grants come from the price paid, custom_data only says who.
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, newPaddleId, oneOffTransaction, subscriptionSnapshot, subscriptionTransaction } from '../helpers/paddle-payloads.js'

t.test('event handlers', async (t) => {
  const { app, database } = await buildTestApp(t, { redisUrl: null })

  const send = async (event: { event_id: string }) => {
    const response = await deliver(app, event)
    t.equal(response.statusCode, 200, `${event.event_id} answered ${response.body}`)
    return response.json() as { status: string, eventId: string }
  }
  const row = async (table: string, where: string, values: unknown[]) => (await database.query(`select * from ${table} where ${where}`, values))[0]

  t.test('subscription snapshots: the tier comes from the recurring price, canceled falls back to starter', async (t) => {
    const subscriptionId = newPaddleId('sub')
    const customData = { community_id: 42 }
    t.equal((await send(subscriptionSnapshot('subscription.created', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData, occurredAt: '2026-11-01T10:00:00.000001Z' }))).status, 'processed')
    t.match(await row('subscriptions', 'id = $1', [subscriptionId]), { community_id: '42', tier: 'pro', status: 'active', snapshot_status: 'active', grace_until: null })
    await send(subscriptionSnapshot('subscription.updated', { subscriptionId, priceId: EXAMPLE_PRICES.business, customData, occurredAt: '2026-11-02T10:00:00Z' }))
    t.match(await row('subscriptions', 'id = $1', [subscriptionId]), { tier: 'business' })
    await send(subscriptionSnapshot('subscription.canceled', { subscriptionId, priceId: EXAMPLE_PRICES.business, customData, occurredAt: '2026-11-03T10:00:00Z' }))
    t.match(await row('subscriptions', 'id = $1', [subscriptionId]), { tier: 'starter', status: 'canceled', current_period_end: null })
    const [kept] = await database.query<{ occurred_at: string }>("select occurred_at::text from webhook_events where event_type = 'subscription.created' and payload->'data'->>'id' = $1", [subscriptionId])
    t.equal(kept?.occurred_at, '2026-11-01 10:00:00.000001+00', 'occurred_at kept to the microsecond')
  })

  t.test('a stale snapshot after a newer one changes nothing, and is still processed', async (t) => {
    const subscriptionId = newPaddleId('sub')
    const customData = { community_id: 'c1' }
    await send(subscriptionSnapshot('subscription.updated', { subscriptionId, priceId: EXAMPLE_PRICES.business, customData, occurredAt: '2026-11-02T10:00:00Z' }))
    t.equal((await send(subscriptionSnapshot('subscription.created', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData, occurredAt: '2026-11-01T10:00:00Z' }))).status, 'processed')
    t.match(await row('subscriptions', 'id = $1', [subscriptionId]), { tier: 'business' })
  })

  t.test('a paid upgrade is not lost: the proration payment before the older snapshot', async (t) => {
    const subscriptionId = newPaddleId('sub')
    const customData = { community_id: 'c2' }
    await send(subscriptionTransaction('transaction.completed', { subscriptionId, priceId: EXAMPLE_PRICES.business, occurredAt: '2026-11-05T10:00:02Z' }))
    await send(subscriptionSnapshot('subscription.updated', { subscriptionId, priceId: EXAMPLE_PRICES.business, customData, occurredAt: '2026-11-05T10:00:00Z' }))
    t.match(await row('subscriptions', 'id = $1', [subscriptionId]), { tier: 'business', status: 'active', community_id: 'c2', payment_status: 'paid' })
  })

  t.test('an early payment failure is kept until the snapshot arrives', async (t) => {
    const subscriptionId = newPaddleId('sub')
    await send(subscriptionTransaction('transaction.payment_failed', { subscriptionId, priceId: EXAMPLE_PRICES.pro, occurredAt: '2026-11-06T10:00:00Z' }))
    await send(subscriptionSnapshot('subscription.created', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c3' }, occurredAt: '2026-11-01T10:00:00Z' }))
    const sub = await row('subscriptions', 'id = $1', [subscriptionId])
    t.match(sub, { status: 'past_due', tier: 'pro', community_id: 'c3' })
    t.equal((sub?.grace_until as Date).toISOString(), '2026-11-07T10:00:00.000Z', '24 hours of grace from the failure')
    await send(subscriptionTransaction('transaction.completed', { subscriptionId, priceId: EXAMPLE_PRICES.pro, occurredAt: '2026-11-06T12:00:00Z' }))
    t.match(await row('subscriptions', 'id = $1', [subscriptionId]), { status: 'active', grace_until: null })
  })

  t.test('boosts: catalogue months x quantity per paid boost price; custom_data months are ignored', async (t) => {
    const transactionId = newPaddleId('txn')
    const event = oneOffTransaction({
      transactionId,
      occurredAt: '2026-08-31T12:00:00Z',
      items: [{ priceId: EXAMPLE_PRICES.boost3, quantity: 2 }, { priceId: EXAMPLE_PRICES.boost1 }],
      customData: { community_id: 'c4', member_id: 7, months: 24 }
    })
    t.equal((await send(event)).status, 'processed')
    const boosts = await database.query<{ months: number, member_id: string, price_id: string, expires_at: Date, created_at: Date, source: string }>(
      'select * from boosts where transaction_id = $1 order by months', [transactionId])
    t.same(boosts.map((b) => [b.price_id, b.months]), [[EXAMPLE_PRICES.boost1, 1], [EXAMPLE_PRICES.boost3, 6]], 'one row per paid price')
    t.equal(boosts[0]?.member_id, '7', 'a numeric member id becomes its decimal string')
    t.equal(boosts[0]?.source, 'purchase')
    t.equal(boosts[1]?.expires_at.toISOString(), '2027-02-28T12:00:00.000Z', 'Aug 31 + 6 months ends on the last day of February')
    t.equal(boosts[0]?.created_at.toISOString(), '2026-08-31T12:00:00.000Z', 'bought when the event occurred')

    const again = { ...event, event_id: newPaddleId('evt') }
    t.equal((await send(again)).status, 'processed', 'the same transaction re-notified under another event id')
    t.equal((await database.query('select 1 from boosts where transaction_id = $1', [transactionId])).length, 2, 'grants nothing twice')
  })

  t.test('an unknown price, or a boost for nobody, waits for review and grants nothing', async (t) => {
    const unknown = oneOffTransaction({ items: [{ priceId: 'pri_01unknown00000000000000000' }], customData: { community_id: 'c5' } })
    t.equal((await send(unknown)).status, 'needs_review')
    const nobody = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost1 }], customData: null })
    t.equal((await send(nobody)).status, 'needs_review')
    const reasons = await database.query<{ reason: string }>('select reason from webhook_events where event_id = any($1) order by event_id', [[unknown.event_id, nobody.event_id]])
    t.match(reasons.map((r) => r.reason).sort(), [/custom_data\.community_id is missing|not in the catalogue/, /custom_data\.community_id is missing|not in the catalogue/])
    t.equal((await database.query("select 1 from boosts where community_id = 'c5'")).length, 0)
  })

  t.test('badges: the right price and member complete the pending purchase; anything else waits for review', async (t) => {
    const purchase = async (id: string, badge: string, member = 'm1') => database.query(
      "insert into badge_purchases (id, member_id, community_id, badge_id, price_id, status) values ($1, $2, 'c6', $3, $4, 'pending')",
      [id, member, badge, badge === 'badge_gold' ? EXAMPLE_PRICES.badgeGold : EXAMPLE_PRICES.badgeSilver])
    await purchase('bp_gold', 'badge_gold')
    const cheap = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeSilver }], customData: { member_id: 'm1', purchase_id: 'bp_gold' } })
    t.equal((await send(cheap)).status, 'needs_review', 'a cheaper badge\'s price cannot complete the gold purchase')
    const other = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeGold }], customData: { member_id: 'm2', purchase_id: 'bp_gold' } })
    t.equal((await send(other)).status, 'needs_review', 'another member cannot complete it')
    t.match(await row('badge_purchases', 'id = $1', ['bp_gold']), { status: 'pending' })
    const paid = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeGold }], customData: { member_id: 'm1', purchase_id: 'bp_gold' } })
    t.equal((await send(paid)).status, 'processed')
    t.match(await row('badge_purchases', 'id = $1', ['bp_gold']), { status: 'completed', transaction_id: paid.data.id })
    const renotified = { ...paid, event_id: newPaddleId('evt') }
    t.equal((await send(renotified)).status, 'processed', 'the same transaction again changes nothing')
    const second = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeGold }], customData: { member_id: 'm1', purchase_id: 'bp_gold' } })
    t.equal((await send(second)).status, 'needs_review', 'a second payment for a completed purchase waits for review')
    const reasons = await database.query<{ reason: string }>('select reason from webhook_events where event_id = any($1)', [[cheap.event_id, other.event_id, second.event_id]])
    t.equal(reasons.filter((r) => /another badge|another member|another transaction/.test(r.reason)).length, 3, 'each reason says why')
  })

  t.test('an unhandled event type is recorded ignored with its reason, and never examined again', async (t) => {
    const event = { event_id: newPaddleId('evt'), event_type: 'customer.updated', occurred_at: '2026-11-01T10:00:00.123456Z', notification_id: newPaddleId('ntf'), data: { id: newPaddleId('ctm') } }
    t.equal((await send(event)).status, 'ignored')
    t.equal((await send(event)).status, 'duplicate')
    t.match(await row('webhook_events', 'event_id = $1', [event.event_id]), { status: 'ignored', reason: /no handler/, attempts: 1 })
  })
})
