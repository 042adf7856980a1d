// Subscription lifecycle events and the transactions that move a subscription's status.
import { and, eq, sql } from 'drizzle-orm'
import { subscriptions } from '../../db/schema.js'
import type { PaddleEvent } from '../paddle/envelope.js'
import { ignore, named, type EventPlan } from './plan.js'

const GRACE_MS = 24 * 60 * 60 * 1000
const DEFAULT_TIER = 'starter'

/** Upsert by provider id; an event older than the row's last event changes nothing (out-of-order delivery). */
export function planSubscriptionEvent (event: PaddleEvent): EventPlan {
  const { data } = event
  if (data.id === undefined) return ignore(`${event.event_type} without data.id`)
  const id = data.id
  const canceled = event.event_type === 'subscription.canceled'
  const status = data.status ?? (canceled ? 'canceled' : event.event_type.slice('subscription.'.length))
  const customTier = data.custom_data?.tier
  const tier = canceled ? DEFAULT_TIER : customTier
  const occurredAt = new Date(event.occurred_at)
  const periodEnd = data.current_billing_period?.ends_at
  const values = {
    id,
    communityId: data.custom_data?.community_id ?? null,
    customerId: data.customer_id ?? null,
    status,
    tier: tier ?? DEFAULT_TIER,
    lastEventAt: occurredAt,
    // A nullable timestamp goes in as text: drizzle's column encoder cannot take a null placeholder value.
    currentPeriodEnd: periodEnd !== undefined ? new Date(periodEnd).toISOString() : null
  }
  const keepsTier = tier === undefined
  const clearsGrace = status === 'active'
  return {
    kind: 'apply',
    shape: `subscription_${keepsTier ? 'keep' : 'set'}_tier_${clearsGrace ? 'clear' : 'keep'}_grace`,
    values,
    statements: (db, p) => [
      db.insert(subscriptions).values({
        ...named(values, p),
        currentPeriodEnd: sql`${p('currentPeriodEnd')}::timestamptz`,
        graceUntil: null
      }).onConflictDoUpdate({
        target: subscriptions.id,
        set: {
          communityId: sql`coalesce(excluded.community_id, ${subscriptions.communityId})`,
          customerId: sql`coalesce(excluded.customer_id, ${subscriptions.customerId})`,
          status: sql`excluded.status`,
          // A tier comes from custom_data or a cancellation; otherwise the row keeps its own.
          tier: keepsTier ? sql`${subscriptions.tier}` : sql`excluded.tier`,
          currentPeriodEnd: sql`coalesce(excluded.current_period_end, ${subscriptions.currentPeriodEnd})`,
          graceUntil: clearsGrace ? sql`null` : sql`${subscriptions.graceUntil}`,
          lastEventAt: sql`excluded.last_event_at`,
          updatedAt: sql`now()`
        },
        setWhere: sql`${subscriptions.lastEventAt} <= excluded.last_event_at`
      })
    ]
  }
}

// Transactions move the same row, so they follow the same out-of-order rule: an older one changes nothing
// (a late payment_failed must not put a paid subscription back into past_due), and a newer one moves
// last_event_at so that older subscription events after it change nothing either.

/** A paid transaction of a subscription: active again, grace cleared. */
export function planSubscriptionTransaction (event: PaddleEvent): EventPlan {
  const subscriptionId = event.data.subscription_id
  if (typeof subscriptionId !== 'string') return ignore('transaction without subscription_id')
  return {
    kind: 'apply',
    shape: 'subscription_paid',
    values: { id: subscriptionId, lastEventAt: new Date(event.occurred_at).toISOString() },
    statements: (db, p) => [
      db.update(subscriptions)
        .set({ status: 'active', graceUntil: null, lastEventAt: sql`${p('lastEventAt')}::timestamptz`, updatedAt: sql`now()` })
        .where(and(eq(subscriptions.id, p('id')), sql`${subscriptions.lastEventAt} <= ${p('lastEventAt')}::timestamptz`))
    ]
  }
}

/** A failed renewal: past_due with 24 hours of grace from the delivery. */
export function planPaymentFailed (event: PaddleEvent, now: Date): EventPlan {
  const subscriptionId = event.data.subscription_id
  if (typeof subscriptionId !== 'string') return ignore('transaction.payment_failed without subscription_id')
  return {
    kind: 'apply',
    shape: 'subscription_payment_failed',
    values: {
      id: subscriptionId,
      lastEventAt: new Date(event.occurred_at).toISOString(),
      graceUntil: new Date(now.getTime() + GRACE_MS).toISOString()
    },
    statements: (db, p) => [
      db.update(subscriptions)
        .set({ status: 'past_due', graceUntil: sql`${p('graceUntil')}::timestamptz`, lastEventAt: sql`${p('lastEventAt')}::timestamptz`, updatedAt: sql`now()` })
        .where(and(eq(subscriptions.id, p('id')), sql`${subscriptions.lastEventAt} <= ${p('lastEventAt')}::timestamptz`))
    ]
  }
}
