// transaction.completed for a community boost bought at checkout.
import { boosts } from '../../db/schema.js'
import type { PaddleEvent } from '../paddle/envelope.js'
import { ignore, named, type EventPlan } from './plan.js'

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

export function planBoostPurchase (event: PaddleEvent): EventPlan {
  const { data } = event
  const custom = data.custom_data ?? {}
  if (data.id === undefined) return ignore('boost_purchase without data.id (transaction id)')
  if (custom.community_id === undefined) return ignore('boost_purchase without custom_data.community_id')
  const months = custom.months ?? 1
  // Expiry counts from the purchase, not the delivery, so a late retry grants the same boost.
  const purchasedAt = new Date(event.occurred_at)
  const values = {
    communityId: custom.community_id,
    memberId: custom.member_id ?? null,
    months,
    transactionId: data.id,
    priceId: '',
    amount: data.details?.totals?.total ?? null,
    currencyCode: data.details?.totals?.currency_code ?? data.currency_code ?? null,
    createdAt: purchasedAt,
    expiresAt: addMonths(purchasedAt, months)
  }
  return {
    kind: 'apply',
    shape: 'boost_purchase',
    values,
    // Another event id for the same transaction must not grant a second boost, nor fail forever.
    statements: (db, p) => [
      db.insert(boosts).values({ ...named(values, p), source: 'purchase' }).onConflictDoNothing({ target: [boosts.transactionId, boosts.priceId] })
    ]
  }
}
