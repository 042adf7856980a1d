// transaction.completed and transaction.payment_failed. What a transaction grants comes from the price
// ids it paid, through the catalogue; custom_data only says who (ARCHITECTURE.md, "Grant only what was paid").
import { statements } from '../../db/statements.js'
import type { PriceCatalog, PriceGrant } from '../catalog.js'
import { readCount, readId, readWord, record, requireId } from '../paddle/fields.js'
import type { PaddleEvent } from '../paddle/envelope.js'
import { ignore, needsReview, type EventPlan } from './plan.js'

/** Boost months a single paid line may grant (100 years): above it, a quantity is a mistake to look at. */
export const MAX_BOOST_MONTHS = 1200

interface PaidItem { priceId: string, quantity: number, grant: PriceGrant | undefined, amount: string | null }

/** Calendar months in UTC; a day past the target month's end clamps to it (Jan 31 + 1 = Feb 28/29). */
export function addMonths (date: Date, months: number): Date {
  const result = new Date(date.getTime())
  const day = result.getUTCDate()
  result.setUTCDate(1)
  result.setUTCMonth(result.getUTCMonth() + months)
  const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate()
  result.setUTCDate(Math.min(day, lastDay))
  return result
}

/** The paid items (`items[]`: `price.id` or `price_id`, `quantity`), with each line's total when Paddle gives it. */
function paidItems (data: Record<string, unknown>, catalog: PriceCatalog): PaidItem[] | string {
  const totals = new Map<string, string>()
  const lines = record(data.details)?.line_items
  for (const line of Array.isArray(lines) ? lines : []) {
    const entry = record(line)
    const priceId = readId(entry?.price_id, 'details.line_items[].price_id')
    const total = record(entry?.totals)?.total
    if (priceId?.ok === true && (typeof total === 'string' || typeof total === 'number')) totals.set(priceId.value, String(total))
  }
  const items: PaidItem[] = []
  const list = Array.isArray(data.items) ? data.items : []
  for (const [i, item] of list.entries()) {
    const entry = record(item)
    const priceId = requireId(record(entry?.price)?.id ?? entry?.price_id, `items[${i}].price.id`)
    if (!priceId.ok) return priceId.reason
    const quantity = readCount(entry?.quantity, `items[${i}].quantity`, 1)
    if (!quantity.ok) return quantity.reason
    items.push({ priceId: priceId.value, quantity: quantity.value, grant: catalog.grantOf(priceId.value), amount: totals.get(priceId.value) ?? null })
  }
  return items
}

export function planTransaction (event: PaddleEvent, catalog: PriceCatalog): EventPlan {
  const { data } = event
  const custom = record(data.custom_data) ?? {}
  const failed = event.event_type === 'transaction.payment_failed'
  const transactionId = requireId(data.id, 'data.id')
  if (!transactionId.ok) return needsReview(transactionId.reason)
  const subscriptionId = readId(data.subscription_id, 'data.subscription_id')
  if (subscriptionId?.ok === false) return needsReview(subscriptionId.reason)
  if (subscriptionId === undefined && failed) return ignore('a failed payment of a one-off transaction changes nothing')

  const items = paidItems(data, catalog)
  if (typeof items === 'string') return needsReview(items)
  // A one-off transaction grants exactly what its prices say. A subscription's transaction carries its
  // recurring price, which grants the tier through the subscription's snapshots; only its boosts count here.
  if (subscriptionId === undefined) {
    const unknown = items.flatMap((item, i) => item.grant === undefined ? [`items[${i}].price_id: price ${item.priceId} is not in the catalogue`] : [])
    if (unknown.length > 0) return needsReview(unknown.join('; '))
    const tier = items.findIndex((item) => item.grant?.grant === 'tier')
    if (tier >= 0) return needsReview(`items[${tier}].price_id: price ${items[tier]?.priceId} grants a tier, which only a subscription can carry`)
  }
  const boosts = failed ? [] : items.filter((item) => item.grant?.grant === 'boost')
  const badges = items.filter((item) => item.grant?.grant === 'badge')

  if (subscriptionId !== undefined) {
    if (badges.length > 0) return needsReview('items: a badge price paid with a subscription is not supported')
    const boost = boostValues(event, transactionId.value, custom, boosts)
    if (typeof boost === 'string') return needsReview(boost)
    return {
      kind: 'apply',
      statement: statements.subscriptionPayment,
      values: { subscription_id: subscriptionId.value, payment_status: failed ? 'failed' : 'paid', ...boost }
    }
  }
  if (items.length === 0) return needsReview('items: the transaction paid no price')
  if (badges.length > 0) {
    if (badges.length > 1 || boosts.length > 0) return needsReview('items: a badge must be bought on its own, one per transaction')
    return badgePlan(transactionId.value, custom, badges[0] as PaidItem)
  }
  const boost = boostValues(event, transactionId.value, custom, boosts)
  if (typeof boost === 'string') return needsReview(boost)
  return { kind: 'apply', statement: statements.boostPurchase, values: boost }
}

/** The boost rows of a transaction, or the reason they cannot be granted. No boost item: no rows. */
function boostValues (event: PaddleEvent, transactionId: string, custom: Record<string, unknown>, boosts: PaidItem[]): Record<string, unknown> | string {
  const currency = readWord(event.data.currency_code)?.toUpperCase() ?? null
  if (boosts.length === 0) {
    return { community_id: null, member_id: null, transaction_id: transactionId, currency_code: currency, items: '[]' }
  }
  const communityId = requireId(custom.community_id, 'custom_data.community_id')
  if (!communityId.ok) return communityId.reason
  const memberId = readId(custom.member_id, 'custom_data.member_id')
  if (memberId?.ok === false) return memberId.reason
  // Expiry counts from the purchase, not the delivery, so a late retry grants the same boost.
  const purchasedAt = new Date(event.occurred_at)
  const rows = []
  for (const item of boosts) {
    const months = (item.grant as { months: number }).months * item.quantity
    if (months > MAX_BOOST_MONTHS) return `items: ${item.quantity} x price ${item.priceId} would grant ${months} months (over ${MAX_BOOST_MONTHS})`
    rows.push({ price_id: item.priceId, months, amount: item.amount, expires_at: addMonths(purchasedAt, months).toISOString() })
  }
  return {
    community_id: communityId.value,
    member_id: memberId?.value ?? null,
    transaction_id: transactionId,
    currency_code: currency,
    items: JSON.stringify(rows)
  }
}

function badgePlan (transactionId: string, custom: Record<string, unknown>, item: PaidItem): EventPlan {
  const purchaseId = requireId(custom.purchase_id, 'custom_data.purchase_id')
  if (!purchaseId.ok) return needsReview(purchaseId.reason)
  const memberId = requireId(custom.member_id, 'custom_data.member_id')
  if (!memberId.ok) return needsReview(memberId.reason)
  if (item.quantity !== 1) return needsReview(`items: a badge is bought once (quantity ${item.quantity})`)
  return {
    kind: 'apply',
    statement: statements.badgePurchase,
    values: {
      purchase_id: purchaseId.value,
      member_id: memberId.value,
      badge_id: (item.grant as { badgeId: string }).badgeId,
      transaction_id: transactionId
    }
  }
}
