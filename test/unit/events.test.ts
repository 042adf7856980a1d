// planEvent (LVVER's VALIDATE, pure) with the example catalogue, on events built as Paddle documents them
// (test/helpers/paddle-payloads.ts): what is granted comes from the price paid, custom_data only says who,
// and every event that cannot be applied as sent is kept needs_review with a reason that names its field.
import t, { type Test } from 'tap'
import { statements, type Statement } from '../../db/statements.js'
import { HANDLED_EVENT_TYPES, planEvent, type EventPlan } from '../../services/events/index.js'
import { SUBSCRIPTION_EVENTS } from '../../services/events/subscription.js'
import { MAX_BOOST_MONTHS, addMonths } from '../../services/events/transaction.js'
import { checkEnvelope, storable, type PaddleEvent } from '../../services/paddle/envelope.js'
import {
  ALL_PADDLE_EVENT_TYPES, EXAMPLE_CATALOG, EXAMPLE_PRICES, SUBSCRIPTION_EVENT_TYPES, newPaddleId, oneOffTransaction, realTrafficVariants,
  samplePaddleEvent, subscriptionSnapshot, subscriptionTransaction, type TrafficVariant
} from '../helpers/paddle-payloads.js'

/** The record's own parameters, which the inbox adds to every plan's values. */
const RECORD_PARAMS = ['event_id', 'event_type', 'source', 'occurred_at', 'payload', 'reopen']

/** An event as the inbox hands it to planEvent: through the envelope, and as it will be stored. */
function asChecked (event: object): PaddleEvent {
  const checked = checkEnvelope(JSON.parse(JSON.stringify(event)))
  if (!checked.ok) throw new Error(checked.message)
  return storable(checked.event).payload as PaddleEvent
}

const plan = (event: object): EventPlan => planEvent(asChecked(event), EXAMPLE_CATALOG)

function applied (t: Test, result: EventPlan, statement: Statement, name: string): Record<string, unknown> {
  t.equal(result.kind, 'apply', `${name}: applied`)
  if (result.kind !== 'apply') {
    t.comment(`${name}: ${result.status} ${result.reason}`)
    return {}
  }
  t.equal(result.statement, statement, `${name}: by ${statement.name}`)
  return result.values
}

function recorded (t: Test, result: EventPlan, status: 'ignored' | 'needs_review', reason: RegExp | string, name: string): void {
  t.match(result, { kind: 'record', status }, `${name}: ${status}`)
  const text = result.kind === 'record' ? result.reason : ''
  if (typeof reason === 'string') t.ok(text.startsWith(reason), `${name}: the reason "${text}" starts with ${reason}`)
  else t.match(text, reason, `${name}: the reason says why`)
}

type Boost = { price_id: string, months: number, amount: string | null, expires_at: string }
const boostsOf = (values: Record<string, unknown>): Boost[] => JSON.parse(String(values.items)) as Boost[]

t.test('every variant real checkouts send gets the outcome it is owed; a needs_review reason names its field first', async (t) => {
  const variants = realTrafficVariants()
  t.ok(variants.length > 60, `${variants.length} variants`)
  const STATEMENT: Record<TrafficVariant['kind'], Statement> = {
    boost: statements.boostPurchase, badge: statements.badgePurchase, subscription: statements.subscriptionSnapshot
  }
  for (const variant of variants) {
    const result = plan(variant.event)
    if (variant.expect === 'needs_review') {
      recorded(t, result, 'needs_review', `${variant.reasonField ?? '?'}`, variant.name)
      continue
    }
    const values = applied(t, result, STATEMENT[variant.kind], variant.name)
    const want = variant.applied ?? {}
    if (variant.kind === 'boost') {
      t.equal(values.community_id, want.communityId, `${variant.name}: community`)
      if (want.memberId !== undefined) t.equal(values.member_id, want.memberId, `${variant.name}: member`)
      t.same(boostsOf(values).map((b) => b.months), want.boostMonths, `${variant.name}: months from the catalogue x quantity`)
    } else if (variant.kind === 'badge') {
      t.match(values, { purchase_id: want.purchaseId, member_id: want.memberId, badge_id: want.badgeId }, `${variant.name}: who, and the paid badge`)
    } else {
      t.match(values, { community_id: want.communityId, tier: want.tier }, `${variant.name}: community and the price's tier`)
    }
  }
})

