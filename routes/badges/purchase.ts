// POST /badges/purchase: opens a pending purchase whose checkout custom data lets the later
// transaction.completed webhook complete this same row. Idempotent, LVVER on the key.
import { randomBytes } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { badgePurchases } from '../../db/schema.js'
import { IDEMPOTENT_ERROR_RESPONSES } from '../../plugins/idempotency.js'
import { Id } from '../../services/paddle/envelope.js'

const PurchaseBody = Type.Object({
  memberId: Id,
  communityId: Id,
  badgeId: Id
}, { additionalProperties: false })

const Started = Type.Object({
  purchaseId: Type.String(),
  status: Type.Literal('pending'),
  checkout: Type.Object({
    customData: Type.Object({
      type: Type.Literal('badge_purchase'),
      member_id: Type.String(),
      community_id: Type.String(),
      badge_id: Type.String(),
      purchase_id: Type.String()
    })
  })
})

const badgeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/badges/purchase', {
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { body: PurchaseBody, response: { 201: Started, ...IDEMPOTENT_ERROR_RESPONSES } }
  }, async (request, reply) => {
    const { memberId, communityId, badgeId } = request.body
    return app.idempotent(request, reply, {
      scope: 'badge_purchase',
      async effect (tx) {
        const [owned] = await tx.select({ id: badgePurchases.id }).from(badgePurchases).where(and(
          eq(badgePurchases.memberId, memberId),
          eq(badgePurchases.communityId, communityId),
          eq(badgePurchases.badgeId, badgeId),
          eq(badgePurchases.status, 'completed')
        )).limit(1)
        if (owned !== undefined) {
          // Recorded under the key like any answer, so a retry gets the same 409.
          return { statusCode: 409, body: { error: 'already_owned', message: 'The member already owns this badge.' } }
        }
        const purchaseId = `bp_${randomBytes(12).toString('hex')}`
        await tx.insert(badgePurchases).values({ id: purchaseId, memberId, communityId, badgeId, status: 'pending' })
        return {
          statusCode: 201,
          body: {
            purchaseId,
            status: 'pending',
            checkout: {
              customData: { type: 'badge_purchase', member_id: memberId, community_id: communityId, badge_id: badgeId, purchase_id: purchaseId }
            }
          }
        }
      }
    })
  })
}

export default badgeRoutes
