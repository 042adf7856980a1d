// The test payloads themselves: Paddle's shapes, Paddle's event list, and variants that follow the stated rule.
import t, { type Test } from 'tap'
import {
  ALL_PADDLE_EVENT_TYPES, EXAMPLE_CATALOG, EXAMPLE_PRICES, SUBSCRIPTION_EVENT_TYPES, newPaddleId, oneOffTransaction,
  realTrafficVariants, samplePaddleEvent, subscriptionSnapshot, subscriptionTransaction, type PaddleEventType, type TrafficVariant
} from '../helpers/paddle-payloads.js'

type Json = Record<string, any>

/** `EventName` of @paddle/paddle-node-sdk 3.10.0 (dist/types/notifications/helpers/types.d.ts), in its order. */
const SDK_3_10_EVENT_NAMES = [
  'address.created', 'address.updated', 'address.imported', 'adjustment.created', 'adjustment.updated',
  'api_key.created', 'api_key.updated', 'api_key.expiring', 'api_key.expired', 'api_key.revoked',
  'api_key_exposure.created', 'business.created', 'business.imported', 'business.updated',
  'client_token.created', 'client_token.updated', 'client_token.revoked', 'customer.created', 'customer.updated',
  'customer.imported', 'discount.created', 'discount.updated', 'discount.imported', 'discount_group.created',
  'discount_group.updated', 'payment_method.deleted', 'payment_method.saved', 'payout.created', 'payout.paid',
  'price.created', 'price.updated', 'price.imported', 'product.created', 'product.updated', 'product.imported',
  'subscription.activated', 'subscription.canceled', 'subscription.imported', 'subscription.created',
  'subscription.past_due', 'subscription.paused', 'subscription.resumed', 'subscription.trialing',
  'subscription.updated', 'transaction.billed', 'transaction.canceled', 'transaction.completed', 'transaction.paid',
  'transaction.created', 'transaction.past_due', 'transaction.payment_failed', 'transaction.ready',
  'transaction.updated', 'transaction.revised', 'report.created', 'report.updated'
]

const ID_PREFIX: Record<string, string> = {
  address: 'add',
  adjustment: 'adj',
  api_key: 'apikey',
  api_key_exposure: 'apikeyexp',
  business: 'biz',
  client_token: 'ctkn',
  customer: 'ctm',
  discount: 'dsc',
  discount_group: 'dsg',
  payment_method: 'paymtd',
  payout: 'pay',
  price: 'pri',
  product: 'pro',
  report: 'rep',
  subscription: 'sub',
  transaction: 'txn'
}

const PADDLE_ID = /^[a-z]+_[0-7][0-9a-hjkmnp-tv-z]{25}$/
const PADDLE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/
const AMOUNT = /^\d+$/

function checkEnvelope (t: Test, event: Json, type: string, name: string): void {
  t.same(JSON.parse(JSON.stringify(event)), event, `${name}: JSON-serialisable, nothing lost`)
  t.type(event.event_id, 'string', `${name}: event_id`)
  t.equal(event.event_type, type, `${name}: event_type`)
  t.type(event.occurred_at, 'string', `${name}: occurred_at`)
  t.notOk(Number.isNaN(Date.parse(event.occurred_at)), `${name}: occurred_at is a date`)
  t.ok(event.data !== null && typeof event.data === 'object' && !Array.isArray(event.data), `${name}: data is an object`)
}

/** Every `..._at` time and every Paddle id anywhere in an entity, outside custom data. */
function walk (value: unknown, visit: (key: string, value: unknown, path: string) => void, path = 'data'): void {
  if (Array.isArray(value)) { value.forEach((child, i) => walk(child, visit, `${path}[${i}]`)); return }
  if (value === null || typeof value !== 'object') return
  for (const [key, child] of Object.entries(value)) {
    if (key === 'custom_data') continue
    visit(key, child, `${path}.${key}`)
    walk(child, visit, `${path}.${key}`)
  }
}

const NOT_PADDLE_IDS = new Set(['payment_attempt_id', 'stored_payment_method_id', 'external_id'])

