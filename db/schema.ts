// The only description of the tables (DESIGN §6); migrations are generated from it by drizzle-kit.
import { sql } from 'drizzle-orm'
import { bigserial, check, index, integer, jsonb, pgTable, smallint, text, timestamp } from 'drizzle-orm/pg-core'

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

/** The durable dedupe record: one row per provider event, inserted in the event's own transaction. */
export const webhookEvents = pgTable('webhook_events', {
  eventId: text('event_id').primaryKey(),
  eventType: text('event_type').notNull(),
  status: text('status', { enum: ['processed', 'ignored'] }).notNull(),
  occurredAt: timestamptz('occurred_at'),
  receivedAt: timestamptz('received_at').notNull().defaultNow(),
  processedAt: timestamptz('processed_at').notNull().defaultNow(),
  reason: text('reason'),
  payload: jsonb('payload').notNull()
}, (t) => [
  check('webhook_events_status_check', sql`${t.status} in ('processed', 'ignored')`),
  // Retention jobs delete by age; keep that scan cheap.
  index('webhook_events_received_at_idx').on(t.receivedAt)
])

export const subscriptions = pgTable('subscriptions', {
  id: text('id').primaryKey(),
  communityId: text('community_id'),
  customerId: text('customer_id'),
  status: text('status').notNull(),
  tier: text('tier').notNull(),
  currentPeriodEnd: timestamptz('current_period_end'),
  graceUntil: timestamptz('grace_until'),
  lastEventAt: timestamptz('last_event_at').notNull(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow()
}, (t) => [index('subscriptions_community_id_idx').on(t.communityId)])

export const boosts = pgTable('boosts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  communityId: text('community_id').notNull(),
  memberId: text('member_id'),
  months: smallint('months').notNull(),
  source: text('source', { enum: ['purchase', 'admin'] }).notNull(),
  transactionId: text('transaction_id').unique(),
  amount: text('amount'),
  currencyCode: text('currency_code'),
  reason: text('reason'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  expiresAt: timestamptz('expires_at').notNull()
}, (t) => [
  check('boosts_source_check', sql`${t.source} in ('purchase', 'admin')`),
  check('boosts_months_check', sql`${t.months} between 1 and 120`),
  index('boosts_community_created_idx').on(t.communityId, t.createdAt)
])

export const badgePurchases = pgTable('badge_purchases', {
  id: text('id').primaryKey(),
  memberId: text('member_id').notNull(),
  communityId: text('community_id').notNull(),
  badgeId: text('badge_id').notNull(),
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
})

export type WebhookEventRow = typeof webhookEvents.$inferSelect
export type SubscriptionRow = typeof subscriptions.$inferSelect
export type BoostRow = typeof boosts.$inferSelect
export type BadgePurchaseRow = typeof badgePurchases.$inferSelect
export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect
