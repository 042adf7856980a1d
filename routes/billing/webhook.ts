// POST /billing/webhook: a thin adapter from HTTP to the LVVER pipeline (DESIGN §2, §4).
import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import sjson from 'secure-json-parse'
import { InvalidEnvelopeError, InvalidJsonError, InvalidSignatureError } from '../../services/errors.js'
import { HANDLED_EVENT_TYPES } from '../../services/events/index.js'
import { checkEnvelope } from '../../services/paddle/envelope.js'
import { verifyPaddleSignature } from '../../services/paddle/signature.js'
import { webhookJob } from '../../services/webhook-job.js'
import { sendBusy } from '../busy.js'

const Answer = Type.Object({
  status: Type.Union([Type.Literal('processed'), Type.Literal('duplicate'), Type.Literal('ignored')]),
  eventId: Type.String()
})
const Busy = Type.Object({
  error: Type.String(),
  status: Type.Optional(Type.String()),
  message: Type.String(),
  retryAfter: Type.Integer(),
  eventId: Type.Optional(Type.String())
})

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Parses the verified bytes: strict UTF-8, and no prototype-poisoning keys. */
export function parseBody (raw: Buffer): unknown {
  let text: string
  try {
    text = utf8.decode(raw)
  } catch {
    throw new InvalidJsonError('it is not valid UTF-8')
  }
  if (text.trim() === '') throw new InvalidJsonError('it is empty')
  try {
    return sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    const reason = err instanceof SyntaxError ? err.message : 'it carries a forbidden key (__proto__ or constructor.prototype)'
    throw new InvalidJsonError(reason)
  }
}

const webhookRoutes: FastifyPluginAsync = async (app) => {
  const { config, metrics } = app

  // The signature covers the exact bytes, so this context keeps the body raw; only JSON is accepted.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })

  app.post('/billing/webhook', {
    config: { lock: true },
    bodyLimit: config.bodyLimitBytes,
    schema: {
      response: { 200: Answer, 409: Busy, 429: Busy }
    }
  }, async (request, reply) => {
    const started = performance.now()
    const raw = request.body as Buffer
    const signature = verifyPaddleSignature(request.headers['paddle-signature'], raw, {
      secrets: config.webhookSecrets,
      toleranceSeconds: config.webhookToleranceSeconds
    })
    if (!signature.ok) {
      metrics.webhookEvents.inc({ event_type: 'unknown', result: 'unauthorized' })
      throw new InvalidSignatureError(signature.reason)
    }
    const checked = checkEnvelope(parseBody(raw))
    if (!checked.ok) {
      metrics.webhookEvents.inc({ event_type: 'unknown', result: 'invalid' })
      throw new InvalidEnvelopeError(checked.message)
    }
    const event = checked.event
    const eventId = event.event_id

    let result = 'error'
    try {
      const outcome = await app.lvver(webhookJob(app.db, event, {
        ttlMs: app.lockTtlMs(event.data.custom_data?.type),
        receivedAt: new Date(),
        onUnusable: (reason) => {
          // Unhandled types are routine; a handled type we cannot apply deserves a look.
          if (HANDLED_EVENT_TYPES.has(event.event_type)) {
            request.log.warn({ eventId, eventType: event.event_type, reason }, 'event recorded as ignored')
          }
        }
      }))
      result = outcome.kind
      if (outcome.kind === 'in_progress' || outcome.kind === 'fallback_exhausted') {
        return sendBusy(reply, outcome.kind, { eventId })
      }
      request.log.info({ eventId, eventType: event.event_type, result, via: outcome.kind === 'duplicate' ? outcome.via : undefined }, 'webhook answered')
      return reply.code(200).send({ status: outcome.kind, eventId })
    } finally {
      metrics.observe(event.event_type, result, started)
    }
  })
}

export default webhookRoutes
