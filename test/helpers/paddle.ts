// Paddle-shaped events and signed deliveries for tests.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { TEST_SECRET } from './env.js'

export const paddleId = (prefix: string): string => `${prefix}_01${randomBytes(12).toString('hex')}`

export interface EventOptions {
  eventId?: string
  eventType?: string
  occurredAt?: string
  data?: Record<string, unknown>
}

export function paddleEvent (options: EventOptions = {}): Record<string, unknown> {
  return {
    event_id: options.eventId ?? paddleId('evt'),
    event_type: options.eventType ?? 'subscription.created',
    occurred_at: options.occurredAt ?? new Date().toISOString(),
    notification_id: paddleId('ntf'),
    data: options.data ?? {}
  }
}

export function subscriptionEvent (eventType: string, subscriptionId: string, extra: Record<string, unknown> = {}, occurredAt?: string) {
  return paddleEvent({
    eventType,
    ...(occurredAt !== undefined ? { occurredAt } : {}),
    data: {
      id: subscriptionId,
      status: eventType === 'subscription.canceled' ? 'canceled' : 'active',
      customer_id: paddleId('ctm'),
      custom_data: { community_id: 'community_1', tier: 'pro' },
      current_billing_period: { starts_at: '2026-11-01T00:00:00Z', ends_at: '2026-12-01T00:00:00Z' },
      ...extra
    }
  })
}

/** A one-off `transaction.completed` carrying our checkout's custom data. */
function completedTransaction (customData: Record<string, unknown>, transactionId: string, total: string) {
  return paddleEvent({
    eventType: 'transaction.completed',
    data: {
      id: transactionId,
      status: 'completed',
      customer_id: paddleId('ctm'),
      subscription_id: null,
      currency_code: 'USD',
      custom_data: customData,
      details: { totals: { total, currency_code: 'USD' } }
    }
  })
}

export function boostPurchaseEvent (custom: Record<string, unknown> = {}, transactionId = paddleId('txn')) {
  return completedTransaction({ type: 'boost_purchase', community_id: 'community_1', member_id: 'member_1', months: 3, ...custom }, transactionId, '1500')
}

export function badgePurchaseEvent (custom: Record<string, unknown> = {}, transactionId = paddleId('txn')) {
  return completedTransaction({ type: 'badge_purchase', community_id: 'community_1', member_id: 'member_1', badge_id: 'badge_gold', ...custom }, transactionId, '500')
}

export interface SendOptions {
  secret?: string
  ts?: number
  /** Replace the signature header entirely (or drop it with null). */
  signature?: string | null
  contentType?: string
}

/** Posts an event (object, or raw string/Buffer) to /billing/webhook signed as Paddle would. */
export async function deliver (app: FastifyInstance, event: unknown, options: SendOptions = {}): Promise<LightMyRequestResponse> {
  const body = typeof event === 'string' || Buffer.isBuffer(event) ? event : JSON.stringify(event)
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' }
  const signature = options.signature === undefined
    ? signPaddleBody(body, options.secret ?? TEST_SECRET, options.ts)
    : options.signature
  if (signature !== null) headers['paddle-signature'] = signature
  return app.inject({ method: 'POST', url: '/billing/webhook', headers, payload: body })
}
