// DESIGN §5: each event type's effect in the database, delivered through the real route.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { buildTestApp } from '../helpers/app.js'
import { badgePurchaseEvent, boostPurchaseEvent, deliver, paddleEvent, paddleId, subscriptionEvent } from '../helpers/paddle.js'

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>

t.test('event handlers', async (t) => {
  const { app, database, logs } = await buildTestApp(t)
  const subscription = async (id: string) => {
    const [row] = await database.query('select * from subscriptions where id = $1', [id])
    if (row === undefined) throw new Error(`no subscription ${id}`)
    return row
  }

  t.test('subscription lifecycle: created, updated, paused, resumed, past_due, canceled downgrades to starter', async (t) => {
    const id = paddleId('sub')
    const at = (minute: number) => `2026-11-20T10:${String(minute).padStart(2, '0')}:00Z`
    t.equal((await deliver(app, subscriptionEvent('subscription.created', id, {}, at(1)))).json().status, 'processed')
    let row = await subscription(id)
    t.match(row, { community_id: 'community_1', status: 'active', tier: 'pro' })
    t.same(row.current_period_end, new Date('2026-12-01T00:00:00Z'))

    await deliver(app, subscriptionEvent('subscription.activated', id, {}, at(2)))
    await deliver(app, subscriptionEvent('subscription.updated', id, { custom_data: { community_id: 'community_1', tier: 'business' } }, at(3)))
    t.equal((await subscription(id)).tier, 'business')
    await deliver(app, subscriptionEvent('subscription.paused', id, { status: 'paused' }, at(4)))
    t.equal((await subscription(id)).status, 'paused')
    await deliver(app, subscriptionEvent('subscription.resumed', id, { status: 'active' }, at(5)))
    t.equal((await subscription(id)).status, 'active')
    await deliver(app, subscriptionEvent('subscription.past_due', id, { status: 'past_due' }, at(6)))
    t.equal((await subscription(id)).status, 'past_due')
    await deliver(app, subscriptionEvent('subscription.canceled', id, { custom_data: { community_id: 'community_1' } }, at(7)))
    row = await subscription(id)
    t.match(row, { status: 'canceled', tier: 'starter' })
    t.same(row.last_event_at, new Date(at(7)))
  })

  t.test('out of order: a stale subscription.updated after a newer event changes nothing', async (t) => {
    const id = paddleId('sub')
    await deliver(app, subscriptionEvent('subscription.updated', id, { custom_data: { community_id: 'community_2', tier: 'business' } }, '2026-11-20T12:00:00Z'))
    const stale = subscriptionEvent('subscription.updated', id, { status: 'past_due', custom_data: { community_id: 'community_2', tier: 'pro' } }, '2026-11-20T11:00:00Z')
    t.equal((await deliver(app, stale)).json().status, 'processed', 'recorded as seen')
    t.match(await subscription(id), { tier: 'business', status: 'active' })
    t.same((await subscription(id)).last_event_at, new Date('2026-11-20T12:00:00Z'))
  })

  t.test('boost purchase: a boosts row with months, amount and currency; the fixture in Paddle\'s full shape works', async (t) => {
    const event = boostPurchaseEvent({ months: 6, community_id: 'community_3' })
    t.equal((await deliver(app, event)).json().status, 'processed')
    const [boost] = await database.query('select * from boosts where transaction_id = $1', [(event.data as { id: string }).id])
    t.match(boost, { community_id: 'community_3', member_id: 'member_1', months: 6, source: 'purchase', amount: '1500', currency_code: 'USD' })

    const full = fixture('paddle-transaction-completed.json')
    t.equal((await deliver(app, full)).json().status, 'processed')
    const [fromFixture] = await database.query('select * from boosts where transaction_id = $1', ['txn_01hv8wzr6s5q4p3n2m1k0j9h8g'])
    t.match(fromFixture, { community_id: 'community_fixture', months: 3, amount: '1500' })
    const [recorded] = await database.query('select payload from webhook_events where event_id = $1', [full.event_id])
    t.same(recorded?.payload, full, 'the whole payload is kept')
  })

  t.test('a second event id for the same transaction grants no second boost', async (t) => {
    const txn = paddleId('txn')
    await deliver(app, boostPurchaseEvent({ community_id: 'community_4' }, txn))
    t.equal((await deliver(app, boostPurchaseEvent({ community_id: 'community_4' }, txn))).json().status, 'processed')
    const rows = await database.query('select count(*)::int as n from boosts where transaction_id = $1', [txn])
    t.equal(rows[0]?.n, 1)
  })

  t.test('badge purchase without a pending row: one completed row', async (t) => {
    const event = badgePurchaseEvent({ member_id: 'member_5', badge_id: 'badge_5' })
    await deliver(app, event)
    await deliver(app, event)
    const rows = await database.query("select status from badge_purchases where member_id = 'member_5'")
    t.same(rows, [{ status: 'completed' }])
  })

  t.test('subscription transactions: payment_failed gives past_due with 24 h grace, completed clears it', async (t) => {
    const fixtureSub = fixture('paddle-subscription-created.json')
    t.equal((await deliver(app, fixtureSub)).json().status, 'processed')
    const id = (fixtureSub.data as { id: string }).id
    t.match(await subscription(id), { tier: 'pro', status: 'active', community_id: 'community_fixture' })

    const before = Date.now()
    await deliver(app, paddleEvent({ eventType: 'transaction.payment_failed', data: { id: paddleId('txn'), status: 'past_due', subscription_id: id } }))
    let row = await subscription(id)
    t.equal(row.status, 'past_due')
    const grace = new Date(row.grace_until).getTime() - before
    t.ok(grace > 23.9 * 3600_000 && grace < 24.1 * 3600_000, 'grace of about 24 hours')

    await deliver(app, paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), status: 'completed', subscription_id: id } }))
    row = await subscription(id)
    t.equal(row.status, 'active')
    t.equal(row.grace_until, null)
  })

  t.test('unhandled types are recorded as ignored; handled ones missing their ids too, with a warning', async (t) => {
    const unknown = paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } })
    t.same((await deliver(app, unknown)).json(), { status: 'ignored', eventId: unknown.event_id })
    t.same((await deliver(app, unknown)).json(), { status: 'duplicate', eventId: unknown.event_id }, 'never examined again')
    const [row] = await database.query('select status, reason from webhook_events where event_id = $1', [unknown.event_id])
    t.match(row, { status: 'ignored', reason: /not handled/ })

    const missing = paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), custom_data: { type: 'boost_purchase' } } })
    t.equal((await deliver(app, missing)).json().status, 'ignored')
    const [missingRow] = await database.query('select status, reason from webhook_events where event_id = $1', [missing.event_id])
    t.match(missingRow, { status: 'ignored', reason: /community_id/ })
    t.ok(logs.some((line) => line.includes('"level":40') && line.includes(missing.event_id as string)), 'a warning names the event')
  })
})
