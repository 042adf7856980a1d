// One error handler, one error shape: `{ error, message }` plus the fields a refusal carries. Refusals
// (services/errors.ts) and Fastify's own 4xx pass through with stable codes; anything else is a 500
// whose details stay in the log (through the safe serializer), never in the answer.
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyError } from 'fastify'
import { errorSlug, isRefusal } from '../services/errors.js'

/** The body of every error answer; routes list it for their error statuses. */
export const ErrorBody = Type.Object({
  error: Type.String(),
  message: Type.String(),
  retryAfter: Type.Optional(Type.Integer())
}, { additionalProperties: true })

const FASTIFY_SLUGS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_VALIDATION: 'validation_error'
}

const STATUS_SLUGS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  431: 'request_header_fields_too_large'
}

export default fp(async function errorsPlugin (app) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isRefusal(error)) {
      if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
      // No line per refusal: a fail-closed outage refuses every request, and its counters and the Redis
      // health's own transitions already tell the story.
      return reply.code(error.statusCode).send({
        error: errorSlug(error.code),
        message: error.message,
        ...(error.retryAfter !== undefined ? { retryAfter: error.retryAfter } : {}),
        ...error.body
      })
    }
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    if (status === 500) {
      request.log.error({ err: error }, 'request failed')
      return reply.code(500).send({ error: 'internal_error', message: 'Internal error; the request was not applied and may be retried.' })
    }
    const slug = FASTIFY_SLUGS[error.code] ?? STATUS_SLUGS[status] ?? 'bad_request'
    // Fastify's validation messages already name the field ("body/months must be <= 24"), except for an
    // unexpected one ("body must NOT have additional properties"): name that one too.
    const extra = (error.validation?.[0]?.params as { additionalProperty?: unknown } | undefined)?.additionalProperty
    const message = typeof extra === 'string' ? `${error.message}: '${extra}'` : error.message
    request.log.info({ status, error: slug }, 'request rejected')
    return reply.code(status).send({ error: slug, message })
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `Route ${request.method} ${request.url.split('?')[0]} not found` })
  })
}, { name: 'errors' })
