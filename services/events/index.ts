// What each Paddle event does. `planEvent` is LVVER's VALIDATE (pure); the plan's statement is EXECUTE.
import type { PriceCatalog } from '../catalog.js'
import type { PaddleEvent } from '../paddle/envelope.js'
import { ignore, type EventPlan } from './plan.js'
import { SUBSCRIPTION_EVENTS, planSubscriptionSnapshot } from './subscription.js'
import { planTransaction } from './transaction.js'

export type { EventPlan }

export const TRANSACTION_EVENTS: ReadonlySet<string> = new Set(['transaction.completed', 'transaction.payment_failed'])

/** Every event type with a handler; the fallback buckets and metric labels are keyed by these. */
export const HANDLED_EVENT_TYPES: ReadonlySet<string> = new Set([...SUBSCRIPTION_EVENTS, ...TRANSACTION_EVENTS])

/** Decides, without I/O, whether and how an event is applied, by the catalogue as it is now. */
export function planEvent (event: PaddleEvent, catalog: PriceCatalog): EventPlan {
  if (SUBSCRIPTION_EVENTS.has(event.event_type)) return planSubscriptionSnapshot(event, catalog)
  if (TRANSACTION_EVENTS.has(event.event_type)) return planTransaction(event, catalog)
  return ignore(`event type ${event.event_type} has no handler`)
}
