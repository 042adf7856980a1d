// POST /admin/boosts (grant a boost by hand, idempotent, LVVER on the key) and GET /admin/boosts.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody } from '../../plugins/errors.js'
import { sendIdempotent } from '../../plugins/idempotency.js'
import { grantBoost, listBoosts } from '../../services/boosts.js'
import { Id, OneOf } from '../schemas.js'

const GrantBody = Type.Object({
  communityId: Id,
  memberId: Type.Optional(Id),
  months: Type.Integer({ minimum: 1, maximum: 24 }),
  // Postgres text cannot hold U+0000: refused here (400), not by the insert (500 on every retry).
  reason: Type.String({ minLength: 1, maxLength: 500, pattern: '^[^\\u0000]*$' })
}, { additionalProperties: false })

const Boost = Type.Object({
  id: Type.Integer(),
  communityId: Type.String(),
  memberId: Type.Union([Type.String(), Type.Null()]),
  months: Type.Integer(),
  source: OneOf(['purchase', 'admin']),
  transactionId: Type.Union([Type.String(), Type.Null()]),
  priceId: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Type.String()
})

// Query strings are not coerced (bodies must carry real numbers), so the limit is checked as text.
const ListQuery = Type.Object({
  communityId: Id,
  limit: Type.Optional(Type.String({ pattern: '^(200|1[0-9]{2}|[1-9][0-9]?)$', description: '1 to 200, default 50' }))
}, { additionalProperties: false })

const adminBoostRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/admin/boosts', {
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { body: GrantBody, response: { 201: Boost, '4xx': ErrorBody, '5xx': ErrorBody } }
  }, async (request, reply) => sendIdempotent(reply, await grantBoost(app.idempotency, request.headers['idempotency-key'], request.body)))

  app.get('/admin/boosts', {
    onRequest: app.authenticate,
    schema: { querystring: ListQuery, response: { 200: Type.Object({ boosts: Type.Array(Boost) }), '4xx': ErrorBody } }
  }, async (request) => ({ boosts: await listBoosts(app.database, request.query.communityId, Number(request.query.limit ?? 50)) }))
}

export default adminBoostRoutes
