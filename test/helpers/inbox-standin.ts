// TEMPORARY stand-in for the inbox's `app.inbox.apply` until it lands on main: the webhook's LVVER job,
// with the source written afterwards. Only for the reconciler's tests; removed at the rebase.
import fp from 'fastify-plugin'
import { eq } from 'drizzle-orm'
import { webhookEvents } from '../../db/schema.js'
import { checkEnvelope } from '../../services/paddle/envelope.js'
import type { ApplyEvent } from '../../services/reconcile/types.js'
import { webhookJob } from '../../services/webhook-job.js'

export default fp(async function inboxStandIn (app) {
  const apply: ApplyEvent = async (event, source) => {
    const checked = checkEnvelope(event)
    const eventId = typeof (event as { event_id?: unknown }).event_id === 'string' ? (event as { event_id: string }).event_id : ''
    if (!checked.ok) return { result: 'needs_review', eventId }
    try {
      const outcome = await app.lvver(webhookJob(app.db, checked.event, {
        ttlMs: app.lockTtlMs(checked.event.data.custom_data?.type),
        receivedAt: new Date()
      }))
      if (outcome.kind === 'processed' || outcome.kind === 'ignored') {
        await app.db.update(webhookEvents).set({ source }).where(eq(webhookEvents.eventId, eventId))
        return { result: outcome.kind, eventId }
      }
      if (outcome.kind === 'duplicate' || outcome.kind === 'in_progress') return { result: outcome.kind, eventId }
      return { result: 'unavailable', eventId }
    } catch {
      return { result: 'failed', eventId }
    }
  }
  app.decorate('inbox', { apply })
}, { name: 'inbox', dependencies: ['db', 'lock'] })
