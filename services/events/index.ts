// DESIGN §5: what each Paddle event does. `planEvent` is VALIDATE (pure); the plan's statements are EXECUTE.
import type { PaddleEvent } from '../paddle/envelope.js'
import { planBadgePurchase } from './badge.js'
import { planBoostPurchase } from './boost.js'
import { ignore, type EventPlan } from './plan.js'
import { planPaymentFailed, planSubscriptionEvent, planSubscriptionTransaction } from './subscription.js'

export type { EventPlan }

export const SUBSCRIPTION_EVENTS: ReadonlySet<string> = new Set([
  'subscription.created', 'subscription.activated', 'subscription.updated', 'subscription.canceled',
  'subscription.paused', 'subscription.resumed', 'subscription.past_due'
])

/** Every event type with a handler; the fallback buckets and metric labels are keyed by these. */
export const HANDLED_EVENT_TYPES: ReadonlySet<string> = new Set([
  ...SUBSCRIPTION_EVENTS, 'transaction.completed', 'transaction.payment_failed'
])


/** Decides, without I/O, whether and how an event is applied. `now` is the delivery time. */
export function planEvent (event: PaddleEvent, now: Date): EventPlan {
  if (SUBSCRIPTION_EVENTS.has(event.event_type)) return planSubscriptionEvent(event)
  if (event.event_type === 'transaction.payment_failed') return planPaymentFailed(event, now)
  if (event.event_type === 'transaction.completed') {
    const type = event.data.custom_data?.type
    if (type === 'boost_purchase') return planBoostPurchase(event)
    if (type === 'badge_purchase') return planBadgePurchase(event)
    if (typeof event.data.subscription_id === 'string') return planSubscriptionTransaction(event)
    return ignore('transaction.completed without a boost, badge or subscription')
  }
  return ignore(`event type ${event.event_type} is not handled`)
}
