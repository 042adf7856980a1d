// transaction.completed for a member badge: completes the pending purchase row, or creates it completed.
import { sql } from 'drizzle-orm'
import { badgePurchases } from '../../db/schema.js'
import type { PaddleEvent } from '../paddle/envelope.js'
import { ignore, named, type EventPlan } from './plan.js'

export function planBadgePurchase (event: PaddleEvent): EventPlan {
  const { data } = event
  const custom = data.custom_data ?? {}
  if (data.id === undefined) return ignore('badge_purchase without data.id (transaction id)')
  const { member_id: memberId, community_id: communityId, badge_id: badgeId } = custom
  if (memberId === undefined || communityId === undefined || badgeId === undefined) {
    return ignore('badge_purchase without custom_data.member_id, community_id and badge_id')
  }
  const transactionId = data.id
  const completedAt = new Date(event.occurred_at)
  // purchase_id ties the payment to the row POST /badges/purchase made; without it, one row per transaction.
  const id = custom.purchase_id ?? `bp_${transactionId}`
  const values = { id, memberId, communityId, badgeId, transactionId, completedAt }
  return {
    kind: 'apply',
    shape: 'badge_purchase',
    values,
    statements: (db, p) => [
      db.insert(badgePurchases)
        .values({ ...named(values, p), status: 'completed' })
        .onConflictDoUpdate({
          target: badgePurchases.id,
          set: { status: 'completed', transactionId: sql`excluded.transaction_id`, completedAt: sql`excluded.completed_at` },
          setWhere: sql`${badgePurchases.status} = 'pending' and ${badgePurchases.memberId} = excluded.member_id`
        })
    ]
  }
}