t.test('ALL_PADDLE_EVENT_TYPES is the event-name list of the Node SDK 3.10, once each', async (t) => {
  t.equal(new Set(ALL_PADDLE_EVENT_TYPES).size, ALL_PADDLE_EVENT_TYPES.length, 'no duplicates')
  t.equal(ALL_PADDLE_EVENT_TYPES.length, 56)
  t.same([...ALL_PADDLE_EVENT_TYPES].sort(), [...SDK_3_10_EVENT_NAMES].sort())
  t.same(SUBSCRIPTION_EVENT_TYPES, ['subscription.created', 'subscription.activated', 'subscription.updated', 'subscription.trialing',
    'subscription.imported', 'subscription.canceled', 'subscription.paused', 'subscription.resumed', 'subscription.past_due'])
})

t.test('every event type has a sample in the documented envelope, with Paddle ids and microsecond times', async (t) => {
  for (const type of ALL_PADDLE_EVENT_TYPES) {
    const event = samplePaddleEvent(type) as Json
    checkEnvelope(t, event, type, type)
    t.match(event.event_id, /^evt_[a-z\d]{26}$/, `${type}: event_id has Paddle's documented pattern`)
    t.match(event.notification_id, /^ntf_[a-z\d]{26}$/, `${type}: notification_id`)
    t.match(event.occurred_at, PADDLE_TIME, `${type}: occurred_at with microseconds`)
    const entity = type.split('.')[0] as string
    t.match(event.data.id, new RegExp(`^${ID_PREFIX[entity]}_[0-9a-z]{26}$`), `${type}: data.id is a ${entity} id`)
    const bad: string[] = []
    walk(event.data, (key, value, path) => {
      if (key.endsWith('_at') && value !== null && !PADDLE_TIME.test(String(value))) bad.push(`${path}=${String(value)}`)
      if ((key === 'id' || key.endsWith('_id')) && typeof value === 'string' && !NOT_PADDLE_IDS.has(key) && !PADDLE_ID.test(value)) {
        bad.push(`${path}=${value}`)
      }
    })
    t.same(bad, [], `${type}: every time has microseconds, every id is Paddle-shaped`)
  }
})

t.test('samplePaddleEvent takes the envelope fields and data fields it is given', async (t) => {
  const event = samplePaddleEvent('customer.updated', {
    eventId: 'evt_01hv8y0k2m4n6p8q0r2s4t6v8w',
    occurredAt: '2024-04-12T10:18:49.621022Z',
    notificationId: 'ntf_01hv8y0k4b6d8f0h2j4k6m8n0p',
    data: { email: 'other@example.com', extra: 1 }
  }) as Json
  t.match(event, {
    event_id: 'evt_01hv8y0k2m4n6p8q0r2s4t6v8w',
    occurred_at: '2024-04-12T10:18:49.621022Z',
    notification_id: 'ntf_01hv8y0k4b6d8f0h2j4k6m8n0p',
    data: { email: 'other@example.com', extra: 1, name: 'Sam Miller' }
  })
  t.ok(Date.parse(event.data.created_at) < Date.parse(event.occurred_at), 'entity times follow the event time')
  t.throws(() => samplePaddleEvent('invoice.paid' as PaddleEventType), /not a Paddle event type/)
  const first = samplePaddleEvent('transaction.completed') as Json
  const second = samplePaddleEvent('transaction.completed') as Json
  t.not(first.event_id, second.event_id, 'fresh ids on every call')
  t.not(first.data.id, second.data.id)
})

// The keys of the SDK's notification types (dist/types/notifications/types/**), all present, nothing invented.
const SUBSCRIPTION_KEYS = ['id', 'status', 'customer_id', 'address_id', 'business_id', 'currency_code', 'created_at', 'updated_at',
  'started_at', 'first_billed_at', 'next_billed_at', 'paused_at', 'canceled_at', 'discount', 'collection_mode', 'billing_details',
  'current_billing_period', 'billing_cycle', 'scheduled_change', 'items', 'custom_data', 'import_meta']
const SUBSCRIPTION_ITEM_KEYS = ['status', 'quantity', 'recurring', 'created_at', 'updated_at', 'previously_billed_at', 'next_billed_at',
  'trial_dates', 'price', 'product']
