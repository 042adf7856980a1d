// Paddle Billing notifications shaped as Paddle documents and sends them, for every event type of the Node SDK,
// and the variants real checkouts produce. Built by hand from these sources (read, not copied):
//
// - @paddle/paddle-node-sdk 3.10.0 (npm tarball), dist/types/notifications/helpers/types.d.ts: `EventName`, the
//   event-type list; dist/types/notifications/types/{subscription,transaction,price,product,shared,...}/*.d.ts:
//   each notification entity in snake_case, field by field, with which fields are optional or nullable;
//   dist/types/enums/**: statuses, origins, payment error codes.
// - github:PaddleHQ/paddle-node-sdk, src/__tests__/mocks/notifications/*.mock.ts: recorded payloads (id shapes,
//   which fields are null in which state: a canceled or paused subscription has current_billing_period null and
//   next_billed_at null; a web checkout's payment_failed leaves the transaction `ready`; some timestamps carry
//   nanoseconds, such as updated_at '2024-01-11T08:34:01.799627882Z').
// - https://developer.paddle.com/webhooks/subscriptions/subscription-created : the complete subscription entity
//   without management_urls; transaction_id only on subscription.created.
// - https://developer.paddle.com/webhooks/transactions/transaction-past-due.md : envelope schema (event_id
//   `^evt_[a-z\d]{26}$`, notification_id `^ntf_[a-z\d]{26}$`); renewals become past_due when a payment fails.
// - https://developer.paddle.com/build/lifecycle/subscription-renewal-dunning : a failed renewal leaves its
//   transaction (origin subscription_recurring) past_due while Paddle retries.
// - https://developer.paddle.com/webhooks/scenarios/subscription-renewed : a renewal transaction has origin
//   subscription_recurring and ends completed.
//
// Paddle ids are a prefix, "_", then a lowercase ULID: 26 characters of Crockford base32 that start with the
// creation time, so ids minted today start "01k".
import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { loadPriceCatalog, type PriceGrant } from '../../services/catalog.js'

/** Every event type in `EventName` of @paddle/paddle-node-sdk 3.10.0, grouped by entity. */
export const ALL_PADDLE_EVENT_TYPES = [
  'address.created', 'address.updated', 'address.imported',
  'adjustment.created', 'adjustment.updated',
  'api_key.created', 'api_key.updated', 'api_key.expiring', 'api_key.expired', 'api_key.revoked',
  'api_key_exposure.created',
  'business.created', 'business.updated', 'business.imported',
  'client_token.created', 'client_token.updated', 'client_token.revoked',
  'customer.created', 'customer.updated', 'customer.imported',
  'discount.created', 'discount.updated', 'discount.imported',
  'discount_group.created', 'discount_group.updated',
  'payment_method.saved', 'payment_method.deleted',
  'payout.created', 'payout.paid',
  'price.created', 'price.updated', 'price.imported',
  'product.created', 'product.updated', 'product.imported',
  'report.created', 'report.updated',
  'subscription.created', 'subscription.activated', 'subscription.updated', 'subscription.trialing',
  'subscription.imported', 'subscription.canceled', 'subscription.paused', 'subscription.resumed',
  'subscription.past_due',
  'transaction.created', 'transaction.updated', 'transaction.ready', 'transaction.billed', 'transaction.paid',
  'transaction.completed', 'transaction.canceled', 'transaction.past_due', 'transaction.payment_failed',
  'transaction.revised'
] as const

export type PaddleEventType = typeof ALL_PADDLE_EVENT_TYPES[number]
export type SubscriptionEventType = Extract<PaddleEventType, `subscription.${string}`>
export type TransactionEventType = Extract<PaddleEventType, `transaction.${string}`>
export type SubscriptionStatus = 'active' | 'canceled' | 'past_due' | 'paused' | 'trialing'
export type TransactionStatus = 'draft' | 'ready' | 'billed' | 'paid' | 'completed' | 'canceled' | 'past_due'
export type CustomData = Record<string, unknown> | null

export const SUBSCRIPTION_EVENT_TYPES = ALL_PADDLE_EVENT_TYPES
  .filter((type): type is SubscriptionEventType => type.startsWith('subscription.'))

/** A notification as delivered: the four fields the service requires, Paddle's notification_id, and the entity. */
export interface PaddleNotification<Data = Record<string, unknown>> {
  event_id: string
  event_type: string
  occurred_at: string
  notification_id: string
  data: Data
}

export interface EnvelopeOptions {
  eventId?: string
  occurredAt?: string
  notificationId?: string
}

// ---------------------------------------------------------------------------------------------------------------
// The example catalogue: its price ids by name, read from the shipped file so there is one list of them.

export const EXAMPLE_CATALOG_PATH = fileURLToPath(new URL('../../catalog.example.json', import.meta.url))
export const EXAMPLE_CATALOG = loadPriceCatalog(EXAMPLE_CATALOG_PATH, 'catalog.example.json')

const EXAMPLE_NAMES = ['boost1', 'boost3', 'boost12', 'starter', 'pro', 'business', 'badgeGold', 'badgeSilver'] as const
export type ExamplePriceName = typeof EXAMPLE_NAMES[number]

/** `boost3` for a three-month boost, the tier's name for a tier, `badgeGold` for `badge_gold`. */
function exampleName (grant: PriceGrant): string {
  if (grant.grant === 'boost') return `boost${grant.months}`
  if (grant.grant === 'tier') return grant.tier
  return grant.badgeId.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase())
}

export const EXAMPLE_PRICES: Readonly<Record<ExamplePriceName, string>> = (() => {
  const byName = new Map([...EXAMPLE_CATALOG.entries()].map(([priceId, grant]) => [exampleName(grant), priceId]))
  const prices = Object.fromEntries(EXAMPLE_NAMES.map((name) => {
    const priceId = byName.get(name)
    if (priceId === undefined) throw new Error(`catalog.example.json has no price for ${name}`)
    return [name, priceId]
  }))
  return Object.freeze(prices as Record<ExamplePriceName, string>)
})()

interface PriceInfo {
  productId: string
  productName: string
  productDescription: string
  name: string
  description: string
  amount: number
  billingCycle: { interval: 'day' | 'week' | 'month' | 'year', frequency: number } | null
  maxQuantity: number
}

const MONTHLY = { interval: 'month', frequency: 1 } as const
const BOOST_PRODUCT = {
  productId: 'pro_01hry0gjg0f09cksk4x6fyz2m1',
  productName: 'Community boost',
  productDescription: 'Lifts a community to the top of discovery.'
}

