// POST /badges/purchase: opens a pending purchase at the catalogue's price for the badge. The checkout
// carries that price and, in custom_data, only who buys (member, community, purchase id): the
// transaction.completed that pays it completes this row when the paid price's badge and the member match.
import { randomBytes } from 'node:crypto'
import type { Queryable } from '../db/client.js'
import { statements } from '../db/statements.js'
import type { PriceCatalog } from './catalog.js'
import { UnknownBadgeError } from './errors.js'
import type { Idempotency, StoredAnswer } from './idempotency.js'

export interface PurchaseRequest { memberId: string, communityId: string, badgeId: string }

export async function startBadgePurchase (idempotency: Idempotency, catalog: PriceCatalog, key: string | string[] | undefined, request: PurchaseRequest) {
  const { memberId, communityId, badgeId } = request
  const priceId = catalog.priceForBadge(badgeId)
  if (priceId === undefined) throw new UnknownBadgeError(badgeId)
  return idempotency.run('badge_purchase', key, request, async (tx: Queryable): Promise<StoredAnswer> => {
    const owned = await tx.run(statements.badgeOwned, { member_id: memberId, community_id: communityId, badge_id: badgeId })
    if (owned.rowCount > 0) {
      // Recorded under the key like any answer, so a retry gets the same 409.
      return { statusCode: 409, body: { error: 'already_owned', message: 'The member already owns this badge.' } }
    }
    const purchaseId = `bp_${randomBytes(12).toString('hex')}`
    await tx.run(statements.badgeStart, { id: purchaseId, member_id: memberId, community_id: communityId, badge_id: badgeId, price_id: priceId })
    return {
      statusCode: 201,
      body: {
        purchaseId,
        status: 'pending',
        checkout: {
          priceId,
          customData: { member_id: memberId, community_id: communityId, purchase_id: purchaseId }
        }
      }
    }
  })
}