const SUBSCRIPTION_PRICE_KEYS = ['id', 'product_id', 'description', 'type', 'name', 'billing_cycle', 'trial_period', 'tax_mode',
  'unit_price', 'unit_price_overrides', 'quantity', 'status', 'custom_data', 'import_meta']
const TRANSACTION_KEYS = ['id', 'status', 'customer_id', 'address_id', 'business_id', 'custom_data', 'currency_code', 'origin',
  'subscription_id', 'invoice_id', 'invoice_number', 'collection_mode', 'discount_id', 'billing_details', 'billing_period', 'items',
  'details', 'payments', 'checkout', 'created_at', 'updated_at', 'billed_at', 'revised_at']
const TRANSACTION_PRICE_KEYS = [...SUBSCRIPTION_PRICE_KEYS, 'created_at', 'updated_at']
const DETAILS_KEYS = ['tax_rates_used', 'totals', 'adjusted_totals', 'payout_totals', 'adjusted_payout_totals', 'line_items']
const TOTALS_KEYS = ['subtotal', 'discount', 'tax', 'total', 'credit', 'credit_to_balance', 'balance', 'grand_total', 'grand_total_tax',
  'fee', 'earnings', 'currency_code']
const LINE_ITEM_KEYS = ['id', 'price_id', 'quantity', 'proration', 'tax_rate', 'unit_totals', 'totals', 'product']
const PAYMENT_KEYS = ['payment_attempt_id', 'stored_payment_method_id', 'payment_method_id', 'amount', 'status', 'error_code',
  'method_details', 'created_at', 'captured_at']
const PRODUCT_KEYS = ['id', 'name', 'type', 'description', 'tax_category', 'image_url', 'custom_data', 'status', 'created_at',
  'updated_at', 'import_meta']

const keys = (value: Json) => Object.keys(value).sort()

t.test('the handled types carry the complete documented entity', async (t) => {
  for (const type of SUBSCRIPTION_EVENT_TYPES) {
    const data = samplePaddleEvent(type).data as Json
    const expected = type === 'subscription.created' ? [...SUBSCRIPTION_KEYS, 'transaction_id'] : SUBSCRIPTION_KEYS
    t.same(keys(data), [...expected].sort(), `${type}: subscription fields`)
    t.same(keys(data.items[0]), [...SUBSCRIPTION_ITEM_KEYS].sort(), `${type}: item fields`)
    t.same(keys(data.items[0].price), [...SUBSCRIPTION_PRICE_KEYS].sort(), `${type}: price fields`)
    t.same(keys(data.items[0].product), [...PRODUCT_KEYS].sort(), `${type}: product fields`)
    t.match(data.items[0].price, { id: EXAMPLE_PRICES.pro, unit_price: { amount: AMOUNT, currency_code: 'USD' }, billing_cycle: { interval: 'month', frequency: 1 } })
    t.match(data.custom_data, { community_id: /^community_/ }, `${type}: says which community`)
  }
  for (const type of ALL_PADDLE_EVENT_TYPES.filter((name) => name.startsWith('transaction.'))) {
    const data = samplePaddleEvent(type).data as Json
    t.same(keys(data), [...TRANSACTION_KEYS].sort(), `${type}: transaction fields`)
    t.same(keys(data.items[0]), ['price', 'price_id', 'proration', 'quantity'], `${type}: item fields`)
    t.same(keys(data.items[0].price), [...TRANSACTION_PRICE_KEYS].sort(), `${type}: price fields`)
    t.same(keys(data.details), [...DETAILS_KEYS].sort(), `${type}: details fields`)
    t.same(keys(data.details.totals), [...TOTALS_KEYS].sort(), `${type}: totals fields`)
    t.same(keys(data.details.line_items[0]), [...LINE_ITEM_KEYS].sort(), `${type}: line item fields`)
    for (const payment of data.payments) t.same(keys(payment), [...PAYMENT_KEYS].sort(), `${type}: payment fields`)
    t.equal(data.items[0].price_id, data.items[0].price.id)
    t.equal(data.details.line_items[0].price_id, data.items[0].price_id)
  }
  t.match(samplePaddleEvent('transaction.completed').data, { status: 'completed', origin: 'web', items: [{ price_id: EXAMPLE_PRICES.boost3 }] })
  t.match(samplePaddleEvent('transaction.payment_failed').data, { status: 'past_due', origin: 'subscription_recurring', subscription_id: /^sub_/ })
  t.match(samplePaddleEvent('transaction.created').data, { status: 'draft', payments: [] })
  t.match(samplePaddleEvent('transaction.revised').data, { status: 'completed', revised_at: PADDLE_TIME })
})

