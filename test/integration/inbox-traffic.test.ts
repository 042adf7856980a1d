// What real checkouts and Paddle itself send, signed: every variant answers 200 and leaves a row holding
// the payload; it is applied where the data allows, and kept needs_review with a reason naming the field
// otherwise. Only a body without the four envelope fields is refused.
import t, { type Test } from 'tap'
import { HANDLED_EVENT_TYPES } from '../../services/events/index.js'
import { buildTestApp } from '../helpers/app.js'
import { count } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { ALL_PADDLE_EVENT_TYPES, EXAMPLE_PRICES, oneOffTransaction, realTrafficVariants, samplePaddleEvent, type TrafficVariant } from '../helpers/paddle-payloads.js'

type Json = Record<string, any>

interface EventRow { status: string, reason: string | null, attempts: number, payload: Json, occurred_at: string }

/** The microsecond timestamp Postgres keeps for an RFC 3339 time in UTC (Z or +00:00), nanoseconds cut. */
function microseconds (occurredAt: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?:Z|\+00:00)$/.exec(occurredAt)
  if (match === null) throw new Error(`not a UTC time: ${occurredAt}`)
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(9, '0').slice(0, 6)}Z`
}

/** Values of the payload that identify a buyer or a purchase: none may reach a log line. */
function payloadValues (event: Json): string[] {
  const data = event.data as Json
  const custom = data.custom_data !== null && typeof data.custom_data === 'object' ? data.custom_data as Json : {}
  return [data.id, data.customer_id, data.address_id, event.notification_id, ...Object.values(custom)]
    .filter((value): value is string => typeof value === 'string' && value.length >= 6)
}

t.test('real traffic: every variant is 200 and a row; applied where the data allows, needs_review naming the field otherwise', async (t) => {
  const { app, database, logs } = await buildTestApp(t)
  const variants = realTrafficVariants()
  t.ok(variants.length > 60, `${variants.length} variants`)

  const row = async (eventId: string) => (await database.query<EventRow>(
    `select status, reason, attempts, payload, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at
     from webhook_events where event_id = $1`, [eventId]))[0]

  const checkApplied = async (t: Test, variant: TrafficVariant) => {
    const data = variant.event.data as Json
    const applied = variant.applied ?? {}
    if (variant.kind === 'boost') {
      const boosts = await database.query<{ community_id: string, member_id: string | null, months: number, price_id: string, source: string }>(
        'select community_id, member_id, months, price_id, source from boosts where transaction_id = $1', [data.id])
      const byPrice = new Map(boosts.map((boost) => [boost.price_id, boost]))
      const paid = (data.items as Json[]).map((item) => item.price_id as string)
      t.equal(boosts.length, paid.length, 'one boost per paid boost price')
      t.same(paid.map((priceId) => byPrice.get(priceId)?.months), applied.boostMonths, 'months from the catalogue x quantity')
      for (const boost of boosts) {
        t.equal(boost.community_id, applied.communityId, 'for the community custom_data names')
        t.equal(boost.source, 'purchase')
        if (applied.memberId !== undefined) t.equal(boost.member_id, applied.memberId, 'by the member custom_data names')
      }
    } else if (variant.kind === 'badge') {
      const [purchase] = await database.query<{ status: string, transaction_id: string | null, member_id: string, badge_id: string }>(
        'select status, transaction_id, member_id, badge_id from badge_purchases where id = $1', [applied.purchaseId])
      t.match(purchase, { status: 'completed', transaction_id: data.id, member_id: applied.memberId, badge_id: applied.badgeId }, 'the pending purchase is completed')
    } else {
      const [subscription] = await database.query<{ community_id: string, tier: string }>(
        'select community_id, tier from subscriptions where id = $1', [data.id])
      t.match(subscription, { community_id: applied.communityId, tier: applied.tier }, 'the snapshot is applied, the tier from the price')
    }
  }

  const checkNothingApplied = async (t: Test, variant: TrafficVariant) => {
    const data = variant.event.data as Json
    if (variant.kind === 'boost') t.equal(await count(database, 'boosts where transaction_id = $1', [data.id]), 0, 'no boost granted')
    if (variant.kind === 'subscription') t.equal(await count(database, 'subscriptions where id = $1', [data.id]), 0, 'no subscription written')
    if (variant.kind === 'badge') {
      t.equal(await count(database, "badge_purchases where id = $1 and status = 'pending'", [variant.pendingBadge?.purchaseId]), 1, 'the purchase stays pending')
    }
  }

  for (const variant of variants) {
    await t.test(variant.name, async (t) => {
      const pending = variant.pendingBadge
      if (pending !== undefined) {
        await database.query("insert into badge_purchases (id, member_id, community_id, badge_id, price_id, status) values ($1, $2, $3, $4, $5, 'pending')",
          [pending.purchaseId, pending.memberId, pending.communityId, pending.badgeId, pending.priceId])
      }
      const eventId = variant.event.event_id as string
      const logged = logs.length
      const answer = await deliver(app, variant.event)
      t.equal(answer.statusCode, 200, `answered ${answer.body}`)
      t.same(answer.json(), { status: variant.expect, eventId })

      const kept = await row(eventId)
      t.ok(kept, 'a row')
      if (kept === undefined) return
      t.equal(kept.status, variant.expect)
      t.equal(kept.attempts, 1)
      t.same(kept.payload, variant.event, 'the row holds the payload as sent')
      t.equal(kept.occurred_at, microseconds(variant.event.occurred_at as string), 'occurred_at to the microsecond')

      const lines = logs.slice(logged).filter((line) => line.includes(eventId))
      const secrets = payloadValues(variant.event)
      for (const line of logs.slice(logged)) {
        for (const value of secrets) t.notOk(line.includes(value), `no payload value in the logs (${value.slice(0, 20)})`)
      }
      if (variant.expect === 'processed') {
        t.equal(kept.reason, null)
        await checkApplied(t, variant)
      } else {
        t.ok(kept.reason?.includes(variant.reasonField ?? '?'), `the reason names ${variant.reasonField}: ${kept.reason}`)
        const warning = lines.map((line) => JSON.parse(line) as Json).find((line) => line.level === 40)
        t.match(warning, { eventId, result: 'needs_review', reason: kept.reason }, 'a warning names the event and the reason')
        await checkNothingApplied(t, variant)
      }

      const again = await deliver(app, variant.event)
      t.same(again.json(), { status: 'duplicate', eventId }, 'the provider\'s retry is a duplicate')
    })
  }
})

t.test('one event of every Paddle event type: 200 and a row; handled types applied, the others ignored', async (t) => {
  const { app, database } = await buildTestApp(t)
  t.equal(new Set(ALL_PADDLE_EVENT_TYPES).size, ALL_PADDLE_EVENT_TYPES.length, 'the SDK\'s list of event names, each once')
  for (const type of ALL_PADDLE_EVENT_TYPES) {
    const event = samplePaddleEvent(type)
    const answer = await deliver(app, event)
    const expected = HANDLED_EVENT_TYPES.has(type) ? 'processed' : 'ignored'
    t.equal(answer.statusCode, 200, `${type}: 200 (${answer.body})`)
    t.same(answer.json(), { status: expected, eventId: event.event_id }, `${type}: ${expected}`)
    const [kept] = await database.query<{ event_type: string, status: string, reason: string | null, payload: Json }>(
      'select event_type, status, reason, payload from webhook_events where event_id = $1', [event.event_id])
    t.match(kept, { event_type: type, status: expected }, `${type}: a row`)
    t.same(kept?.payload, event, `${type}: the row holds the payload`)
    if (expected === 'ignored') t.match(kept?.reason, /no handler/, `${type}: the reason says why`)
  }
  t.equal(await count(database, 'webhook_events'), ALL_PADDLE_EVENT_TYPES.length, 'one row per event')
  t.equal(await count(database, "webhook_events where status = 'processed'"), HANDLED_EVENT_TYPES.size, 'every handled type applied')
})

t.test('the envelope: a signed body without one of its four fields is 400; U+0000 inside custom_data is kept needs_review', async (t) => {
  const { app, database } = await buildTestApp(t)
  for (const field of ['event_id', 'event_type', 'occurred_at', 'data']) {
    const event: Json = samplePaddleEvent('transaction.completed')
    delete event[field]
    const answer = await deliver(app, event)
    t.equal(answer.statusCode, 400, `without ${field}: 400`)
    t.equal(answer.json().error, 'invalid_envelope')
    t.match(answer.json().message, field === 'data' ? /data/ : new RegExp(field), `the message names ${field}`)
  }
  t.equal(await count(database, 'webhook_events'), 0, 'nothing recorded for a body that is not an event')

  const event = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'community_nul\u0000', note: 'a\u0000b' } })
  const body = JSON.stringify(event)
  t.match(body, /\\u0000/, 'the JSON carries the escaped NUL, as a client would send it')
  const answer = await deliver(app, body)
  t.equal(answer.statusCode, 200, answer.body)
  t.same(answer.json(), { status: 'needs_review', eventId: event.event_id })
  const [kept] = await database.query<{ status: string, reason: string, payload: Json }>('select status, reason, payload from webhook_events where event_id = $1', [event.event_id])
  t.equal(kept?.status, 'needs_review')
  t.match(kept?.reason, /custom_data.*U\+0000/, 'the reason names where the text could not be stored')
  t.equal(kept?.payload.data.custom_data.note, 'a\ufffdb', 'the payload is kept, the NUL replaced')
  t.equal(kept?.payload.data.id, event.data.id, 'and the rest as sent')
  t.equal(await count(database, 'boosts where transaction_id = $1', [event.data.id]), 0, 'nothing granted from it')
  t.same((await deliver(app, body)).json(), { status: 'duplicate', eventId: event.event_id }, 'the retry is a duplicate')
})