t.test('every SDK event type: the handled ones plan a statement, every other is ignored with the reason that it has no handler', async (t) => {
  for (const type of SUBSCRIPTION_EVENT_TYPES) t.ok(SUBSCRIPTION_EVENTS.has(type), `${type} is handled`)
  for (const type of ALL_PADDLE_EVENT_TYPES) {
    const result = plan(samplePaddleEvent(type))
    if (HANDLED_EVENT_TYPES.has(type)) {
      t.equal(result.kind, 'apply', `${type}: applied (${result.kind === 'record' ? result.reason : ''})`)
    } else {
      recorded(t, result, 'ignored', `event type ${type} has no handler`, type)
    }
  }
  recorded(t, plan({ ...samplePaddleEvent('subscription.created'), event_type: 'Subscription.Created' }), 'ignored', /has no handler/,
    'the name of an event type matters exactly')
  recorded(t, plan({ ...samplePaddleEvent('transaction.completed'), event_type: 'transaction.paid' }), 'ignored', /has no handler/,
    'transaction.paid is not completed')
})

t.test('a subscription snapshot: its ids, status, period and the tier of its recurring price', async (t) => {
  const subscriptionId = newPaddleId('sub')
  const event = subscriptionSnapshot('subscription.updated', {
    subscriptionId,
    customerId: 'ctm_01abc',
    priceId: EXAMPLE_PRICES.business,
    customData: { community_id: 42, tier: 'starter' },
    periodEnd: '2026-12-01T00:00:00.123456Z'
  })
  t.same(applied(t, plan(event), statements.subscriptionSnapshot, 'updated'), {
    subscription_id: subscriptionId,
    community_id: '42',
    customer_id: 'ctm_01abc',
    snapshot_status: 'active',
    tier: 'business',
    period_end: '2026-12-01T00:00:00.123456Z'
  }, 'custom_data.tier is ignored: the price says business')

  const canceled = subscriptionSnapshot('subscription.canceled', { subscriptionId, priceId: newPaddleId('pri'), customData: { community_id: 'c' } })
  t.match(applied(t, plan(canceled), statements.subscriptionSnapshot, 'canceled'), { snapshot_status: 'canceled', tier: 'starter', period_end: null },
    'canceled falls back to starter, whatever its price')
  const shouting = subscriptionSnapshot('subscription.paused', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c' } })
  shouting.data.status = 'Paused' as never
  t.match(applied(t, plan(shouting), statements.subscriptionSnapshot, 'capitalised'), { snapshot_status: 'paused', tier: 'pro' })
  const statusless = structuredClone(subscriptionSnapshot('subscription.past_due', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c' } })) as unknown as { data: Record<string, unknown> }
  delete statusless.data.status
  t.match(applied(t, plan(statusless), statements.subscriptionSnapshot, 'no status'), { snapshot_status: 'past_due' }, 'the status from the event type')

  const cases: Array<[string, (data: Record<string, unknown>) => void, string]> = [
    ['no data.id', (data) => { delete data.id }, 'data.id is missing'],
    ['a numeric data.id that is not whole', (data) => { data.id = 1.5 }, 'data.id must be text or a whole number'],
    ['custom_data.community_id a list', (data) => { data.custom_data = { community_id: ['c'] } }, 'custom_data.community_id must be text'],
    ['customer_id an object', (data) => { data.customer_id = { id: 'ctm' } }, 'data.customer_id must be text'],
    ['a price that grants a boost, not a tier', (data) => { (data.items as Array<{ price: { id: string } }>)[0]!.price.id = EXAMPLE_PRICES.boost3 }, 'items[0].price.id'],
    ['no items', (data) => { data.items = [] }, 'items: no price in the catalogue grants a tier'],
    ['items not a list', (data) => { data.items = 'pro' }, 'items: no price in the catalogue grants a tier'],
    ['two prices of two tiers', (data) => {
      const items = data.items as Array<{ price: { id: string } }>
      items.push({ ...structuredClone(items[0]!), price: { ...items[0]!.price, id: EXAMPLE_PRICES.business } })
    }, 'items: prices grant several tiers']
  ]
  for (const [name, mutate, reason] of cases) {
    const event = structuredClone(subscriptionSnapshot('subscription.created', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c' } })) as unknown as { data: Record<string, unknown> }
    mutate(event.data)
    recorded(t, plan(event), 'needs_review', reason, name)
  }
  const bare = structuredClone(subscriptionSnapshot('subscription.created', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c' } })) as unknown as { data: { items: Array<Record<string, unknown>> } }
  bare.data.items = [{ price_id: EXAMPLE_PRICES.starter, quantity: 1 }]
  t.match(applied(t, plan(bare), statements.subscriptionSnapshot, 'an item naming its price by price_id'), { tier: 'starter' })
  bare.data.items = [{ price_id: newPaddleId('pri') }]
  recorded(t, plan(bare), 'needs_review', 'items[0].price_id', 'and the reason names that field when the price is unknown')
})

t.test('a boost purchase: one row per paid boost price, months from the catalogue x quantity, expiry from the purchase', async (t) => {
  const transactionId = newPaddleId('txn')
  const event = oneOffTransaction({
    transactionId,
    occurredAt: '2026-01-31T10:00:00.654321Z',
    items: [{ priceId: EXAMPLE_PRICES.boost1, quantity: 1 }, { priceId: EXAMPLE_PRICES.boost12, quantity: 2 }],
    customData: { community_id: 'c1', member_id: 7, months: 99 }
  })
  const values = applied(t, plan(event), statements.boostPurchase, 'two boost prices')
  t.match(values, { community_id: 'c1', member_id: '7', transaction_id: transactionId, currency_code: 'USD' })
  const lines = event.data.details.line_items
  t.same(boostsOf(values), [
    { price_id: EXAMPLE_PRICES.boost1, months: 1, amount: lines[0]!.totals.total, expires_at: '2026-02-28T10:00:00.654Z' },
    { price_id: EXAMPLE_PRICES.boost12, months: 24, amount: lines[1]!.totals.total, expires_at: '2028-01-31T10:00:00.654Z' }
  ], 'custom_data.months is ignored; Jan 31 + 1 month ends on Feb 28')

  const noMember = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'c1' } })
  t.match(applied(t, plan(noMember), statements.boostPurchase, 'no member'), { member_id: null }, 'the member is optional for a boost')

  const cases: Array<[string, ReturnType<typeof oneOffTransaction> | Record<string, unknown>, string]> = [
    ['no community', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { member_id: 'm' } }), 'custom_data.community_id is missing'],
    ['a member id of a control character', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'c', member_id: 'm\u0007' } }),
      'custom_data.member_id holds a control character'],
    ['a tier price bought once', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.pro }], customData: { community_id: 'c' } }), 'items[0].price_id'],
    ['an unknown price beside a known one', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }, { priceId: newPaddleId('pri') }], customData: { community_id: 'c' } }),
      'items[1].price_id'],
    ['a badge and a boost together', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }, { priceId: EXAMPLE_PRICES.badgeGold }], customData: { community_id: 'c', purchase_id: 'bp', member_id: 'm' } }),
      'items: a badge must be bought on its own'],
    ['quantity 0', oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3, quantity: 0 }], customData: { community_id: 'c' } }), 'items[0].quantity must be a positive whole number'],
    [`over ${MAX_BOOST_MONTHS} months on one line`, oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost12, quantity: 101 }], customData: { community_id: 'c' } }),
      'items: 101 x price'],
    ['no data.id', { ...oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'c' } }), data: { items: [] } }, 'data.id is missing']
  ]
  for (const [name, sent, reason] of cases) recorded(t, plan(sent), 'needs_review', reason, name)
  const empty = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'c' } })
  empty.data.items = []
  recorded(t, plan(empty), 'needs_review', 'items: the transaction paid no price', 'no items')
})