t.test('subscriptionSnapshot: status by type, and the fields Paddle clears when a subscription stops', async (t) => {
  const statuses: Record<string, string> = {
    'subscription.created': 'active',
    'subscription.activated': 'active',
    'subscription.updated': 'active',
    'subscription.trialing': 'trialing',
    'subscription.imported': 'active',
    'subscription.canceled': 'canceled',
    'subscription.paused': 'paused',
    'subscription.resumed': 'active',
    'subscription.past_due': 'past_due'
  }
  for (const type of SUBSCRIPTION_EVENT_TYPES) {
    const event = subscriptionSnapshot(type, { subscriptionId: 'sub_01hv8y0jq6f3w1mx7d2fzt0p4r', priceId: EXAMPLE_PRICES.business }) as Json
    checkEnvelope(t, event, type, type)
    t.equal(event.data.status, statuses[type], `${type}: status`)
    t.equal(event.data.id, 'sub_01hv8y0jq6f3w1mx7d2fzt0p4r')
    t.equal(event.data.items[0].price.id, EXAMPLE_PRICES.business)
    t.equal(event.data.custom_data, null, `${type}: no custom data unless given`)
    const stopped = type === 'subscription.canceled' || type === 'subscription.paused'
    if (stopped) {
      t.equal(event.data.current_billing_period, null, `${type}: no current billing period`)
      t.equal(event.data.next_billed_at, null)
      t.equal(event.data.items[0].next_billed_at, null)
    } else {
      t.ok(Date.parse(event.data.current_billing_period.starts_at) < Date.parse(event.data.current_billing_period.ends_at), `${type}: a period`)
      t.equal(event.data.next_billed_at, event.data.current_billing_period.ends_at)
    }
    t.equal(typeof event.data.canceled_at === 'string', type === 'subscription.canceled', `${type}: canceled_at`)
    t.equal(typeof event.data.paused_at === 'string', type === 'subscription.paused', `${type}: paused_at`)
    t.equal('transaction_id' in event.data, type === 'subscription.created', `${type}: transaction_id only on created`)
    t.equal(event.data.import_meta !== null, type === 'subscription.imported', `${type}: import_meta only on imported`)
  }
  const trial = subscriptionSnapshot('subscription.trialing', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro }).data as Json
  t.match(trial, { first_billed_at: null, items: [{ status: 'trialing', trial_dates: trial.current_billing_period, price: { trial_period: { interval: 'day' } } }] })
  const paused = subscriptionSnapshot('subscription.paused', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro }).data as Json
  t.equal(paused.items[0].status, 'inactive')
})

t.test('subscriptionSnapshot takes the ids, status, custom data and period end it is given', async (t) => {
  const event = subscriptionSnapshot('subscription.updated', {
    eventId: 'evt_01hv8y0k2m4n6p8q0r2s4t6v8w',
    occurredAt: '2026-11-20T15:01:12.557301Z',
    subscriptionId: 'sub_01hv8y0jq6f3w1mx7d2fzt0p4r',
    customerId: 'ctm_01hv8wt8nffez4p2t6typn4a5j',
    priceId: EXAMPLE_PRICES.pro,
    quantity: 3,
    status: 'past_due',
    customData: { community_id: 'community_1' },
    periodEnd: '2026-12-20T15:01:10.000000Z'
  }) as Json
  t.match(event, {
    event_id: 'evt_01hv8y0k2m4n6p8q0r2s4t6v8w',
    occurred_at: '2026-11-20T15:01:12.557301Z',
    data: {
      id: 'sub_01hv8y0jq6f3w1mx7d2fzt0p4r',
      customer_id: 'ctm_01hv8wt8nffez4p2t6typn4a5j',
      status: 'past_due',
      custom_data: { community_id: 'community_1' },
      current_billing_period: { starts_at: /^2026-11-20T15:01:10\.000\d{3}Z$/, ends_at: '2026-12-20T15:01:10.000000Z' },
      next_billed_at: '2026-12-20T15:01:10.000000Z',
      items: [{ quantity: 3, next_billed_at: '2026-12-20T15:01:10.000000Z' }]
    }
  })
  const canceled = subscriptionSnapshot('subscription.updated', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro, status: 'canceled' }).data as Json
  t.equal(canceled.current_billing_period, null, 'the status, not the event type, decides the shape')
  const a = subscriptionSnapshot('subscription.created', { subscriptionId: 's', priceId: EXAMPLE_PRICES.pro }) as Json
  const b = subscriptionSnapshot('subscription.created', { subscriptionId: 's', priceId: EXAMPLE_PRICES.pro }) as Json
  t.not(a.event_id, b.event_id)
  t.not(a.data.customer_id, b.data.customer_id, 'a fresh customer unless one is given')
})

