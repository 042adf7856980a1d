// Errors with stable codes (as Fastify core does); the error handler turns `BW_ERR_X` into `{ error: 'x' }`.
import createError from '@fastify/error'

export const InvalidSignatureError = createError<[string]>('BW_ERR_INVALID_SIGNATURE', 'Invalid webhook signature: %s', 401)
export const UnauthorizedError = createError<[string]>('BW_ERR_UNAUTHORIZED', '%s', 401)
export const InvalidJsonError = createError<[string]>('BW_ERR_INVALID_JSON', 'The body is not valid JSON: %s', 400)
export const InvalidEnvelopeError = createError<[string]>('BW_ERR_INVALID_ENVELOPE', 'The event envelope is invalid: %s', 400)
export const BadRequestError = createError<[string]>('BW_ERR_BAD_REQUEST', '%s', 400)

/** `BW_ERR_INVALID_SIGNATURE` → `invalid_signature`. */
export function errorSlug (code: string): string {
  return code.replace(/^BW_ERR_/, '').toLowerCase()
}
