// Boosts granted by an operator (POST /admin/boosts) and a community's boosts (GET /admin/boosts).
import type { Queryable } from '../db/client.js'
import { statements } from '../db/statements.js'
import { addMonths } from './events/transaction.js'
import type { Idempotency, StoredAnswer } from './idempotency.js'

export interface GrantRequest { communityId: string, memberId?: string | undefined, months: number, reason: string }

interface BoostRow {
  id: string | number
  community_id: string
  member_id: string | null
  months: number
  source: 'purchase' | 'admin'
  transaction_id: string | null
  price_id: string | null
  reason: string | null
  created_at: Date
  expires_at: Date
}

export function boostView (row: BoostRow) {
  return {
    id: Number(row.id),
    communityId: row.community_id,
    memberId: row.member_id,
    months: row.months,
    source: row.source,
    transactionId: row.transaction_id,
    priceId: row.price_id,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString()
  }
}

/** Grants a boost by hand: idempotent on the key, 201 with the boost. */
export async function grantBoost (idempotency: Idempotency, key: string | string[] | undefined, request: GrantRequest) {
  return idempotency.run('admin_boost', key, request, async (tx: Queryable): Promise<StoredAnswer> => {
    const now = new Date()
    const { rows } = await tx.run<BoostRow>(statements.boostGrant, {
      community_id: request.communityId,
      member_id: request.memberId ?? null,
      months: request.months,
      reason: request.reason,
      created_at: now,
      expires_at: addMonths(now, request.months)
    })
    const row = rows[0]
    if (row === undefined) throw new Error('boost insert returned no row')
    return { statusCode: 201, body: boostView(row) }
  })
}

export async function listBoosts (database: Queryable, communityId: string, limit: number) {
  const { rows } = await database.run<BoostRow>(statements.boostList, { community_id: communityId, limit })
  return rows.map(boostView)
}
