// The only description of the tables; migrations are generated from it by drizzle-kit.
import { sql } from 'drizzle-orm'
import { bigserial, check, index, integer, jsonb, pgTable, smallint, text, timestamp, unique } from 'drizzle-orm/pg-core'

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

/**
 * The inbox: one row per provider event, written in the event's own transaction. A final status
 * (processed, ignored, needs_review) is the durable dedupe record; `failed` is kept for the next attempt.
 */
export const EVENT_STATUSES = ['processed', 'ignored', 'needs_review', 'failed'] as const
export const EVENT_SOURCES = ['webhook', 'replay', 'reconcile'] as const
export type EventStatus = typeof EVENT_STATUSES[number]
export type EventSource = typeof EVENT_SOURCES[number]

export const webhookEvents = pgTable('webhook_events', {
  eventId: text('event_id').primaryKey(),
  eventType: text('event_type').notNull(),
  status: text('status', { enum: EVENT_STATUSES }).notNull(),
  source: text('source', { enum: EVENT_SOURCES }).notNull().default('webhook'),
  // As text: Paddle sends microseconds, which a JavaScript Date would cut to milliseconds.
  occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'string' }),
  receivedAt: timestamptz('received_at').notNull().defaultNow(),
  processedAt: timestamptz('processed_at'),
  attempts: integer('attempts').notNull().default(1),
  lastError: text('last_error'),
  reason: text('reason'),
  payload: jsonb('payload').notNull()
}, (t) => [
  check('webhook_events_status_check', sql`${t.status} in ('processed', 'ignored', 'needs_review', 'failed')`),
  check('webhook_events_source_check', sql`${t.source} in ('webhook', 'replay', 'reconcile')`),
  // Retention deletes by age; the inbox lists newest first.
  index('webhook_events_received_at_idx').on(t.receivedAt),
  // The operator's inbox and its gauges look for the few rows that wait for someone.
  index('webhook_events_waiting_idx').on(t.status, t.receivedAt).where(sql`${t.status} in ('failed', 'needs_review')`)
])

/**
 * A subscription is two independent states, each ordered by its own watermark (see ARCHITECTURE.md,
 * "Convergence"): the latest `subscription.*` snapshot, and the latest payment. `status` and
 * `grace_until` are derived from both on every write.
 */
export const subscriptions = pgTable('subscriptions', {
  id: text('id').primaryKey(),
  communityId: text('community_id'),
  customerId: text('customer_id'),
  status: text('status').notNull(),
  tier: text('tier').notNull(),
  currentPeriodEnd: timestamptz('current_period_end'),
  graceUntil: timestamptz('grace_until'),
  /** The snapshot watermark: occurred_at of the latest snapshot applied (null until one arrives). */
  lastEventAt: timestamp('last_event_at', { withTimezone: true, mode: 'string' }),
  lastEventId: text('last_event_id'),
  snapshotStatus: text('snapshot_status'),
  /** The payment watermark: the latest transaction.completed / payment_failed of this subscription. */
  paymentStatus: text('payment_status', { enum: ['paid', 'failed'] }),
  paymentAt: timestamp('payment_at', { withTimezone: true, mode: 'string' }),
  paymentEventId: text('payment_event_id'),
  updatedAt: timestamptz('updated_at').notNull().defaultNow()
}, (t) => [
  check('subscriptions_payment_status_check', sql`${t.paymentStatus} in ('paid', 'failed')`),
  index('subscriptions_community_id_idx').on(t.communityId)
])

export const boosts = pgTable('boosts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  communityId: text('community_id').notNull(),
  memberId: text('member_id'),
  months: smallint('months').notNull(),
  source: text('source', { enum: ['purchase', 'admin'] }).notNull(),
  transactionId: text('transaction_id'),
  priceId: text('price_id'),
  amount: text('amount'),
  currencyCode: text('currency_code'),
  reason: text('reason'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  expiresAt: timestamptz('expires_at').notNull()
}, (t) => [
  check('boosts_source_check', sql`${t.source} in ('purchase', 'admin')`),
  check('boosts_months_check', sql`${t.months} between 1 and 1200`),
  // One boost per paid price of a transaction, however often the transaction is notified.
  unique('boosts_transaction_price_unique').on(t.transactionId, t.priceId),
  index('boosts_community_created_idx').on(t.communityId, t.createdAt)
])

export const badgePurchases = pgTable('badge_purchases', {
  id: text('id').primaryKey(),
  memberId: text('member_id').notNull(),
  communityId: text('community_id').notNull(),
  badgeId: text('badge_id').notNull(),
  /** The catalogue price of the badge, fixed when the purchase starts: the payment must match it. */
  priceId: text('price_id'),
  status: text('status', { enum: ['pending', 'completed'] }).notNull(),
  transactionId: text('transaction_id').unique(),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  completedAt: timestamptz('completed_at')
}, (t) => [
  check('badge_purchases_status_check', sql`${t.status} in ('pending', 'completed')`),
  index('badge_purchases_member_badge_idx').on(t.memberId, t.communityId, t.badgeId)
])

/** Idempotency-Key records of the admin and member POST routes: the first answer, replayed for the same key. */
export const idempotencyKeys = pgTable('idempotency_keys', {
  key: text('key').primaryKey(),
  scope: text('scope').notNull(),
  requestHash: text('request_hash').notNull(),
  statusCode: integer('status_code').notNull(),
  response: jsonb('response').notNull(),
  createdAt: timestamptz('created_at').notNull().defaultNow()
}, (t) => [index('idempotency_keys_created_at_idx').on(t.createdAt)])

/** Named cursors and leases of background work: the reconciler's place in Paddle's event log. */
export const reconcileState = pgTable('reconcile_state', {
  name: text('name').primaryKey(),
  cursor: text('cursor'),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  /** Who runs a pass now, and until when; a holder that dies loses the lease when it expires. */
  leaseOwner: text('lease_owner'),
  leaseUntil: timestamptz('lease_until')
})

export type WebhookEventRow = typeof webhookEvents.$inferSelect
export type SubscriptionRow = typeof subscriptions.$inferSelect
export type BoostRow = typeof boosts.$inferSelect
export type BadgePurchaseRow = typeof badgePurchases.$inferSelect
export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect
export type ReconcileStateRow = typeof reconcileState.$inferSelect