function sum (values: string[]): number {
  return values.reduce((total, value) => total + Number(value), 0)
}

t.test('oneOffTransaction: a completed web checkout whose totals add up from its items', async (t) => {
  const event = oneOffTransaction({
    transactionId: 'txn_01hv8wzr6s5q4p3n2m1k0j9h8g',
    items: [{ priceId: EXAMPLE_PRICES.boost3, quantity: 2 }, { priceId: EXAMPLE_PRICES.badgeGold, quantity: 1 }],
    customData: { community_id: 'community_1' }
  }) as Json
  checkEnvelope(t, event, 'transaction.completed', 'one-off')
  const { data } = event
  t.match(data, { id: 'txn_01hv8wzr6s5q4p3n2m1k0j9h8g', status: 'completed', origin: 'web', subscription_id: null, billing_period: null, custom_data: { community_id: 'community_1' } })
  t.same(data.items.map((item: Json) => [item.price_id, item.price.id, item.quantity]),
    [[EXAMPLE_PRICES.boost3, EXAMPLE_PRICES.boost3, 2], [EXAMPLE_PRICES.badgeGold, EXAMPLE_PRICES.badgeGold, 1]])
  const { totals, line_items: lines } = data.details
  t.equal(Number(totals.subtotal), sum(data.items.map((item: Json) => String(Number(item.price.unit_price.amount) * item.quantity))), 'subtotal = unit prices × quantities')
  for (const field of ['subtotal', 'tax', 'total', 'discount']) {
    t.equal(Number(totals[field]), sum(lines.map((line: Json) => line.totals[field])), `totals.${field} = the lines' ${field}`)
    t.equal(Number(totals[field]), sum(data.details.tax_rates_used.map((rate: Json) => rate.totals[field])), `tax_rates_used ${field}`)
  }
  for (const [i, line] of lines.entries()) {
    t.equal(line.price_id, data.items[i].price_id)
    t.equal(line.quantity, data.items[i].quantity)
    t.equal(line.unit_totals.subtotal, data.items[i].price.unit_price.amount, 'unit subtotal is the unit price')
    for (const field of ['subtotal', 'tax', 'total']) t.equal(Number(line.totals[field]), Number(line.unit_totals[field]) * line.quantity)
    t.equal(Number(line.totals.total), Number(line.totals.subtotal) + Number(line.totals.tax))
  }
  t.equal(Number(totals.total), Number(totals.subtotal) + Number(totals.tax) - Number(totals.discount))
  t.equal(totals.grand_total, totals.total)
  t.equal(totals.balance, '0', 'paid in full')
  t.equal(Number(totals.fee) + Number(totals.earnings) + Number(totals.tax), Number(totals.total), 'fee + earnings + tax = total')
  t.match(data.payments, [{ status: 'captured', amount: totals.grand_total, error_code: null, captured_at: PADDLE_TIME }])
  walk(data, (key, value, path) => {
    if (['amount', 'subtotal', 'tax', 'total', 'grand_total', 'balance', 'fee', 'earnings'].includes(key) && typeof value !== 'object') {
      t.match(value, AMOUNT, `${path} is an amount in a string`)
    }
  })
  t.equal(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost1 }] }).data.custom_data, null, 'no custom data unless given')
})

