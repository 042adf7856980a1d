// POST /badges/purchase: starts a badge purchase (services/badges.ts) and answers the checkout to open.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody } from '../../plugins/errors.js'
import { sendIdempotent } from '../../plugins/idempotency.js'
import { startBadgePurchase } from '../../services/badges.js'
import { Id } from '../schemas.js'

const PurchaseBody = Type.Object({
  memberId: Id,
  communityId: Id,
  badgeId: Id
}, { additionalProperties: false })

const Started = Type.Object({
  purchaseId: Type.String(),
  status: Type.Literal('pending'),
  checkout: Type.Object({
    priceId: Type.String(),
    customData: Type.Object({
      member_id: Type.String(),
      community_id: Type.String(),
      purchase_id: Type.String()
    })
  })
})

const badgeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/badges/purchase', {
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { body: PurchaseBody, response: { 201: Started, '4xx': ErrorBody, '5xx': ErrorBody } }
  }, async (request, reply) => sendIdempotent(reply, await startBadgePurchase(app.idempotency, app.catalog, request.headers['idempotency-key'], request.body)))
}

export default badgeRoutes
