// The operator's inbox: list and read events, and replay what was kept (failed, needs_review, ignored).
// Replays run through the same LVVER pipeline as deliveries, under the event's own lock.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { EVENT_SOURCES, EVENT_STATUSES } from '../../db/schema.js'
import { ErrorBody } from '../../plugins/errors.js'
import { NotFoundError } from '../../services/errors.js'
import { EventAnswer } from '../billing/webhook.js'
import { OneOf } from '../schemas.js'

const Status = OneOf(EVENT_STATUSES)
const Replayable = OneOf(['failed', 'needs_review', 'ignored'])
const Timestamp = Type.String({ format: 'date-time' })
const EventType = Type.String({ minLength: 1, maxLength: 128 })
const EventId = Type.String({ minLength: 1, maxLength: 128 })
// Query strings are not coerced (bodies must carry real numbers), so the limit is checked as text: 1 to 500.
const Limit = Type.String({ pattern: '^(500|[1-4][0-9]{2}|[1-9][0-9]?)$', description: '1 to 500, default 50' })

const Event = Type.Object({
  eventId: Type.String(),
  eventType: Type.String(),
  status: Status,
  source: OneOf(EVENT_SOURCES),
  occurredAt: Type.Union([Type.String(), Type.Null()]),
  receivedAt: Type.String(),
  processedAt: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  reason: Type.Union([Type.String(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()])
})

/** Which events: by type, and by when they were received (`from` included, `to` not). */
const Window = {
  type: Type.Optional(EventType),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp)
}

const ListQuery = Type.Object({
  status: Type.Optional(Status),
  ...Window,
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 }))
}, { additionalProperties: false })

const BulkReplay = Type.Object({
  status: Type.Optional(Replayable),
  ...Window,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }))
}, { additionalProperties: false })

const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const errors = { '4xx': ErrorBody, '5xx': ErrorBody }

  app.get('/admin/events', {
    onRequest: app.authenticate,
    schema: { querystring: ListQuery, response: { 200: Type.Object({ events: Type.Array(Event), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors } }
  }, async (request) => app.inbox.list({ ...request.query, limit: Number(request.query.limit ?? 50) }))

  app.get('/admin/events/:eventId', {
    onRequest: app.authenticate,
    schema: { params: Type.Object({ eventId: EventId }), response: { 200: Type.Object({ ...Event.properties, payload: Type.Unknown() }), ...errors } }
  }, async (request) => {
    const event = await app.inbox.get(request.params.eventId)
    if (event === undefined) throw new NotFoundError(`No event ${request.params.eventId} in the inbox`)
    return event
  })

  app.post('/admin/events/:eventId/replay', {
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { params: Type.Object({ eventId: EventId }), response: { 200: EventAnswer, ...errors } }
  }, async (request) => app.inbox.replay(request.params.eventId))

  app.post('/admin/events/replay', {
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { body: BulkReplay, response: { 200: Type.Object({ replayed: Type.Integer(), outcomes: Type.Record(Type.String(), Type.Integer()) }), ...errors } }
  }, async (request) => {
    const outcomes = await app.inbox.replayMany({ ...request.body, limit: request.body.limit ?? 100 })
    return { replayed: Object.values(outcomes).reduce((sum, n) => sum + n, 0), outcomes }
  })
}

export default eventRoutes