t.test('subscriptionTransaction: a renewal, collected or declined', async (t) => {
  const subscriptionId = newPaddleId('sub')
  const paid = subscriptionTransaction('transaction.completed', {
    subscriptionId, priceId: EXAMPLE_PRICES.pro, periodStart: '2026-11-01T00:00:00.000000Z', customData: { community_id: 'c1' }
  }) as Json
  checkEnvelope(t, paid, 'transaction.completed', 'renewal')
  t.match(paid.data, {
    status: 'completed',
    origin: 'subscription_recurring',
    subscription_id: subscriptionId,
    custom_data: { community_id: 'c1' },
    billing_period: { starts_at: '2026-11-01T00:00:00.000000Z', ends_at: /^2026-12-01T00:00:00\.000\d{3}Z$/ },
    items: [{ price_id: EXAMPLE_PRICES.pro, proration: { rate: '1' } }],
    payments: [{ status: 'captured' }],
    details: { totals: { balance: '0' } }
  })
  const failed = subscriptionTransaction('transaction.payment_failed', { subscriptionId, priceId: EXAMPLE_PRICES.pro, transactionId: 'txn_01hv8xbtmb6zc7c264ycteehth' }) as Json
  checkEnvelope(t, failed, 'transaction.payment_failed', 'declined renewal')
  t.match(failed.data, {
    id: 'txn_01hv8xbtmb6zc7c264ycteehth',
    status: 'past_due',
    origin: 'subscription_recurring',
    subscription_id: subscriptionId,
    invoice_id: null,
    payments: [{ status: 'error', error_code: 'declined', captured_at: null }],
    details: { totals: { fee: null, earnings: null }, payout_totals: null }
  })
  t.equal(failed.data.details.totals.balance, failed.data.details.totals.grand_total, 'the whole amount is still owed')
  t.ok(Date.parse(failed.data.billing_period.starts_at) < Date.parse(failed.data.billing_period.ends_at))
})

t.test('ids look like Paddle\'s: a prefix and a lowercase ULID, ordered by time', async (t) => {
  for (const paddles of ['sub_01h7ht5z5wdg9pz18jx1fagp8k', 'txn_01h8dzxgkvdwemdhbpcapj2tbj', 'pri_01gsz8x8sawmvhz1pv30nge1ke', 'ctm_01h8441jn5pcwrfhwh78jqt8hk']) {
    t.match(paddles, PADDLE_ID, `Paddle's own ${paddles} fits the pattern`)
  }
  const early = newPaddleId('sub', Date.parse('2024-04-12T10:18:49Z'))
  const late = newPaddleId('sub', Date.parse('2026-11-20T15:01:12Z'))
  t.match(early, /^sub_01hv/, 'an id minted in April 2024 starts like Paddle\'s of that month')
  t.match(late, PADDLE_ID)
  t.ok(early < late, 'later ids sort after earlier ones')
  t.not(newPaddleId('sub'), newPaddleId('sub'))
})

t.test('EXAMPLE_PRICES name the example catalogue\'s prices by what they grant', async (t) => {
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.boost1), { grant: 'boost', months: 1 })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.boost3), { grant: 'boost', months: 3 })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.boost12), { grant: 'boost', months: 12 })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.starter), { grant: 'tier', tier: 'starter' })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.pro), { grant: 'tier', tier: 'pro' })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.business), { grant: 'tier', tier: 'business' })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.badgeGold), { grant: 'badge', badgeId: 'badge_gold' })
  t.same(EXAMPLE_CATALOG.grantOf(EXAMPLE_PRICES.badgeSilver), { grant: 'badge', badgeId: 'badge_silver' })
  for (const priceId of Object.values(EXAMPLE_PRICES)) t.match(priceId, PADDLE_ID)
})

// ---------------------------------------------------------------------------------------------------------------
// The variants, against the rule written out once more, independently of the table.

/** An id as the rule reads it: a string or a number (as its decimal string); printable; 1 to 128 characters. */
function usableId (value: unknown): string | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value : undefined
  if (text === undefined || /\p{Cc}/u.test(text)) return undefined
  const length = [...text].length
  return length >= 1 && length <= 128 ? text : undefined
}

