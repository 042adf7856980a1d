// Signed deliveries for tests, and the short builders older tests use (over test/helpers/paddle-payloads.ts).
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { TEST_SECRET } from './env.js'
import { EXAMPLE_PRICES, oneOffTransaction, subscriptionSnapshot, type SubscriptionEventType } from './paddle-payloads.js'

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

/** A subscription snapshot in Paddle's documented shape, on the example catalogue's pro price. */
export function subscriptionEvent (eventType: string, subscriptionId: string, extra: Record<string, unknown> = {}, occurredAt?: string) {
  const event = subscriptionSnapshot(eventType as SubscriptionEventType, {
    subscriptionId,
    priceId: EXAMPLE_PRICES.pro,
    customData: { community_id: 'community_1' },
    ...(occurredAt !== undefined ? { occurredAt } : {})
  })
  return { ...event, data: { ...event.data, ...extra } } as unknown as Record<string, unknown> & { event_id: string, data: Record<string, unknown> }
}

/** A one-off boost purchase (3 months) in Paddle's documented transaction.completed shape. */
export function boostPurchaseEvent (custom: Record<string, unknown> = {}, transactionId = paddleId('txn')) {
  return oneOffTransaction({
    transactionId,
    items: [{ priceId: EXAMPLE_PRICES.boost3 }],
    customData: { community_id: 'community_1', member_id: 'member_1', ...custom }
  }) as unknown as Record<string, unknown> & { event_id: string, data: Record<string, unknown> }
}

/** A one-off gold badge purchase; it completes the pending purchase named by `purchase_id`, if there is one. */
export function badgePurchaseEvent (custom: Record<string, unknown> = {}, transactionId = paddleId('txn')) {
  return oneOffTransaction({
    transactionId,
    items: [{ priceId: EXAMPLE_PRICES.badgeGold }],
    customData: { community_id: 'community_1', member_id: 'member_1', ...custom }
  }) as unknown as Record<string, unknown> & { event_id: string, data: Record<string, unknown> }
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
