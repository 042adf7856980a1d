// DESIGN §5: each event type's effect in the database, delivered signed through the real route.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { buildTestApp } from '../helpers/app.js'
import { count } from '../helpers/lvver.js'
import { badgePurchaseEvent, boostPurchaseEvent, deliver, paddleEvent, paddleId, subscriptionEvent } from '../helpers/paddle.js'

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>
const dataOf = (event: Record<string, unknown>) => event.data as Record<string, unknown> & { id: string }

t.test('event handlers', async (t) => {
  const { app, database, logs } = await buildTestApp(t)
  const subscription = async (id: string) => {
    const [row] = await database.query('select * from subscriptions where id = $1', [id])
    if (row === undefined) throw new Error(`no subscription ${id}`)
    return row
  }
  const recorded = async (eventId: unknown) =>
    (await database.query('select status, reason from webhook_events where event_id = $1', [eventId]))[0]
  const send = async (event: Record<string, unknown>) => {
    const answer = await deliver(app, event)
    if (answer.statusCode !== 200) throw new Error(`${String(event.event_type)} answered ${answer.statusCode}: ${answer.body}`)
    return answer.json().status as string
  }

  t.test('subscription lifecycle: created, activated, updated, paused, resumed, past_due, canceled (tier back to starter)', async (t) => {
    const id = paddleId('sub')
    const at = (minute: number) => `2026-11-20T10:${String(minute).padStart(2, '0')}:00Z`
    const customer = paddleId('ctm')

    t.equal(await send(subscriptionEvent('subscription.created', id, { status: 'trialing', customer_id: customer }, at(1))), 'processed')
    let row = await subscription(id)
    t.match(row, { community_id: 'community_1', customer_id: customer, status: 'trialing', tier: 'pro', grace_until: null })
    t.same(row.current_period_end, new Date('2026-12-01T00:00:00Z'), 'period end from current_billing_period')
    t.same(row.last_event_at, new Date(at(1)))

    await send(subscriptionEvent('subscription.activated', id, { status: 'active', customer_id: customer }, at(2)))
    t.equal((await subscription(id)).status, 'active', 'activated')
    await send(subscriptionEvent('subscription.updated', id, { customer_id: customer, custom_data: { community_id: 'community_1', tier: 'business' } }, at(3)))
    t.equal((await subscription(id)).tier, 'business', 'updated: the tier from custom_data')
    await send(subscriptionEvent('subscription.paused', id, { status: 'paused', customer_id: customer }, at(4)))
    t.equal((await subscription(id)).status, 'paused', 'paused')
    await send(subscriptionEvent('subscription.resumed', id, { status: 'active', customer_id: customer }, at(5)))
    t.equal((await subscription(id)).status, 'active', 'resumed')
    await send(subscriptionEvent('subscription.past_due', id, { status: 'past_due', customer_id: customer }, at(6)))
    t.equal((await subscription(id)).status, 'past_due', 'past_due')
    // custom_data still says pro: cancellation downgrades regardless.
    await send(subscriptionEvent('subscription.canceled', id, { customer_id: customer, custom_data: { community_id: 'community_1', tier: 'pro' } }, at(7)))
    row = await subscription(id)
    t.match(row, { status: 'canceled', tier: 'starter', community_id: 'community_1', customer_id: customer }, 'canceled: tier starter')
    t.same(row.last_event_at, new Date(at(7)))
    t.equal(await count(database, "webhook_events where status = 'processed' and payload->'data'->>'id' = $1", [id]), 7, 'seven events recorded')
  })

  t.test('out of order: a stale subscription.updated after a newer one changes nothing', async (t) => {
    const id = paddleId('sub')
    await send(subscriptionEvent('subscription.updated', id, { custom_data: { community_id: 'community_2', tier: 'business' } }, '2026-11-20T12:00:00Z'))
    const before = await subscription(id)
    const stale = subscriptionEvent('subscription.updated', id, {
      status: 'past_due', customer_id: paddleId('ctm'), custom_data: { community_id: 'community_other', tier: 'pro' },
      current_billing_period: { starts_at: '2026-10-01T00:00:00Z', ends_at: '2026-11-01T00:00:00Z' }
    }, '2026-11-20T11:00:00Z')
    t.equal(await send(stale), 'processed', 'the stale event is recorded as seen (never retried)')
    t.same(await subscription(id), before, 'the row is exactly as the newer event left it')
    t.equal((await recorded(stale.event_id))?.status, 'processed')
  })

  t.test('boost purchase: a boosts row with community, member, months, amount and currency; expiry counted from the purchase', async (t) => {
    const event = { ...boostPurchaseEvent({ months: 6, community_id: 'community_3' }), occurred_at: '2026-11-20T10:00:00Z' }
    t.equal(await send(event), 'processed')
    const [boost] = await database.query('select * from boosts where transaction_id = $1', [dataOf(event).id])
    t.match(boost, { community_id: 'community_3', member_id: 'member_1', months: 6, source: 'purchase', amount: '1500', currency_code: 'USD' })
    t.same(boost?.created_at, new Date('2026-11-20T10:00:00Z'), 'bought when the event occurred')
    t.same(boost?.expires_at, new Date('2027-05-20T10:00:00Z'), 'expires six months later')

    const monthEnd = { ...boostPurchaseEvent({ months: 6, community_id: 'community_3' }), occurred_at: '2026-08-31T12:00:00Z' }
    await send(monthEnd)
    const [clamped] = await database.query('select expires_at from boosts where transaction_id = $1', [dataOf(monthEnd).id])
    t.same(clamped?.expires_at, new Date('2027-02-28T12:00:00Z'), 'Aug 31 + 6 months ends on the last day of February')
  })

  t.test('boost purchase in Paddle\'s full transaction.completed shape (fixture): processed, the whole payload kept', async (t) => {
    const full = fixture('paddle-transaction-completed.json')
    t.equal(await send(full), 'processed')
    const [boost] = await database.query('select * from boosts where transaction_id = $1', [dataOf(full).id])
    t.match(boost, { community_id: 'community_fixture', member_id: 'member_fixture', months: 3, amount: '1500', currency_code: 'USD', source: 'purchase' })
    const [row] = await database.query('select payload from webhook_events where event_id = $1', [full.event_id])
    t.same(row?.payload, full, 'items, details, payments, checkout... stored as received')
  })

  t.test('a second event id for the same transaction grants no second boost', async (t) => {
    const txn = paddleId('txn')
    t.equal(await send(boostPurchaseEvent({ community_id: 'community_4' }, txn)), 'processed')
    t.equal(await send(boostPurchaseEvent({ community_id: 'community_4' }, txn)), 'processed', 'a new event id is a new event')
    t.equal(await count(database, 'boosts where transaction_id = $1', [txn]), 1, 'but the transaction id is unique')
  })

  t.test('badge purchase: the pending row made at checkout is completed', async (t) => {
    await database.query("insert into badge_purchases (id, member_id, community_id, badge_id, status) values ('bp_pending_1', 'member_6', 'community_6', 'badge_6', 'pending')")
    const event = badgePurchaseEvent({ member_id: 'member_6', community_id: 'community_6', badge_id: 'badge_6', purchase_id: 'bp_pending_1' })
    t.equal(await send(event), 'processed')
    const rows = await database.query("select id, status, transaction_id, completed_at from badge_purchases where member_id = 'member_6'")
    t.equal(rows.length, 1, 'no second row')
    t.match(rows[0], { id: 'bp_pending_1', status: 'completed', transaction_id: dataOf(event).id })
    t.same(rows[0]?.completed_at, new Date(event.occurred_at as string))
  })

  t.test('badge purchase without a pending row: one completed row is inserted', async (t) => {
    const event = badgePurchaseEvent({ member_id: 'member_5', badge_id: 'badge_5' })
    t.equal(await send(event), 'processed')
    const rows = await database.query("select status, transaction_id from badge_purchases where member_id = 'member_5'")
    t.same(rows, [{ status: 'completed', transaction_id: dataOf(event).id }])
  })

  t.test('subscription.created in Paddle\'s full shape (fixture) is processed; payment_failed gives past_due with 24 h grace; completed clears it', async (t) => {
    const created = fixture('paddle-subscription-created.json')
    t.equal(await send(created), 'processed')
    const id = dataOf(created).id
    t.match(await subscription(id), { tier: 'pro', status: 'active', community_id: 'community_fixture', customer_id: dataOf(created).customer_id })

    const before = Date.now()
    await send(paddleEvent({ eventType: 'transaction.payment_failed', data: { id: paddleId('txn'), status: 'past_due', subscription_id: id } }))
    const after = Date.now()
    let row = await subscription(id)
    t.equal(row.status, 'past_due')
    const grace = new Date(row.grace_until).getTime()
    t.ok(grace >= before + 24 * 3600_000 - 1000 && grace <= after + 24 * 3600_000 + 1000, 'grace_until = delivery + 24 h')

    await send(paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), status: 'completed', subscription_id: id } }))
    row = await subscription(id)
    t.equal(row.status, 'active', 'paid: active again')
    t.equal(row.grace_until, null, 'grace cleared')
  })

  t.test('an unhandled event type is recorded as ignored with its reason, and never examined again', async (t) => {
    const unknown = paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } })
    t.same((await deliver(app, unknown)).json(), { status: 'ignored', eventId: unknown.event_id })
    t.match(await recorded(unknown.event_id), { status: 'ignored', reason: /customer\.updated.*not handled/ })
    t.same((await deliver(app, unknown)).json(), { status: 'duplicate', eventId: unknown.event_id })
  })

  t.test('a handled event missing the ids it needs is recorded as ignored with a reason, and logged as a warning', async (t) => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['subscription without data.id', paddleEvent({ eventType: 'subscription.updated', data: { status: 'active' } }), /data\.id/],
      ['boost without community_id', paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), custom_data: { type: 'boost_purchase' } } }), /community_id/],
      ['badge without badge_id', paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn'), custom_data: { type: 'badge_purchase', member_id: 'm', community_id: 'c' } } }), /badge_id/],
      ['payment_failed without subscription_id', paddleEvent({ eventType: 'transaction.payment_failed', data: { id: paddleId('txn'), subscription_id: null } }), /subscription_id/],
      ['transaction.completed for nothing we sell', paddleEvent({ eventType: 'transaction.completed', data: { id: paddleId('txn') } }), /boost, badge or subscription/]
    ]
    const rowsBefore = await count(database, 'boosts') + await count(database, 'badge_purchases') + await count(database, 'subscriptions')
    for (const [name, event, reason] of cases) {
      t.same((await deliver(app, event)).json(), { status: 'ignored', eventId: event.event_id }, name)
      t.match(await recorded(event.event_id), { status: 'ignored', reason }, `${name}: the reason is recorded`)
      const warning = logs.find((line) => line.includes(event.event_id as string) && line.includes('"level":40'))
      t.ok(warning !== undefined, `${name}: a warning names the event`)
      t.match(JSON.parse(warning ?? '{}'), { reason }, `${name}: and gives the reason`)
    }
    t.equal(await count(database, 'boosts') + await count(database, 'badge_purchases') + await count(database, 'subscriptions'), rowsBefore, 'no effect')
    const unhandled = paddleEvent({ eventType: 'payout.paid', data: { id: 'pay_1' } })
    await deliver(app, unhandled)
    t.notOk(logs.some((line) => line.includes(unhandled.event_id as string) && line.includes('"level":40')), 'an unhandled type is routine: no warning')
  })
})