type Outcome = Pick<TrafficVariant, 'expect' | 'reasonField' | 'applied'>

function ruleFor (variant: TrafficVariant): Outcome {
  const data = variant.event.data as Json
  const custom: Json = data.custom_data !== null && typeof data.custom_data === 'object' ? data.custom_data : {}
  const review = (reasonField: string): Outcome => ({ expect: 'needs_review', reasonField })
  if (variant.kind === 'subscription') {
    const communityId = usableId(custom.community_id)
    if (communityId === undefined) return review('custom_data.community_id')
    const grant = EXAMPLE_CATALOG.grantOf(data.items[0].price.id)
    if (grant?.grant !== 'tier') return review('items[0].price.id')
    return { expect: 'processed', applied: { communityId, tier: data.status === 'canceled' ? 'starter' : grant.tier } }
  }
  const grants = (data.items as Json[]).map((item) => EXAMPLE_CATALOG.grantOf(item.price_id))
  if (variant.kind === 'boost') {
    const communityId = usableId(custom.community_id)
    if (communityId === undefined) return review('custom_data.community_id')
    const bad = grants.findIndex((grant) => grant?.grant !== 'boost')
    if (bad >= 0) return review(`items[${bad}].price_id`)
    const boostMonths = grants.map((grant, i) => (grant as { months: number }).months * Number(data.items[i].quantity))
    const memberId = usableId(custom.member_id)
    return { expect: 'processed', applied: { communityId, boostMonths, ...(memberId !== undefined ? { memberId } : {}) } }
  }
  const purchaseId = usableId(custom.purchase_id)
  if (purchaseId === undefined) return review('custom_data.purchase_id')
  const memberId = usableId(custom.member_id)
  if (memberId === undefined) return review('custom_data.member_id')
  const grant = grants[0]
  if (grant?.grant !== 'badge') return review('items[0].price_id')
  return { expect: 'processed', applied: { purchaseId, memberId, badgeId: grant.badgeId } }
}

t.test('every variant states its outcome, and the outcome follows the rule', async (t) => {
  const variants = realTrafficVariants()
  t.equal(new Set(variants.map((v) => v.name)).size, variants.length, 'names are unique')
  for (const variant of variants) {
    const { name } = variant
    t.ok(['boost', 'badge', 'subscription'].includes(variant.kind), `${name}: kind`)
    t.ok(variant.expect === 'processed' || variant.expect === 'needs_review', `${name}: an expectation`)
    const type = variant.kind === 'subscription' ? (variant.event.event_type as string) : 'transaction.completed'
    checkEnvelope(t, variant.event, type, name)
    t.match(variant.event.occurred_at, RFC3339, `${name}: occurred_at is RFC 3339`)
    const rule = ruleFor(variant)
    t.equal(variant.expect, rule.expect, `${name}: ${rule.expect}`)
    t.equal(variant.reasonField, rule.reasonField, `${name}: the reason names ${rule.reasonField ?? 'nothing'}`)
    if (variant.expect === 'processed') {
      const required = variant.kind === 'boost' ? ['communityId', 'boostMonths'] : variant.kind === 'badge' ? ['purchaseId', 'memberId', 'badgeId'] : ['communityId', 'tier']
      t.same(Object.keys(variant.applied ?? {}).filter((key) => required.includes(key)).sort(), [...required].sort(), `${name}: says what is applied`)
      t.match(rule.applied, variant.applied ?? {}, `${name}: what is applied follows the rule`)
    } else {
      t.equal(variant.applied, undefined, `${name}: nothing applied`)
    }
    if (variant.kind === 'badge') {
      t.ok(variant.pendingBadge, `${name}: the pending purchase to create first`)
      t.equal(variant.pendingBadge?.priceId, EXAMPLE_CATALOG.priceForBadge(variant.pendingBadge?.badgeId ?? ''), `${name}: at the badge's catalogue price`)
      if (variant.expect === 'processed') {
        t.match(variant.pendingBadge, { purchaseId: variant.applied?.purchaseId, memberId: variant.applied?.memberId, badgeId: variant.applied?.badgeId })
      }
    }
    const priceIds = variant.kind === 'subscription'
      ? [(variant.event.data as Json).items[0].price.id]
      : ((variant.event.data as Json).items as Json[]).map((item) => item.price_id)
    const unlisted = priceIds.filter((priceId) => EXAMPLE_CATALOG.grantOf(priceId) === undefined)
    t.equal(unlisted.length > 0, /price/.test(variant.reasonField ?? ''), `${name}: only the price variants pay a price the example catalogue lacks`)
  }
})