/** How the example catalogue's prices are set up in Paddle: products, names and amounts (USD cents). */
const EXAMPLE_PRICE_INFO: Record<ExamplePriceName, PriceInfo> = {
  boost1: { ...BOOST_PRODUCT, name: 'Boost, 1 month', description: 'One month of boost', amount: 499, billingCycle: null, maxQuantity: 12 },
  boost3: { ...BOOST_PRODUCT, name: 'Boost, 3 months', description: 'Three months of boost', amount: 1299, billingCycle: null, maxQuantity: 12 },
  boost12: { ...BOOST_PRODUCT, name: 'Boost, 12 months', description: 'Twelve months of boost', amount: 3999, billingCycle: null, maxQuantity: 10 },
  starter: {
    productId: 'pro_01hry4vqm01gtnb9smea9yzedm',
    productName: 'Starter',
    productDescription: 'The essentials for a new community.',
    name: 'Starter, monthly',
    description: 'Monthly',
    amount: 900,
    billingCycle: MONTHLY,
    maxQuantity: 1
  },
  pro: {
    productId: 'pro_01hry69gf073bkjt3vcppfg2ds',
    productName: 'Pro',
    productDescription: 'Moderation tools and analytics for growing communities.',
    name: 'Pro, monthly',
    description: 'Monthly',
    amount: 2900,
    billingCycle: MONTHLY,
    maxQuantity: 1
  },
  business: {
    productId: 'pro_01hry6vtd0b6kjepm57fq577m6',
    productName: 'Business',
    productDescription: 'Single sign-on, audit logs and priority support.',
    name: 'Business, monthly',
    description: 'Monthly',
    amount: 9900,
    billingCycle: MONTHLY,
    maxQuantity: 1
  },
  badgeGold: {
    productId: 'pro_01hry91cz0qk3wrm06mbtwgqbd',
    productName: 'Gold badge',
    productDescription: 'A gold badge beside a member\'s name.',
    name: 'Gold badge',
    description: 'One-time purchase',
    amount: 499,
    billingCycle: null,
    maxQuantity: 1
  },
  badgeSilver: {
    productId: 'pro_01hryapg60fqxavf2vp2d2a1nt',
    productName: 'Silver badge',
    productDescription: 'A silver badge beside a member\'s name.',
    name: 'Silver badge',
    description: 'One-time purchase',
    amount: 299,
    billingCycle: null,
    maxQuantity: 1
  }
}

const PRICE_INFO_BY_ID = new Map(EXAMPLE_NAMES.map((name) => [EXAMPLE_PRICES[name], EXAMPLE_PRICE_INFO[name]]))