t.test('a badge purchase: the paid price names the badge; custom_data names the purchase and the member', async (t) => {
  const transactionId = newPaddleId('txn')
  const event = oneOffTransaction({
    transactionId, items: [{ priceId: EXAMPLE_PRICES.badgeSilver }], customData: { purchase_id: 90017, member_id: 'm1', badge_id: 'badge_gold' }
  })
  t.same(applied(t, plan(event), statements.badgePurchase, 'silver'),
    { purchase_id: '90017', member_id: 'm1', badge_id: 'badge_silver', transaction_id: transactionId }, 'custom_data.badge_id is ignored')
  recorded(t, plan(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeGold, quantity: 2 }], customData: { purchase_id: 'bp', member_id: 'm' } })),
    'needs_review', 'items: a badge is bought once', 'quantity 2')
  recorded(t, plan(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeGold }, { priceId: EXAMPLE_PRICES.badgeSilver }], customData: { purchase_id: 'bp', member_id: 'm' } })),
    'needs_review', 'items: a badge must be bought on its own', 'two badges')
})

/** Another line of a transaction, as Paddle writes one: the price id in price_id and in the nested price. */
const itemFor = <I extends { price_id: string, price: { id: string } }>(like: I, priceId: string): I =>
  ({ ...like, price_id: priceId, price: { ...like.price, id: priceId }, quantity: 1 })