t.test('the variants cover what real checkouts send, for each kind where it applies', async (t) => {
  const variants = realTrafficVariants()
  const of = (kind: string) => variants.filter((v) => v.kind === kind)
  const custom = (v: TrafficVariant) => (v.event.data as Json).custom_data
  const has = (kind: string, what: string, test: (v: TrafficVariant) => boolean) => t.ok(of(kind).some(test), `${kind}: ${what}`)
  const long = (n: number) => (v: TrafficVariant) => Object.values(custom(v) ?? {}).some((value) => typeof value === 'string' && value.length === n)
  for (const kind of ['boost', 'badge', 'subscription']) {
    has(kind, 'custom_data null', (v) => custom(v) === null)
    has(kind, 'custom_data missing', (v) => !('custom_data' in (v.event.data as Json)))
    has(kind, 'custom_data {}', (v) => custom(v) !== null && typeof custom(v) === 'object' && Object.keys(custom(v)).length === 0)
    has(kind, 'a numeric id', (v) => Object.values(custom(v) ?? {}).some((value) => typeof value === 'number'))
    has(kind, 'a non-ASCII id', (v) => Object.values(custom(v) ?? {}).some((value) => typeof value === 'string' && /[^\x20-\x7e]/.test(value)))
    has(kind, 'an id of 128 characters', long(128))
    has(kind, 'an id of 129 characters', long(129))
    has(kind, 'a price the catalogue does not name', (v) => /price/.test(v.reasonField ?? ''))
    has(kind, 'extra fields in the envelope, data, items, price and custom_data', (v) => {
      const data = v.event.data as Json
      return 'x_delivery' in v.event && 'future_field' in data && 'future_item_field' in data.items[0] &&
        'future_price_field' in data.items[0].price && 'utm_source' in (custom(v) ?? {})
    })
    has(kind, 'documented nullable fields null', (v) => (v.event.data as Json).business_id === null && (v.event.data as Json).items[0].price.name === null)
    has(kind, 'amounts as numbers', (v) => typeof (v.event.data as Json).items[0].price.unit_price?.amount === 'number')
    has(kind, 'occurred_at with nanoseconds', (v) => /\.\d{9}Z$/.test(v.event.occurred_at as string))
  }
  for (const kind of ['boost', 'subscription']) {
    has(kind, 'occurred_at with +00:00', (v) => (v.event.occurred_at as string).endsWith('+00:00'))
    has(kind, 'quantity "2" as a string', (v) => (v.event.data as Json).items[0].quantity === '2')
    has(kind, 'a community_id with a space', (v) => / /.test(String(custom(v)?.community_id)))
    has(kind, 'numeric community_id 42', (v) => custom(v)?.community_id === 42)
  }
  has('boost', 'months "3" as a string', (v) => custom(v)?.months === '3')
  has('boost', 'numeric member_id', (v) => typeof custom(v)?.member_id === 'number')
  has('badge', 'numeric member_id', (v) => typeof custom(v)?.member_id === 'number')
  has('subscription', 'tier "Pro" capitalised', (v) => custom(v)?.tier === 'Pro')
  has('subscription', 'a canceled snapshot, current_billing_period null', (v) =>
    (v.event.data as Json).status === 'canceled' && (v.event.data as Json).current_billing_period === null)
})

t.test('each call makes fresh events, so variants never collide across tests', async (t) => {
  const ids = (variants: TrafficVariant[]) => variants.map((v) => v.event.event_id)
  const first = ids(realTrafficVariants())
  const second = ids(realTrafficVariants())
  t.equal(new Set([...first, ...second]).size, first.length + second.length)
})
