// A pass racing the webhooks of the same events, delivered to three replicas at once: each event is applied
// exactly once, whoever gets there first.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { count } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { buildReplica, inboxRows, logEvent, reconcileNow, storedCursor } from '../helpers/reconcile.js'

/** Delivers as Paddle does: any answer but 200 is retried shortly, until 200. */
async function deliverUntilDone (app: FastifyInstance, event: unknown): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const answer = await deliver(app, event)
    if (answer.statusCode === 200) return (answer.json() as { status: string }).status
    await sleep(5 + Math.random() * 20)
  }
  throw new Error('never delivered')
}

t.test('a pass racing live deliveries on three replicas: every event applied exactly once', async (t) => {
  const api = await startPaddleApi(t)
  const prefix = `bwtest:${process.pid}:${randomBytes(3).toString('hex')}:`
  const first = await buildReplica(t, { api, config: { redisKeyPrefix: prefix } })
  const replicas = [first, ...await Promise.all([1, 2].map(() => buildReplica(t, { api, database: first.database, config: { redisKeyPrefix: prefix } })))]
  const now = Date.now()
  const events = Array.from({ length: 30 }, (_, i) =>
    logEvent(i % 3 === 0 ? 'subscription.created' : 'transaction.completed', now - (40 - i) * 60_000))
  api.add(...events)

  // The pass walks the log from its oldest event; the webhooks arrive newest first, each on all three
  // replicas at once, so the two meet somewhere in the middle and race for the events there.
  const delivering = (async () => {
    const answers: string[] = []
    for (const event of [...events].reverse()) {
      answers.push(...await Promise.all(replicas.map(({ app }) => deliverUntilDone(app, event))))
    }
    return answers
  })()
  const [pass, answers] = await Promise.all([reconcileNow(first.app), delivering])
  t.equal(pass.statusCode, 200)
  const summary = pass.json() as { processed: number }
  const processedByWebhook = answers.filter((status) => status === 'processed').length
  t.equal(processedByWebhook + summary.processed, events.length, `each event processed once in all (${summary.processed} by the pass, ${processedByWebhook} by webhooks)`)
  t.ok(answers.every((status) => status === 'processed' || status === 'duplicate'), 'every delivery ended in 200')
  t.ok(summary.processed > 0 && processedByWebhook > 0, 'both the pass and the webhooks applied some: they did race')

  const rows = await inboxRows(first.database)
  t.equal(rows.size, events.length)
  for (const event of events) t.equal(rows.get(event.event_id)?.status, 'processed')
  t.equal(await count(first.database, 'boosts'), events.filter((event) => event.event_type === 'transaction.completed').length,
    'one boost per purchase')

  // Events the pass found held by a delivery were left for the next pass, which finds them settled.
  const next = await reconcileNow(first.app)
  t.match(next.json(), { processed: 0, failed: 0, cursor: events.at(-1)?.event_id, caughtUp: true })
  t.equal(await storedCursor(first.database), events.at(-1)?.event_id)
})
