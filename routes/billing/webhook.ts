// POST /billing/webhook: a thin adapter from HTTP to the LVVER pipeline (DESIGN §2, §4).
import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import sjson from 'secure-json-parse'
import { InvalidEnvelopeError, InvalidJsonError, InvalidSignatureError } from '../../services/errors.js'
import { SUBSCRIPTION_EVENTS } from '../../services/events/index.js'
import { checkEnvelope } from '../../services/paddle/envelope.js'
import { verifyPaddleSignature } from '../../services/paddle/signature.js'
import { webhookJob } from '../../services/webhook-job.js'

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

// Retry hints for 409 and 429: a lease is usually released within milliseconds, a bucket refills in 1 s.
const BUSY_RETRY_AFTER_SECONDS = 1
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
    const typeLabel = metrics.typeLabel(event.event_type)
    const log = request.log.child({ eventId, eventType: event.event_type })

    let result = 'error'
    try {
      const outcome = await app.lvver(webhookJob(app.db, event, {
        ttlMs: app.lockTtlMs(event.data.custom_data?.type),
        receivedAt: new Date(),
        onUnusable: (reason) => {
          // Unhandled types are routine; a handled type we cannot apply deserves a look.
          if (SUBSCRIPTION_EVENTS.has(event.event_type) || event.event_type.startsWith('transaction.')) {
            log.warn({ reason }, 'event recorded as ignored')
          }
        }
      }))
      result = outcome.kind
      switch (outcome.kind) {
        case 'processed':
        case 'ignored':
        case 'duplicate':
          log.info({ result: outcome.kind, via: outcome.kind === 'duplicate' ? outcome.via : undefined }, 'webhook answered')
          return reply.code(200).send({ status: outcome.kind, eventId })
        case 'in_progress':
          return reply.code(409).header('retry-after', String(BUSY_RETRY_AFTER_SECONDS)).send({
            error: 'in_progress',
            status: 'in_progress',
            message: 'Another delivery of this event is being processed; retry shortly.',
            retryAfter: BUSY_RETRY_AFTER_SECONDS,
            eventId
          })
        case 'fallback_exhausted':
          return reply.code(429).header('retry-after', String(BUSY_RETRY_AFTER_SECONDS)).send({
            error: 'too_many_requests',
            message: 'Redis is failing and the fallback budget for this event type is spent; retry shortly.',
            retryAfter: BUSY_RETRY_AFTER_SECONDS,
            eventId
          })
      }
    } finally {
      metrics.webhookEvents.inc({ event_type: typeLabel, result })
      metrics.processingSeconds.observe({ result }, (performance.now() - started) / 1000)
    }
  })
}

export default webhookRoutes
