// POST /admin/boosts (grant a boost by hand, idempotent, LVVER on the key) and GET /admin/boosts.
import { desc, eq } from 'drizzle-orm'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { boosts, type BoostRow } from '../../db/schema.js'
import { addMonths } from '../../services/events/boost.js'
import { IDEMPOTENT_ERROR_RESPONSES } from '../../plugins/idempotency.js'
import { Id } from '../../services/paddle/envelope.js'

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
  source: Type.Union([Type.Literal('purchase'), Type.Literal('admin')]),
  transactionId: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Type.String()
})

// Query strings are not coerced (bodies must carry real numbers), so the limit is checked as text.
const ListQuery = Type.Object({
  communityId: Id,
  limit: Type.Optional(Type.String({ pattern: '^(200|1[0-9]{2}|[1-9][0-9]?)$', description: '1 to 200, default 50' }))
}, { additionalProperties: false })

export function boostView (row: BoostRow): Static<typeof Boost> {
  return {
    id: row.id,
    communityId: row.communityId,
    memberId: row.memberId,
    months: row.months,
    source: row.source,
    transactionId: row.transactionId,
    reason: row.reason,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString()
  }
}

const adminBoostRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/admin/boosts', {
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { body: GrantBody, response: { 201: Boost, ...IDEMPOTENT_ERROR_RESPONSES } }
  }, async (request, reply) => {
    const { communityId, memberId, months, reason } = request.body
    return app.idempotent(request, reply, {
      scope: 'admin_boost',
      async effect (tx) {
        const now = new Date()
        const [row] = await tx.insert(boosts).values({
          communityId, memberId: memberId ?? null, months, source: 'admin', reason, createdAt: now, expiresAt: addMonths(now, months)
        }).returning()
        if (row === undefined) throw new Error('boost insert returned no row')
        return { statusCode: 201, body: boostView(row) }
      }
    })
  })

  app.get('/admin/boosts', {
    onRequest: app.authenticate,
    schema: { querystring: ListQuery, response: { 200: Type.Object({ boosts: Type.Array(Boost) }) } }
  }, async (request) => {
    const rows = await app.db.select().from(boosts)
      .where(eq(boosts.communityId, request.query.communityId))
      .orderBy(desc(boosts.createdAt), desc(boosts.id))
      .limit(Number(request.query.limit ?? 50))
    return { boosts: rows.map(boostView) }
  })
}

export default adminBoostRoutes
