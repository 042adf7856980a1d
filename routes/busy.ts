// The two "not now" answers every lock route shares: 409 while another request holds the lock, 429
// when Redis failed and the fallback bucket is empty. Never 200: the caller must come back.
import type { FastifyReply } from 'fastify'

// A lease is usually released within milliseconds, and a bucket refills within a second.
export const BUSY_RETRY_AFTER_SECONDS = 1

export function sendBusy (reply: FastifyReply, kind: 'in_progress' | 'fallback_exhausted', extra: Record<string, string> = {}): FastifyReply {
  const body = kind === 'in_progress'
    ? { error: 'in_progress', status: 'in_progress', message: 'Another request with this id is being processed; retry shortly.' }
    : { error: 'too_many_requests', message: 'Redis is failing and the fallback budget for this type is spent; retry shortly.' }
  return reply.code(kind === 'in_progress' ? 409 : 429)
    .header('retry-after', String(BUSY_RETRY_AFTER_SECONDS))
    .send({ ...body, retryAfter: BUSY_RETRY_AFTER_SECONDS, ...extra })
}