/** A price the example catalogue does not name: an unlisted product, one-off or monthly. */
function priceInfo (priceId: string, recurring: boolean): PriceInfo {
  return PRICE_INFO_BY_ID.get(priceId) ?? {
    productId: newPaddleId('pro'),
    productName: 'Unlisted product',
    productDescription: 'A product this service has no catalogue entry for.',
    name: recurring ? 'Unlisted, monthly' : 'Unlisted, one-time',
    description: recurring ? 'Monthly' : 'One-time purchase',
    amount: 1000,
    billingCycle: recurring ? MONTHLY : null,
    maxQuantity: 100
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ids, times, money.

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz'

/** A Paddle-shaped id: `prefix_` and a lowercase ULID (26 characters, time first), e.g. `sub_01hv8y0jq6f3w1mx7d2fzt0p4r`. */
export function newPaddleId (prefix: string, at: number = Date.now()): string {
  let time = ''
  for (let t = at, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time
  let random = ''
  for (const byte of randomBytes(16)) random += CROCKFORD[byte % 32]
  return `${prefix}_${time}${random}`
}

/** RFC 3339 with microseconds, as Paddle writes its times: `2024-04-12T10:18:49.621022Z`. */
export function paddleTime (at: Date | number = Date.now()): string {
  const iso = new Date(at).toISOString()
  return `${iso.slice(0, 23)}${String(randomInt(1000)).padStart(3, '0')}Z`
}

const DAY = 24 * 3600 * 1000

function addMonths (at: number, months: number): number {
  const date = new Date(at)
  date.setUTCMonth(date.getUTCMonth() + months)
  return date.getTime()
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex')
const cents = (amount: number): string => String(amount)

const TAX_RATE = 0.08875 // New York, as in Paddle's own examples; prices exclude tax (tax_mode account_setting)
const FEE_RATE = 0.05

function envelope<Data> (type: string, data: Data, options: EnvelopeOptions, occurredAt: string): PaddleNotification<Data> {
  return {
    event_id: options.eventId ?? newPaddleId('evt'),
    event_type: type,
    occurred_at: occurredAt,
    notification_id: options.notificationId ?? newPaddleId('ntf'),
    data
  }
}

/** The event's time as given (kept verbatim), and as milliseconds for the entity's own times. */
function eventTime (occurredAt: string | undefined): { occurredAt: string, at: number } {
  const text = occurredAt ?? paddleTime()
  const at = Date.parse(text)
  if (Number.isNaN(at)) throw new Error(`occurredAt ${JSON.stringify(text)} is not a date`)
  return { occurredAt: text, at }
}

// ---------------------------------------------------------------------------------------------------------------
// Catalogue entities: products and prices as they appear inside subscriptions and transactions.

function productEntity (info: PriceInfo, at: number) {
  return {
    id: info.productId,
    name: info.productName,
    type: 'standard',
    description: info.productDescription,
    tax_category: 'standard',
    image_url: null,
    custom_data: null,
    status: 'active',
    created_at: paddleTime(at - 400 * DAY),
    updated_at: paddleTime(at - 90 * DAY),
    import_meta: null
  }
}

/** A price as nested in a subscription item (ISubscriptionPriceNotificationResponse: no created_at). */
function subscriptionPrice (priceId: string, info: PriceInfo, trialDays: number | null) {
  return {
    id: priceId,
    product_id: info.productId,
    name: info.name,
    description: info.description,
    type: 'standard',
    billing_cycle: info.billingCycle,
    trial_period: trialDays === null ? null : { interval: 'day', frequency: trialDays, requires_payment_method: true },
    tax_mode: 'account_setting',
    unit_price: { amount: cents(info.amount), currency_code: 'USD' },
    unit_price_overrides: [],
    quantity: { minimum: 1, maximum: info.maxQuantity },
    status: 'active',
    custom_data: null,
    import_meta: null
  }
}

/** A price as nested in a transaction item, or sent by price.* events (IPriceNotificationResponse). */
function priceEntity (priceId: string, info: PriceInfo, at: number) {
  return {
    id: priceId,
    product_id: info.productId,
    name: info.name,
    description: info.description,
    type: 'standard',
    billing_cycle: info.billingCycle,
    trial_period: null,
    tax_mode: 'account_setting',
    unit_price: { amount: cents(info.amount), currency_code: 'USD' },
    unit_price_overrides: [],
    quantity: { minimum: 1, maximum: info.maxQuantity },
    status: 'active',
    created_at: paddleTime(at - 400 * DAY),
    updated_at: paddleTime(at - 90 * DAY),
    custom_data: null,
    import_meta: null
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions.

export interface SubscriptionSnapshotOptions extends EnvelopeOptions {
  subscriptionId: string
  customerId?: string
  priceId: string
  quantity?: number
  /** Defaults by event type: trialing, paused, canceled and past_due take their own; the others are active. */
  status?: SubscriptionStatus
  /** The checkout's custom data, copied onto the subscription by Paddle. Default null (the checkout passed none). */
  customData?: CustomData
  /** End of the current billing period (RFC 3339). Default: a month after it started, shortly before the event. */
  periodEnd?: string
}

const DEFAULT_SUBSCRIPTION_STATUS: Record<SubscriptionEventType, SubscriptionStatus> = {
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

const TRIAL_DAYS = 14

function subscriptionEntity (type: SubscriptionEventType, options: SubscriptionSnapshotOptions, at: number) {
  const status = options.status ?? DEFAULT_SUBSCRIPTION_STATUS[type]
  const info = priceInfo(options.priceId, true)
  const trialing = status === 'trialing'
  // Paddle clears the billing period and the next billing date of a subscription that is canceled or paused.
  const stopped = status === 'canceled' || status === 'paused'
  // By default the period (a month, or the trial) began a minute before the event.
  const periodEnd = options.periodEnd !== undefined
    ? Date.parse(options.periodEnd)
    : trialing ? at - 60_000 + TRIAL_DAYS * DAY : addMonths(at - 60_000, 1)
  const periodStart = trialing ? periodEnd - TRIAL_DAYS * DAY : addMonths(periodEnd, -1)
  const startedAt = type === 'subscription.created' || type === 'subscription.trialing' ? periodStart : addMonths(periodStart, -2)
  const period = { starts_at: paddleTime(periodStart), ends_at: options.periodEnd ?? paddleTime(periodEnd) }
  const nextBilledAt = stopped ? null : period.ends_at
  const createdAt = paddleTime(startedAt + 1500)
  const updatedAt = paddleTime(at - 200)
  const data = {
    id: options.subscriptionId,
    status,
    customer_id: options.customerId ?? newPaddleId('ctm'),
    address_id: newPaddleId('add'),
    business_id: null,
    currency_code: 'USD',
    created_at: createdAt,
    updated_at: updatedAt,
    started_at: paddleTime(startedAt),
    first_billed_at: trialing ? null : paddleTime(startedAt),
    next_billed_at: nextBilledAt,
    paused_at: status === 'paused' ? paddleTime(at - 300) : null,
    canceled_at: status === 'canceled' ? paddleTime(at - 300) : null,
    discount: null,
    collection_mode: 'automatic',
    billing_details: null,
    current_billing_period: stopped ? null : period,
    billing_cycle: info.billingCycle ?? MONTHLY,
    scheduled_change: null,
    items: [{
      status: status === 'paused' ? 'inactive' : trialing ? 'trialing' : 'active',
      quantity: options.quantity ?? 1,
      recurring: true,
      created_at: createdAt,
      updated_at: updatedAt,
      previously_billed_at: trialing ? null : period.starts_at,
      next_billed_at: nextBilledAt,
      trial_dates: trialing ? period : null,
      price: subscriptionPrice(options.priceId, info, trialing ? TRIAL_DAYS : null),
      product: productEntity(info, at)
    }],
    custom_data: options.customData === undefined ? null : options.customData,
    import_meta: type === 'subscription.imported' ? { external_id: String(randomInt(100_000, 999_999)), imported_from: 'paddle_classic' } : null
  }
  // Only subscription.created names the transaction that created the subscription.
  return type === 'subscription.created' ? { ...data, transaction_id: newPaddleId('txn', at - 5000) } : data
}

export type SubscriptionEntity = ReturnType<typeof subscriptionEntity>

/** A subscription.* event carrying the complete subscription entity, as Paddle sends it. */
export function subscriptionSnapshot (type: SubscriptionEventType, options: SubscriptionSnapshotOptions): PaddleNotification<SubscriptionEntity> {
  const { occurredAt, at } = eventTime(options.occurredAt)
  return envelope(type, subscriptionEntity(type, options, at), options, occurredAt)
}

// ---------------------------------------------------------------------------------------------------------------
// Transactions.

export interface TransactionItemOption {
  priceId: string
  quantity?: number
}

interface TransactionShape {
  id: string
  status: TransactionStatus
  origin: 'web' | 'api' | 'subscription_recurring' | 'subscription_charge' | 'subscription_update' | 'subscription_payment_method_change'
  customerId: string
  subscriptionId: string | null
  items: TransactionItemOption[]
  customData: CustomData
  billingPeriod: { starts_at: string, ends_at: string } | null
  payment: 'captured' | 'declined' | 'none'
  revised?: boolean
}

function totalsOf (subtotal: number) {
  const tax = Math.round(subtotal * TAX_RATE)
  return { subtotal, discount: 0, tax, total: subtotal + tax }
}

const asStrings = <T extends Record<string, number>>(totals: T): { [K in keyof T]: string } =>
  Object.fromEntries(Object.entries(totals).map(([key, value]) => [key, cents(value)])) as { [K in keyof T]: string }

function transactionEntity (shape: TransactionShape, at: number) {
  const recurring = shape.subscriptionId !== null
  const paid = shape.status === 'paid' || shape.status === 'completed'
  const billed = paid || shape.status === 'billed' || shape.status === 'past_due'
  const createdAt = at - (recurring ? 3600_000 : 120_000)
  const customerId = shape.customerId
  const proration = shape.billingPeriod === null ? null : { rate: '1', billing_period: shape.billingPeriod }
  const lines = shape.items.map((item) => {
    const info = priceInfo(item.priceId, recurring)
    const quantity = item.quantity ?? 1
    const unit = totalsOf(info.amount)
    // Line totals are the unit's times the quantity, so per-unit and per-line figures never disagree by rounding.
    const line = { subtotal: unit.subtotal * quantity, discount: 0, tax: unit.tax * quantity, total: unit.total * quantity }
    return { item, info, quantity, unit, line }
  })
  const sum = lines.reduce((acc, { line }) => ({
    subtotal: acc.subtotal + line.subtotal, discount: 0, tax: acc.tax + line.tax, total: acc.total + line.total
  }), { subtotal: 0, discount: 0, tax: 0, total: 0 })
  const fee = Math.round(sum.total * FEE_RATE) + 50
  const earnings = sum.total - sum.tax - fee
  const totals = {
    ...asStrings(sum),
    credit: '0',
    credit_to_balance: '0',
    balance: paid ? '0' : cents(sum.total),
    grand_total: cents(sum.total),
    grand_total_tax: cents(sum.tax),
    fee: paid ? cents(fee) : null,
    earnings: paid ? cents(earnings) : null,
    currency_code: 'USD'
  }
  const attempt = (status: 'captured' | 'error') => ({
    payment_attempt_id: randomUUID(),
    stored_payment_method_id: randomUUID(),
    payment_method_id: newPaddleId('paymtd', createdAt),
    amount: cents(sum.total),
    status,
    error_code: status === 'error' ? 'declined' : null,
    method_details: {
      type: 'card',
      card: { type: 'visa', last4: status === 'error' ? '0002' : '4242', expiry_month: 12, expiry_year: 2030, cardholder_name: 'Sam Miller' },
      paypal: null,
      south_korea_local_card: null,
      underlying_details: null
    },
    created_at: paddleTime(at - 8000),
    captured_at: status === 'captured' ? paddleTime(at - 2000) : null
  })
  return {
    id: shape.id,
    status: shape.status,
    customer_id: customerId,
    address_id: newPaddleId('add', createdAt),
    business_id: null,
    custom_data: shape.customData,
    currency_code: 'USD',
    origin: shape.origin,
    subscription_id: shape.subscriptionId,
    invoice_id: shape.status === 'completed' ? newPaddleId('inv', at) : null,
    invoice_number: shape.status === 'completed' ? `${randomInt(100, 999)}-${randomInt(10_000, 99_999)}` : null,
    collection_mode: 'automatic',
    discount_id: null,
    billing_details: null,
    billing_period: shape.billingPeriod,
    items: lines.map(({ item, info, quantity }) => ({
      price_id: item.priceId,
      price: priceEntity(item.priceId, info, at),
      quantity,
      proration
    })),
    details: {
      tax_rates_used: [{ tax_rate: String(TAX_RATE), totals: asStrings(sum) }],
      totals,
      adjusted_totals: {
        subtotal: totals.subtotal,
        tax: totals.tax,
        total: totals.total,
        grand_total: totals.grand_total,
        grand_total_tax: totals.grand_total_tax,
        fee: totals.fee,
        earnings: totals.earnings,
        currency_code: 'USD',
        retained_fee: '0'
      },
      payout_totals: paid
        ? { ...totals, fee: cents(fee), earnings: cents(earnings), exchange_rate: '1', fee_rate: String(FEE_RATE) }
        : null,
      adjusted_payout_totals: paid
        ? {
            subtotal: totals.subtotal,
            tax: totals.tax,
            total: totals.total,
            fee: cents(fee),
            chargeback_fee: { amount: '0', original: null },
            earnings: cents(earnings),
            currency_code: 'USD',
            exchange_rate: '1',
            retained_fee: '0'
          }
        : null,
      line_items: lines.map(({ item, info, quantity, unit, line }) => ({
        id: newPaddleId('txnitm', createdAt),
        price_id: item.priceId,
        quantity,
        proration,
        tax_rate: String(TAX_RATE),
        unit_totals: asStrings(unit),
        totals: asStrings(line),
        product: productEntity(info, at)
      }))
    },
    payments: shape.payment === 'captured' ? [attempt('captured')] : shape.payment === 'declined' ? [attempt('error')] : [],
    checkout: { url: recurring ? null : `https://communities.example.com/checkout?_ptxn=${shape.id}` },
    created_at: paddleTime(createdAt),
    updated_at: paddleTime(at - 100),
    billed_at: billed ? paddleTime(at - 3000) : null,
    revised_at: shape.revised === true ? paddleTime(at - 500) : null
  }
}

export type TransactionEntity = ReturnType<typeof transactionEntity>

export interface OneOffTransactionOptions extends EnvelopeOptions {
  transactionId?: string
  customerId?: string
  items: TransactionItemOption[]
  /** What the checkout passed as customData. Default null (it passed none). */
  customData?: CustomData
}

/** transaction.completed for a checkout paid on the web: origin web, no subscription, totals from the items. */
export function oneOffTransaction (options: OneOffTransactionOptions): PaddleNotification<TransactionEntity> {
  const { occurredAt, at } = eventTime(options.occurredAt)
  const data = transactionEntity({
    id: options.transactionId ?? newPaddleId('txn', at - 120_000),
    status: 'completed',
    origin: 'web',
    customerId: options.customerId ?? newPaddleId('ctm'),
    subscriptionId: null,
    items: options.items,
    customData: options.customData === undefined ? null : options.customData,
    billingPeriod: null,
    payment: 'captured'
  }, at)
  return envelope('transaction.completed', data, options, occurredAt)
}

export interface SubscriptionTransactionOptions extends EnvelopeOptions {
  transactionId?: string
  subscriptionId: string
  customerId?: string
  priceId: string
  quantity?: number
  /** Paddle copies the subscription's custom data onto its renewals. Default null. */
  customData?: CustomData
  /** The billing period this renewal pays for. Default: the month starting an hour before the event. */
  periodStart?: string
}

/**
 * A renewal of a subscription (origin subscription_recurring): transaction.completed once collected, or
 * transaction.payment_failed when the charge is declined, the transaction then being past_due while Paddle retries.
 */
export function subscriptionTransaction (
  type: 'transaction.completed' | 'transaction.payment_failed',
  options: SubscriptionTransactionOptions
): PaddleNotification<TransactionEntity> {
  const { occurredAt, at } = eventTime(options.occurredAt)
  const start = options.periodStart !== undefined ? Date.parse(options.periodStart) : at - 3600_000
  const data = transactionEntity({
    id: options.transactionId ?? newPaddleId('txn', at - 3600_000),
    status: type === 'transaction.completed' ? 'completed' : 'past_due',
    origin: 'subscription_recurring',
    customerId: options.customerId ?? newPaddleId('ctm'),
    subscriptionId: options.subscriptionId,
    items: [{ priceId: options.priceId, quantity: options.quantity ?? 1 }],
    customData: options.customData === undefined ? null : options.customData,
    billingPeriod: { starts_at: options.periodStart ?? paddleTime(start), ends_at: paddleTime(addMonths(start, 1)) },
    payment: type === 'transaction.completed' ? 'captured' : 'declined'
  }, at)
  return envelope(type, data, options, occurredAt)
}

// ---------------------------------------------------------------------------------------------------------------
// Every other entity, for the event types the service does not handle.

const importMeta = (imported: boolean) => imported ? { external_id: String(randomInt(10_000, 99_999)), imported_from: 'paddle_classic' } : null

function otherEntity (type: PaddleEventType, at: number): Record<string, unknown> {
  const [entity, action] = type.split('.') as [string, string]
  const imported = action === 'imported'
  const created = paddleTime(action === 'created' ? at - 300 : at - 30 * DAY)
  const updated = paddleTime(at - 200)
  switch (entity) {
    case 'address':
      return {
        id: newPaddleId('add', at),
        customer_id: newPaddleId('ctm'),
        description: 'Head Office',
        first_line: '4050 Jefferson Plaza, 41st Floor',
        second_line: null,
        city: 'New York',
        postal_code: '10021',
        region: 'NY',
        country_code: 'US',
        custom_data: null,
        status: 'active',
        created_at: created,
        updated_at: updated,
        import_meta: importMeta(imported)
      }
    case 'adjustment': {
      const item = { subtotal: 1194, tax: 106, total: 1300, fee: 115, earnings: 1079 }
      return {
        id: newPaddleId('adj', at),
        action: 'refund',
        type: 'partial',
        transaction_id: newPaddleId('txn'),
        subscription_id: null,
        customer_id: newPaddleId('ctm'),
        reason: 'Bought by mistake',
        credit_applied_to_balance: false,
        currency_code: 'USD',
        status: action === 'created' ? 'pending_approval' : 'approved',
        items: [{
          id: newPaddleId('adjitm', at),
          item_id: newPaddleId('txnitm'),
          type: 'partial',
          amount: '1300',
          proration: null,
          totals: { ...asStrings(item), currency_code: 'USD' }
        }],
        totals: { ...asStrings(item), currency_code: 'USD', retained_fee: '0' },
        payout_totals: { ...asStrings(item), chargeback_fee: null, currency_code: 'USD', retained_fee: '0' },
        created_at: created,
        updated_at: updated
      }
    }
    case 'api_key': {
      const id = newPaddleId('apikey', at)
      return {
        id,
        name: 'CRM integration',
        description: 'Reads customers and subscriptions for the CRM.',
        key: `pdl_live_apikey_${id.slice(7, 17)}****`,
        status: action === 'expired' ? 'expired' : action === 'revoked' ? 'revoked' : 'active',
        permissions: ['customer.read', 'subscription.read', 'transaction.read'],
        expires_at: paddleTime(action === 'expired' ? at - 100 : at + (action === 'expiring' ? 7 : 90) * DAY),
        rotatable: true,
        last_used_at: paddleTime(at - DAY),
        created_at: created,
        updated_at: updated
      }
    }
    case 'api_key_exposure':
      return {
        id: newPaddleId('apikeyexp', at),
        api_key_id: newPaddleId('apikey'),
        risk_level: 'high',
        action_taken: 'revoked',
        source: 'github',
        reference: 'https://github.com/example/app/blob/main/config.js',
        description: 'API key found in a public GitHub repository.',
        created_at: created
      }
    case 'business':
      return {
        id: newPaddleId('biz', at),
        customer_id: newPaddleId('ctm'),
        name: 'Lakeside Rowing Club',
        company_number: '123456789',
        tax_identifier: 'GB123456789',
        status: 'active',
        contacts: [{ name: 'Parker Jones', email: 'parker@example.com' }],
        created_at: created,
        updated_at: updated,
        custom_data: null,
        import_meta: importMeta(imported)
      }
    case 'client_token':
      return {
        id: newPaddleId('ctkn', at),
        token: `live_${hex(14).slice(0, 27)}`,
        name: 'Pricing page',
        description: 'Opens checkouts from the pricing page.',
        status: action === 'revoked' ? 'revoked' : 'active',
        created_at: created,
        updated_at: updated,
        revoked_at: action === 'revoked' ? updated : null
      }
    case 'customer':
      return {
        id: newPaddleId('ctm', at),
        name: 'Sam Miller',
        email: 'sam@example.com',
        marketing_consent: false,
        status: 'active',
        custom_data: null,
        locale: 'en',
        created_at: created,
        updated_at: updated,
        import_meta: importMeta(imported)
      }
    case 'discount':
      return {
        id: newPaddleId('dsc', at),
        discount_group_id: null,
        status: 'active',
        description: 'Launch week',
        enabled_for_checkout: true,
        code: 'LAUNCH20',
        mode: 'standard',
        type: 'percentage',
        amount: '20',
        currency_code: null,
        recur: true,
        maximum_recurring_intervals: 3,
        usage_limit: 500,
        restrict_to: [EXAMPLE_PRICES.pro, EXAMPLE_PRICES.business],
        expires_at: paddleTime(at + 30 * DAY),
        custom_data: null,
        times_used: action === 'created' ? 0 : 12,
        created_at: created,
        updated_at: updated,
        import_meta: importMeta(imported)
      }
    case 'discount_group':
      return { id: newPaddleId('dsg', at), name: 'Launch week', status: 'active', created_at: created, updated_at: updated, import_meta: null }
    case 'payment_method': {
      const method = {
        id: newPaddleId('paymtd', at),
        customer_id: newPaddleId('ctm'),
        address_id: newPaddleId('add'),
        type: 'card',
        origin: 'saved_during_purchase',
        saved_at: created,
        updated_at: updated
      }
      return action === 'deleted' ? { ...method, deletion_reason: 'api' } : method
    }
    case 'payout':
      return {
        id: newPaddleId('pay', at),
        remittance_reference: `PADDLE ${hex(4).toUpperCase()}`,
        status: action === 'paid' ? 'paid' : 'unpaid',
        amount: '482650',
        currency_code: 'USD'
      }
    case 'price':
      return { ...priceEntity(imported ? newPaddleId('pri', at) : EXAMPLE_PRICES.pro, EXAMPLE_PRICE_INFO.pro, at), import_meta: importMeta(imported) }
    case 'product': {
      const { updated_at: _, ...product } = productEntity(EXAMPLE_PRICE_INFO.pro, at)
      return { ...product, id: newPaddleId('pro', at), created_at: created, import_meta: importMeta(imported) }
    }
    case 'report':
      return {
        id: newPaddleId('rep', at),
        status: action === 'created' ? 'pending' : 'ready',
        rows: action === 'created' ? null : 527,
        type: 'transactions',
        filters: [
          { name: 'updated_at', operator: 'lt', value: paddleTime(at).slice(0, 10) },
          { name: 'collection_mode', operator: null, value: ['automatic'] }
        ],
        expires_at: action === 'created' ? null : paddleTime(at + 7 * DAY),
        created_at: created
      }
    default:
      throw new Error(`no entity for ${type}`)
  }
}

const TRANSACTION_STATUS: Record<Exclude<TransactionEventType, 'transaction.payment_failed'>, TransactionStatus> = {
  'transaction.created': 'draft',
  'transaction.updated': 'paid',
  'transaction.ready': 'ready',
  'transaction.billed': 'billed',
  'transaction.paid': 'paid',
  'transaction.completed': 'completed',
  'transaction.canceled': 'canceled',
  'transaction.past_due': 'past_due',
  'transaction.revised': 'completed'
}

export interface SampleOverrides extends EnvelopeOptions {
  /** Merged over the entity's top-level fields. */
  data?: Record<string, unknown>
}

const sampleCommunity = () => ({ community_id: `community_${hex(4)}` })

/**
 * A documented-shape event of any type in the SDK's list. The handled types carry what their handler needs: a
 * subscription on the example Pro price, a completed boost purchase, a declined renewal.
 */
export function samplePaddleEvent (type: PaddleEventType, overrides: SampleOverrides = {}): PaddleNotification {
  if (!(ALL_PADDLE_EVENT_TYPES as readonly string[]).includes(type)) throw new Error(`${String(type)} is not a Paddle event type`)
  const { data: extra, ...envelopeOptions } = overrides
  const { occurredAt, at } = eventTime(overrides.occurredAt)
  const options = { ...envelopeOptions, occurredAt }
  let event: PaddleNotification<object>
  if (type.startsWith('subscription.')) {
    event = subscriptionSnapshot(type as SubscriptionEventType, {
      ...options, subscriptionId: newPaddleId('sub', at - 60 * DAY), priceId: EXAMPLE_PRICES.pro, customData: sampleCommunity()
    })
  } else if (type === 'transaction.completed') {
    event = oneOffTransaction({
      ...options, items: [{ priceId: EXAMPLE_PRICES.boost3, quantity: 1 }], customData: { ...sampleCommunity(), member_id: `member_${hex(4)}` }
    })
  } else if (type === 'transaction.payment_failed') {
    event = subscriptionTransaction(type, {
      ...options, subscriptionId: newPaddleId('sub', at - 60 * DAY), priceId: EXAMPLE_PRICES.pro, customData: sampleCommunity()
    })
  } else if (type.startsWith('transaction.')) {
    const status = TRANSACTION_STATUS[type as keyof typeof TRANSACTION_STATUS]
    const renewal = type === 'transaction.past_due' || type === 'transaction.billed'
    const data = transactionEntity({
      id: newPaddleId('txn', at - 120_000),
      status,
      origin: renewal ? 'subscription_recurring' : 'web',
      customerId: newPaddleId('ctm'),
      subscriptionId: renewal ? newPaddleId('sub', at - 60 * DAY) : null,
      items: [{ priceId: renewal ? EXAMPLE_PRICES.pro : EXAMPLE_PRICES.boost3, quantity: 1 }],
      customData: sampleCommunity(),
      billingPeriod: renewal ? { starts_at: paddleTime(at - 3600_000), ends_at: paddleTime(addMonths(at - 3600_000, 1)) } : null,
      payment: status === 'paid' || status === 'completed' ? 'captured' : status === 'past_due' ? 'declined' : 'none',
      revised: type === 'transaction.revised'
    }, at)
    event = envelope(type, data, options, occurredAt)
  } else {
    event = envelope(type, otherEntity(type, at), options, occurredAt)
  }
  return { ...event, data: { ...event.data, ...extra } }
}

// ---------------------------------------------------------------------------------------------------------------
// What real checkouts send.

export type VariantKind = 'boost' | 'badge' | 'subscription'

export interface TrafficVariant {
  name: string
  kind: VariantKind
  /** The event as delivered; deliberately not typed as Paddle's shape, since some variants stray from it. */
  event: Record<string, unknown>
  expect: 'processed' | 'needs_review'
  /** For needs_review: the field path the recorded reason must name. */
  reasonField?: string
  /** For processed: what the handler should store, ids as strings (a number becomes its decimal string). */
  applied?: {
    communityId?: string
    memberId?: string
    purchaseId?: string
    /** Boosts: the months of each paid boost item, in item order (catalogue months × quantity). */
    boostMonths?: number[]
    tier?: string
    badgeId?: string
  }
  /**
   * Badge variants: the pending purchase POST /badges/purchase would have made (priceId is the catalogue's price of
   * the badge, fixed when the purchase starts); insert it before delivering.
   */
  pendingBadge?: { purchaseId: string, memberId: string, communityId: string, badgeId: string, priceId: string }
}

type Json = Record<string, unknown>
type Mutate = (event: Json) => void

const id128 = (prefix: string) => `${prefix}${'x'.repeat(128 - prefix.length)}`
const id129 = (prefix: string) => `${prefix}${'x'.repeat(129 - prefix.length)}`

const dataOf = (event: Json) => event.data as Json
const itemsOf = (event: Json) => dataOf(event).items as Json[]
const lineItemsOf = (event: Json) => (dataOf(event).details as Json).line_items as Json[]

/** Sets custom_data; `undefined` removes the field, which the SDK's types mark optional. */
function setCustomData (event: Json, customData: CustomData | undefined): void {
  if (customData === undefined) delete dataOf(event).custom_data
  else dataOf(event).custom_data = customData
}

const AMOUNT_KEYS = new Set(['amount', 'subtotal', 'discount', 'tax', 'total', 'credit', 'credit_to_balance', 'balance',
  'grand_total', 'grand_total_tax', 'fee', 'earnings', 'retained_fee'])

/** Every money amount a number (`1299`) instead of Paddle's string (`"1299"`). */
function amountsAsNumbers (value: unknown): void {
  if (Array.isArray(value)) { value.forEach(amountsAsNumbers); return }
  if (value === null || typeof value !== 'object') return
  const record = value as Json
  for (const [key, child] of Object.entries(record)) {
    if (AMOUNT_KEYS.has(key) && typeof child === 'string' && /^-?\d+$/.test(child)) record[key] = Number(child)
    else amountsAsNumbers(child)
  }
}

function nullify (record: Json, keys: string[]): void {
  for (const key of keys) record[key] = null
}

const PRICE_NULLABLE = ['name', 'type', 'billing_cycle', 'trial_period', 'unit_price_overrides', 'custom_data', 'import_meta']

/** Every field documented as nullable set to null, except those naming the price paid and the buyer's custom_data. */
function transactionNullables (event: Json): void {
  const data = dataOf(event)
  nullify(data, ['customer_id', 'address_id', 'business_id', 'invoice_id', 'invoice_number', 'discount_id',
    'billing_details', 'billing_period', 'checkout', 'billed_at', 'revised_at', 'subscription_id'])
  for (const item of itemsOf(event)) {
    nullify(item, ['proration'])
    nullify(item.price as Json, [...PRICE_NULLABLE, 'created_at', 'updated_at'])
  }
  const details = data.details as Json
  nullify(details, ['adjusted_totals', 'payout_totals', 'adjusted_payout_totals'])
  nullify(details.totals as Json, ['fee', 'earnings'])
  for (const taxRate of details.tax_rates_used as Json[]) nullify(taxRate, ['totals'])
  for (const line of lineItemsOf(event)) nullify(line, ['proration', 'unit_totals', 'totals', 'product'])
  for (const payment of data.payments as Json[]) nullify(payment, ['payment_method_id', 'error_code', 'method_details'])
}

function subscriptionNullables (event: Json): void {
  const data = dataOf(event)
  nullify(data, ['business_id', 'started_at', 'first_billed_at', 'next_billed_at', 'paused_at', 'canceled_at', 'discount',
    'billing_details', 'current_billing_period', 'scheduled_change', 'import_meta'])
  for (const item of itemsOf(event)) {
    nullify(item, ['previously_billed_at', 'next_billed_at', 'trial_dates', 'product'])
    nullify(item.price as Json, [...PRICE_NULLABLE, 'unit_price', 'quantity', 'status'])
  }
}

/** Fields Paddle may add at any level; a reader that refuses unknown fields breaks on Paddle's next release. */
function unknownFieldsEverywhere (event: Json): void {
  event.x_delivery = { attempt: 2, region: 'eu-west-1' }
  dataOf(event).future_field = { introduced: '2026-01' }
  for (const item of itemsOf(event)) {
    item.future_item_field = 'x'
    ;(item.price as Json).future_price_field = ['x']
  }
  const custom = dataOf(event).custom_data as Json
  custom.utm_source = 'newsletter'
  custom.referrer = { campaign: 'spring', clicks: 3 }
}

/** occurred_at with an offset instead of Z, keeping the microseconds. */
const withOffset = (event: Json) => { event.occurred_at = (event.occurred_at as string).replace(/Z$/, '+00:00') }
/** occurred_at with nanoseconds, as some Paddle timestamps carry. */
const withNanoseconds = (event: Json) => { event.occurred_at = (event.occurred_at as string).replace(/Z$/, '417Z') }

function json (event: object): Json {
  return structuredClone(event) as Json
}

/**
 * Variants of a boost purchase, a badge purchase and a subscription snapshot, as real checkouts and integrations
 * send them, each with the outcome the handlers owe it. The rule they follow:
 * - custom_data says who: community_id for a boost or a subscription; purchase_id and member_id for a badge.
 *   What is granted comes from the price paid, through the catalogue; months, tier, badge_id and type in
 *   custom_data are ignored.
 * - An id may be a string or a number (a number becomes its decimal string); any printable text of 1 to 128
 *   characters is usable (spaces and non-ASCII letters included; control characters are not).
 * - A missing or unusable "who", or a price the catalogue does not name, is needs_review, and the reason names
 *   the field: the first of community_id (boost, subscription); purchase_id, then member_id (badge); then the price.
 *
 * Ids are fresh on every call, so two calls never collide.
 */
export function realTrafficVariants (): TrafficVariant[] {
  const variants: TrafficVariant[] = []

  // Boosts: a web checkout paying the 3-month boost price; custom_data names the community.
  const boost = (name: string, custom: (ids: { community: string, member: string }) => CustomData | undefined,
    outcome: Pick<TrafficVariant, 'expect' | 'reasonField' | 'applied'>, mutate?: Mutate, items?: TransactionItemOption[]) => {
    const ids = { community: `community_${hex(4)}`, member: `member_${hex(4)}` }
    const event = json(oneOffTransaction({ items: items ?? [{ priceId: EXAMPLE_PRICES.boost3, quantity: 1 }], customData: {} }))
    setCustomData(event, custom(ids))
    mutate?.(event)
    const applied = outcome.applied === undefined ? undefined : { boostMonths: [3], ...outcome.applied }
    variants.push({ name: `boost: ${name}`, kind: 'boost', event, ...outcome, ...(applied !== undefined ? { applied } : {}) })
  }
  const boosted = (communityId: string, more: TrafficVariant['applied'] = {}) =>
    ({ expect: 'processed' as const, applied: { communityId, ...more } })
  const boostReview = { expect: 'needs_review' as const, reasonField: 'custom_data.community_id' }

  boost('documented shape, string ids', (i) => ({ community_id: i.community, member_id: i.member }), boosted(''))
  boost('months "3" as a string in custom_data (ignored: the price says 3 months)',
    (i) => ({ community_id: i.community, member_id: i.member, months: '3' }), boosted(''))
  boost('custom_data.months claims 12 while the 1-month price was paid (ignored)',
    (i) => ({ community_id: i.community, months: 12 }), boosted('', { boostMonths: [1] }), undefined, [{ priceId: EXAMPLE_PRICES.boost1 }])
  boost('numeric community_id 42', () => ({ community_id: 42, member_id: `member_${hex(4)}` }), boosted('42'))
  boost('community_id 0, a number that is falsy', () => ({ community_id: 0 }), boosted('0'))
  boost('numeric member_id', (i) => ({ community_id: i.community, member_id: 7001 }), boosted('', { memberId: '7001' }))
  boost('capitalised type "Boost_Purchase" (ignored)', (i) => ({ type: 'Boost_Purchase', community_id: i.community }), boosted(''))
  boost('community_id with a space', () => ({ community_id: `Book Club ${hex(2)}` }), boosted(''))
  boost('non-ASCII community_id', () => ({ community_id: `comunidad-españa-${hex(2)}` }), boosted(''))
  boost('non-ASCII member_id (CJK and emoji)', (i) => ({ community_id: i.community, member_id: `会員🚀${hex(2)}` }), boosted(''))
  boost('community_id of 128 characters', () => ({ community_id: id128(`c${hex(4)}`) }), boosted(''))
  boost('community_id of 129 characters', () => ({ community_id: id129(`c${hex(4)}`) }), boostReview)
  boost('custom_data null', () => null, boostReview)
  boost('custom_data missing', () => undefined, boostReview)
  boost('custom_data {}', () => ({}), boostReview)
  boost('community_id empty', () => ({ community_id: '' }), boostReview)
  boost('community_id with a newline (not printable)', () => ({ community_id: `community_${hex(2)}\n` }), boostReview)
  boost('community_id true (a boolean is not an id)', () => ({ community_id: true }), boostReview)
  boost('community_id an object', () => ({ community_id: { id: 42 } }), boostReview)
  boost('member_id only, no community_id', (i) => ({ member_id: i.member }), boostReview)
  boost('extra unknown fields at every level', (i) => ({ community_id: i.community }), boosted(''), unknownFieldsEverywhere)
  boost('every documented nullable field null, except the price and custom_data', (i) => ({ community_id: i.community }),
    boosted(''), transactionNullables)
  boost('quantity "2" as a string', (i) => ({ community_id: i.community }), boosted('', { boostMonths: [6] }), (event) => {
    itemsOf(event)[0]!.quantity = '2'
    lineItemsOf(event)[0]!.quantity = '2'
  }, [{ priceId: EXAMPLE_PRICES.boost3, quantity: 2 }])
  boost('two boost items in one checkout', (i) => ({ community_id: i.community }), boosted('', { boostMonths: [3, 12] }), undefined,
    [{ priceId: EXAMPLE_PRICES.boost3 }, { priceId: EXAMPLE_PRICES.boost12 }])
  boost('amounts as numbers instead of strings', (i) => ({ community_id: i.community }), boosted(''), (event) => amountsAsNumbers(event.data))
  boost('occurred_at with +00:00 instead of Z', (i) => ({ community_id: i.community }), boosted(''), withOffset)
  boost('occurred_at with nanoseconds', (i) => ({ community_id: i.community }), boosted(''), withNanoseconds)
  boost('a price the catalogue does not name', (i) => ({ community_id: i.community }),
    { expect: 'needs_review', reasonField: 'items[0].price_id' }, undefined, [{ priceId: newPaddleId('pri') }])

  // The community id each processed boost should store, read back from what was sent.
  for (const variant of variants) {
    if (variant.applied?.communityId === '') {
      variant.applied.communityId = String((dataOf(variant.event).custom_data as Json).community_id)
    }
  }

  // Badges: POST /badges/purchase made a pending row and handed its ids to the checkout as custom data.
  const badge = (name: string, custom: (row: NonNullable<TrafficVariant['pendingBadge']>) => CustomData | undefined,
    outcome: Pick<TrafficVariant, 'expect' | 'reasonField'>, mutate?: Mutate, priceId: string = EXAMPLE_PRICES.badgeGold,
    row: Partial<NonNullable<TrafficVariant['pendingBadge']>> = {}) => {
    const pendingBadge = {
      purchaseId: `bp_${hex(12)}`,
      memberId: `member_${hex(4)}`,
      communityId: `community_${hex(4)}`,
      badgeId: 'badge_gold',
      priceId: EXAMPLE_PRICES.badgeGold,
      ...row
    }
    const event = json(oneOffTransaction({ items: [{ priceId }], customData: {} }))
    setCustomData(event, custom(pendingBadge))
    mutate?.(event)
    const applied = outcome.expect === 'processed'
      ? { purchaseId: pendingBadge.purchaseId, memberId: pendingBadge.memberId, badgeId: pendingBadge.badgeId }
      : undefined
    variants.push({ name: `badge: ${name}`, kind: 'badge', event, ...outcome, ...(applied !== undefined ? { applied } : {}), pendingBadge })
  }
  const asSent = (row: NonNullable<TrafficVariant['pendingBadge']>): Json => ({
    type: 'badge_purchase', member_id: row.memberId, community_id: row.communityId, badge_id: row.badgeId, purchase_id: row.purchaseId
  })
  const completed = { expect: 'processed' as const }
  const reviewPurchase = { expect: 'needs_review' as const, reasonField: 'custom_data.purchase_id' }
  const reviewMember = { expect: 'needs_review' as const, reasonField: 'custom_data.member_id' }

  badge('documented shape, as POST /badges/purchase hands it to the checkout', asSent, completed)
  badge('numeric member_id', (row) => ({ ...asSent(row), member_id: 7001 }), completed, undefined, undefined, { memberId: '7001' })
  badge('numeric community_id 42', (row) => ({ ...asSent(row), community_id: 42 }), completed, undefined, undefined, { communityId: '42' })
  badge('numeric purchase_id', (row) => ({ ...asSent(row), purchase_id: 90017 }), completed, undefined, undefined, { purchaseId: '90017' })
  badge('capitalised type "Badge_Purchase" (ignored)', (row) => ({ ...asSent(row), type: 'Badge_Purchase' }), completed)
  badge('custom_data.badge_id says silver while the gold price was paid (ignored: the price decides)',
    (row) => ({ ...asSent(row), badge_id: 'badge_silver' }), completed)
  badge('non-ASCII member_id', asSent, completed, undefined, undefined, { memberId: `membre-éloïse-${hex(2)}` })
  badge('purchase_id of 128 characters', asSent, completed, undefined, undefined, { purchaseId: id128(`bp_${hex(4)}`) })
  badge('member_id of 128 characters', asSent, completed, undefined, undefined, { memberId: id128(`m${hex(4)}`) })
  badge('member_id of 129 characters', asSent, reviewMember, undefined, undefined, { memberId: id129(`m${hex(4)}`) })
  badge('purchase_id of 129 characters', asSent, reviewPurchase, undefined, undefined, { purchaseId: id129(`bp_${hex(4)}`) })
  badge('custom_data null', () => null, reviewPurchase)
  badge('custom_data missing', () => undefined, reviewPurchase)
  badge('custom_data {}', () => ({}), reviewPurchase)
  badge('purchase_id missing', (row) => { const { purchase_id: _, ...rest } = asSent(row); return rest }, reviewPurchase)
  badge('member_id missing', (row) => { const { member_id: _, ...rest } = asSent(row); return rest }, reviewMember)
  badge('member_id null', (row) => ({ ...asSent(row), member_id: null }), reviewMember)
  badge('extra unknown fields at every level', asSent, completed, unknownFieldsEverywhere)
  badge('every documented nullable field null, except the price and custom_data', asSent, completed, transactionNullables)
  badge('amounts as numbers instead of strings', asSent, completed, (event) => amountsAsNumbers(event.data))
  badge('occurred_at with nanoseconds', asSent, completed, withNanoseconds)
  badge('a price the catalogue does not name', asSent, { expect: 'needs_review', reasonField: 'items[0].price_id' },
    undefined, newPaddleId('pri'))

  // Subscriptions: subscription.created for the Pro price; custom_data names the community.
  const subscription = (name: string, custom: (community: string) => CustomData | undefined,
    outcome: Pick<TrafficVariant, 'expect' | 'reasonField'> & { tier?: string }, mutate?: Mutate,
    options: { type?: SubscriptionEventType, priceId?: string } = {}) => {
    const community = `community_${hex(4)}`
    const event = json(subscriptionSnapshot(options.type ?? 'subscription.created', {
      subscriptionId: newPaddleId('sub'), priceId: options.priceId ?? EXAMPLE_PRICES.pro, customData: {}
    }))
    const customData = custom(community)
    setCustomData(event, customData)
    mutate?.(event)
    const { tier, ...rest } = outcome
    const applied = outcome.expect === 'processed'
      ? { communityId: String((customData as Json).community_id), tier: tier ?? 'pro' }
      : undefined
    variants.push({ name: `subscription: ${name}`, kind: 'subscription', event, ...rest, ...(applied !== undefined ? { applied } : {}) })
  }
  const applies = { expect: 'processed' as const }
  const subscriptionReview = { expect: 'needs_review' as const, reasonField: 'custom_data.community_id' }

  subscription('documented shape, string community_id', (c) => ({ community_id: c }), applies)
  subscription('numeric community_id 42', () => ({ community_id: 42 }), applies)
  subscription('capitalised tier "Pro" in custom_data (ignored: the price says pro)', (c) => ({ community_id: c, tier: 'Pro' }), applies)
  subscription('custom_data.tier claims business while the starter price is paid (ignored)',
    (c) => ({ community_id: c, tier: 'business' }), { ...applies, tier: 'starter' }, undefined, { priceId: EXAMPLE_PRICES.starter })
  subscription('community_id with a space', () => ({ community_id: `Book Club ${hex(2)}` }), applies)
  subscription('non-ASCII community_id', () => ({ community_id: `コミュニティ-${hex(2)}` }), applies)
  subscription('community_id of 128 characters', () => ({ community_id: id128(`c${hex(4)}`) }), applies)
  subscription('community_id of 129 characters', () => ({ community_id: id129(`c${hex(4)}`) }), subscriptionReview)
  subscription('custom_data null', () => null, subscriptionReview)
  subscription('custom_data missing', () => undefined, subscriptionReview)
  subscription('custom_data {}', () => ({}), subscriptionReview)
  subscription('extra unknown fields at every level', (c) => ({ community_id: c }), applies, unknownFieldsEverywhere)
  subscription('every documented nullable field null, except the price and custom_data', (c) => ({ community_id: c }), applies,
    subscriptionNullables)
  subscription('quantity "2" as a string', (c) => ({ community_id: c }), applies, (event) => { itemsOf(event)[0]!.quantity = '2' })
  subscription('amounts as numbers instead of strings', (c) => ({ community_id: c }), applies, (event) => amountsAsNumbers(event.data))
  subscription('occurred_at with +00:00 instead of Z', (c) => ({ community_id: c }), applies, withOffset)
  subscription('occurred_at with nanoseconds', (c) => ({ community_id: c }), applies, withNanoseconds)
  subscription('canceled: current_billing_period null, tier back to starter', (c) => ({ community_id: c }),
    { ...applies, tier: 'starter' }, undefined, { type: 'subscription.canceled' })
  subscription('a price the catalogue does not name', (c) => ({ community_id: c }),
    { expect: 'needs_review', reasonField: 'items[0].price.id' }, undefined, { priceId: newPaddleId('pri') })

  return variants
}
