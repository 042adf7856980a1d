// subscription.* events: each is a snapshot of the subscription, applied when it is the latest by
// (occurred_at, event_id). Who it is for comes from custom_data; its tier from the catalogue entry of its
// recurring price (ARCHITECTURE.md, "Convergence" and "Grant only what was paid").
import { statements } from '../../db/statements.js'
import type { PriceCatalog } from '../catalog.js'
import { readId, readTimestamp, readWord, record, requireId } from '../paddle/fields.js'
import type { PaddleEvent } from '../paddle/envelope.js'
import { needsReview, type EventPlan } from './plan.js'

export const SUBSCRIPTION_EVENTS: ReadonlySet<string> = new Set([
  'subscription.created', 'subscription.activated', 'subscription.updated', 'subscription.trialing', 'subscription.imported',
  'subscription.canceled', 'subscription.paused', 'subscription.resumed', 'subscription.past_due'
])

/** A canceled subscription falls back to the free tier. */
export const DEFAULT_TIER = 'starter'

/** The price ids of a subscription's items (`items[].price.id`, or `items[].price_id`), each with the field it came from. */
export function itemPriceIds (data: Record<string, unknown>): Array<{ field: string, id: string }> {
  const items = Array.isArray(data.items) ? data.items : []
  const ids: Array<{ field: string, id: string }> = []
  for (const [i, item] of items.entries()) {
    const entry = record(item)
    const nested = record(entry?.price)?.id
    const field = nested !== undefined && nested !== null ? `items[${i}].price.id` : `items[${i}].price_id`
    const id = readId(nested ?? entry?.price_id, field)
    if (id?.ok === true) ids.push({ field, id: id.value })
  }
  return ids
}

export function planSubscriptionSnapshot (event: PaddleEvent, catalog: PriceCatalog): EventPlan {
  const { data } = event
  const custom = record(data.custom_data) ?? {}
  const subscriptionId = requireId(data.id, 'data.id')
  if (!subscriptionId.ok) return needsReview(subscriptionId.reason)
  const communityId = requireId(custom.community_id, 'custom_data.community_id')
  if (!communityId.ok) return needsReview(communityId.reason)
  const customerId = readId(data.customer_id, 'data.customer_id')
  if (customerId?.ok === false) return needsReview(customerId.reason)

  const status = readWord(data.status) ?? event.event_type.slice('subscription.'.length)
  let tier = DEFAULT_TIER
  if (status !== 'canceled') {
    const prices = itemPriceIds(data)
    const tiers = prices.map(({ id }) => catalog.grantOf(id)).flatMap((grant) => grant?.grant === 'tier' ? [grant.tier] : [])
    if (tiers.length === 0) {
      const fields = prices.length === 0 ? 'items' : prices.map(({ field }) => field).join(', ')
      return needsReview(`${fields}: no price in the catalogue grants a tier (prices: ${prices.map(({ id }) => id).join(', ') || 'none'})`)
    }
    if (new Set(tiers).size > 1) return needsReview(`items: prices grant several tiers (${tiers.join(', ')})`)
    tier = tiers[0] ?? DEFAULT_TIER
  }
  return {
    kind: 'apply',
    statement: statements.subscriptionSnapshot,
    values: {
      subscription_id: subscriptionId.value,
      community_id: communityId.value,
      customer_id: customerId?.value ?? null,
      snapshot_status: status,
      tier,
      period_end: readTimestamp(record(data.current_billing_period)?.ends_at) ?? null
    }
  }
}