t.test('a subscription\'s payments: paid or failed, boosts paid with it, and what a subscription cannot carry', async (t) => {
  const subscriptionId = newPaddleId('sub')
  const transactionId = newPaddleId('txn')
  const renewal = subscriptionTransaction('transaction.completed', { subscriptionId, transactionId, priceId: EXAMPLE_PRICES.pro })
  const paid = applied(t, plan(renewal), statements.subscriptionPayment, 'renewal')
  t.match(paid, { subscription_id: subscriptionId, payment_status: 'paid', transaction_id: transactionId, items: '[]', community_id: null },
    'the tier price grants nothing here: the snapshot carries the tier')
  const failed = subscriptionTransaction('transaction.payment_failed', { subscriptionId, priceId: EXAMPLE_PRICES.pro })
  t.match(applied(t, plan(failed), statements.subscriptionPayment, 'declined'), { subscription_id: subscriptionId, payment_status: 'failed', items: '[]' })

  const withBoost = subscriptionTransaction('transaction.completed', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c9' } })
  withBoost.data.items.push(itemFor(withBoost.data.items[0]!, EXAMPLE_PRICES.boost3))
  const boosted = applied(t, plan(withBoost), statements.subscriptionPayment, 'a boost bought with the renewal')
  t.match(boosted, { community_id: 'c9' })
  t.same(boostsOf(boosted).map((b) => [b.price_id, b.months]), [[EXAMPLE_PRICES.boost3, 3]])
  const failedWithBoost = structuredClone(withBoost)
  failedWithBoost.event_type = 'transaction.payment_failed'
  t.match(applied(t, plan(failedWithBoost), statements.subscriptionPayment, 'a declined renewal with a boost'), { payment_status: 'failed', items: '[]' },
    'a failed payment grants no boost')
  const withBadge = subscriptionTransaction('transaction.completed', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'c9' } })
  withBadge.data.items.push(itemFor(withBadge.data.items[0]!, EXAMPLE_PRICES.badgeGold))
  recorded(t, plan(withBadge), 'needs_review', 'items: a badge price paid with a subscription', 'a badge on a subscription')
  const boostForNobody = structuredClone(withBoost)
  boostForNobody.data.custom_data = null
  recorded(t, plan(boostForNobody), 'needs_review', 'custom_data.community_id is missing', 'a boost on a renewal without a community')

  const oneOffFailure = { ...samplePaddleEvent('transaction.payment_failed'), data: { ...oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }] }).data } }
  recorded(t, plan(oneOffFailure), 'ignored', 'a failed payment of a one-off transaction changes nothing', 'a declined one-off checkout')
  const badSubscription = structuredClone(renewal) as unknown as { data: Record<string, unknown> }
  badSubscription.data.subscription_id = { id: subscriptionId }
  recorded(t, plan(badSubscription), 'needs_review', 'data.subscription_id must be text', 'subscription_id an object')
})

t.test('every plan names a catalogue statement, and with the record\'s own values binds exactly its parameters', async (t) => {
  const catalogue = new Set<Statement>(Object.values(statements))
  const events: object[] = [
    ...realTrafficVariants().map((v) => v.event),
    ...ALL_PADDLE_EVENT_TYPES.map((type) => samplePaddleEvent(type)),
    subscriptionTransaction('transaction.payment_failed', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro })
  ]
  const seen = new Set<string>()
  for (const event of events) {
    const result = plan(event)
    if (result.kind !== 'apply') continue
    seen.add(result.statement.name)
    t.ok(catalogue.has(result.statement), `${result.statement.name} is in the catalogue`)
    t.same([...new Set([...RECORD_PARAMS, ...Object.keys(result.values)])].sort(), [...result.statement.params].sort(),
      `${result.statement.name}: the plan's values and the record's cover its parameters, and nothing else`)
  }
  t.same([...seen].sort(), ['bw_badge_purchase', 'bw_boost_purchase', 'bw_subscription_payment', 'bw_subscription_snapshot'], 'all four event statements planned')
})

t.test('planEvent is pure: the same event gives the same plan, and the event is not changed', async (t) => {
  for (const variant of realTrafficVariants().slice(0, 10)) {
    const event = asChecked(variant.event)
    const copy = structuredClone(event)
    t.same(planEvent(event, EXAMPLE_CATALOG), planEvent(event, EXAMPLE_CATALOG), variant.name)
    t.same(event, copy, `${variant.name}: unchanged`)
  }
})

t.test('addMonths counts calendar months and clamps to the end of a shorter month', async (t) => {
  t.equal(addMonths(new Date('2026-01-31T10:00:00Z'), 1).toISOString(), '2026-02-28T10:00:00.000Z')
  t.equal(addMonths(new Date('2028-01-31T10:00:00Z'), 1).toISOString(), '2028-02-29T10:00:00.000Z', 'leap year')
  t.equal(addMonths(new Date('2026-11-15T00:00:00Z'), 3).toISOString(), '2027-02-15T00:00:00.000Z', 'across a year')
  t.equal(addMonths(new Date('2026-03-31T23:59:59Z'), 24).toISOString(), '2028-03-31T23:59:59.000Z')
  t.equal(addMonths(new Date('2026-08-31T12:00:00Z'), 6).toISOString(), '2027-02-28T12:00:00.000Z')
})