t.test('out of order across transactions: a late payment_failed does not undo a newer payment', async (t) => {
  const { app, database } = await buildTestApp(t)
  const id = paddleId('sub')
  await deliver(app, subscriptionEvent('subscription.created', id, {}, '2026-11-20T10:00:00Z'))
  await deliver(app, paddleEvent({ eventType: 'transaction.completed', occurredAt: '2026-11-20T10:05:00Z', data: { id: paddleId('txn'), status: 'completed', subscription_id: id } }))
  const late = paddleEvent({ eventType: 'transaction.payment_failed', occurredAt: '2026-11-20T10:01:00Z', data: { id: paddleId('txn'), status: 'past_due', subscription_id: id } })
  t.equal((await deliver(app, late)).json().status, 'processed', 'recorded as seen')
  const [row] = await database.query('select status, grace_until, last_event_at from subscriptions where id = $1', [id])
  t.same(row, { status: 'active', grace_until: null, last_event_at: new Date('2026-11-20T10:05:00Z') })
  const stale = subscriptionEvent('subscription.past_due', id, { status: 'past_due' }, '2026-11-20T10:03:00Z')
  await deliver(app, stale)
  const [after] = await database.query('select status from subscriptions where id = $1', [id])
  t.equal(after?.status, 'active', 'a subscription event older than the payment changes nothing either')
})
