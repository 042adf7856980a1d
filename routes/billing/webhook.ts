// POST /billing/webhook: the raw body and the signature header go to the inbox (services/inbox.ts),
// which verifies, parses and applies the event; this file only speaks HTTP.
import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import { ErrorBody } from '../../plugins/errors.js'
import { OneOf } from '../schemas.js'

export const EventAnswer = Type.Object({
  status: OneOf(['processed', 'duplicate', 'ignored', 'needs_review']),
  eventId: Type.String()
})

const webhookRoutes: FastifyPluginAsync = async (app) => {
  // The signature covers the exact bytes, so this context keeps the body raw; only JSON is accepted.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })

  app.post('/billing/webhook', {
    config: { lock: true },
    bodyLimit: app.config.bodyLimitBytes,
    schema: { response: { 200: EventAnswer, '4xx': ErrorBody, '5xx': ErrorBody } }
  }, async (request) => app.inbox.receive(request.headers['paddle-signature'], request.body as Buffer | undefined))
}

export default webhookRoutes
