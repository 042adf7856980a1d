// Every refusal the service makes, as an error with a stable code (as Fastify core does). One error
// handler (plugins/errors.ts) answers all of them: `{ error: <code without BW_ERR_, lowercased>, message,
// ...body }`, with `Retry-After` when the error carries `retryAfter`.
import createError from '@fastify/error'

/** What an answered refusal may carry besides its status and message. */
export interface RefusalDetails {
  /** Seconds; becomes the Retry-After header and a `retryAfter` field. */
  retryAfter?: number
  /** Extra fields of the JSON body (`eventId`, `status`, `checks`...). */
  body?: Record<string, unknown>
}

export type Refusal = Error & { code: string, statusCode: number } & RefusalDetails

/** Attaches what the error handler adds to the answer. */
export function refusal<E extends Error & { code: string, statusCode: number }> (error: E, details: RefusalDetails): E & RefusalDetails {
  return Object.assign(error, details)
}

export const InvalidSignatureError = createError<'BW_ERR_INVALID_SIGNATURE', 401, [string]>('BW_ERR_INVALID_SIGNATURE', 'Invalid webhook signature: %s', 401)
export const UnauthorizedError = createError<'BW_ERR_UNAUTHORIZED', 401, [string]>('BW_ERR_UNAUTHORIZED', '%s', 401)
export const InvalidJsonError = createError<'BW_ERR_INVALID_JSON', 400, [string]>('BW_ERR_INVALID_JSON', 'The body is not valid JSON: %s', 400)
export const InvalidEnvelopeError = createError<'BW_ERR_INVALID_ENVELOPE', 400, [string]>('BW_ERR_INVALID_ENVELOPE', 'The event envelope is invalid: %s', 400)
export const BadRequestError = createError<'BW_ERR_BAD_REQUEST', 400, [string]>('BW_ERR_BAD_REQUEST', '%s', 400)
export const NotFoundError = createError<'BW_ERR_NOT_FOUND', 404, [string]>('BW_ERR_NOT_FOUND', '%s', 404)
export const InProgressError = createError<'BW_ERR_IN_PROGRESS', 409, []>('BW_ERR_IN_PROGRESS', 'Another request with this id is being processed; retry shortly.', 409)
export const AlreadyProcessedError = createError<'BW_ERR_ALREADY_PROCESSED', 409, [string]>('BW_ERR_ALREADY_PROCESSED', 'Event %s is already processed; there is nothing to replay.', 409)
export const ReconcileRunningError = createError<'BW_ERR_RECONCILE_RUNNING', 409, []>('BW_ERR_RECONCILE_RUNNING', 'Another replica is running a reconciliation pass; try again when it ends.', 409)
export const ReconcileDisabledError = createError<'BW_ERR_RECONCILE_DISABLED', 409, []>('BW_ERR_RECONCILE_DISABLED', 'Reconciliation is off: PADDLE_API_KEY is not set.', 409)
export const KeyReusedError = createError<'BW_ERR_IDEMPOTENCY_KEY_REUSED', 422, []>('BW_ERR_IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body; use a new key for a new request.', 422)
export const UnknownBadgeError = createError<'BW_ERR_UNKNOWN_BADGE', 422, [string]>('BW_ERR_UNKNOWN_BADGE', 'No price in the catalogue grants badge %s.', 422)
export const FallbackExhaustedError = createError<'BW_ERR_TOO_MANY_REQUESTS', 429, []>('BW_ERR_TOO_MANY_REQUESTS', 'Redis is failing and the fallback budget for this type is spent; retry shortly.', 429)
export const ServiceUnavailableError = createError<'BW_ERR_SERVICE_UNAVAILABLE', 503, [string]>('BW_ERR_SERVICE_UNAVAILABLE', '%s', 503)
export const NotReadyError = createError<'BW_ERR_NOT_READY', 503, [string]>('BW_ERR_NOT_READY', '%s', 503)

// A lease is usually released within milliseconds, and a bucket refills within a second.
export const BUSY_RETRY_AFTER_SECONDS = 1

/** `BW_ERR_INVALID_SIGNATURE` → `invalid_signature`. */
export function errorSlug (code: string): string {
  return code.replace(/^BW_ERR_/, '').toLowerCase()
}

/** True for the errors this module makes: their status and message are meant for the caller. */
export function isRefusal (error: unknown): error is Refusal {
  // Anything may be thrown (a rejection with undefined, a string); a guard that threw would replace it.
  if (error === null || typeof error !== 'object') return false
  const candidate = error as { code?: unknown, statusCode?: unknown }
  return typeof candidate.code === 'string' && candidate.code.startsWith('BW_ERR_') && typeof candidate.statusCode === 'number'
}
