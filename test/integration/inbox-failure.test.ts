// A failure keeps the event: 500 so the provider retries, the row `failed` with a short error and no
// payload anywhere in the logs; the retry or an operator's replay then applies it exactly once, also when
// three replicas replay and redeliver it at the same moment.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { buildTestApp, metricValue } from '../helpers/app.js'
import type { TestDatabase } from '../helpers/database.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { count, lockKeyOf, markerKeyOf, until } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, newPaddleId, oneOffTransaction, subscriptionSnapshot } from '../helpers/paddle-payloads.js'
import { failInserts, slowInserts } from '../helpers/triggers.js'

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
const hex = (bytes: number) => randomBytes(bytes).toString('hex')

async function replay (app: FastifyInstance, eventId: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: `/admin/events/${encodeURIComponent(eventId)}/replay`, headers: admin })
}

/** What a delivery or a replay ended in: the 200 status, or the 409's error. */
function outcome (response: LightMyRequestResponse): string {
  const body = response.json() as { status?: string, error?: string }
  if (response.statusCode === 200) return body.status ?? '?'
  return `${response.statusCode} ${body.error ?? '?'}`
}

function boostEvent () {
  const customData = { community_id: `community_${hex(6)}`, member_id: `member_${hex(6)}` }
  return oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData })
}

interface EventRow { status: string, attempts: number, last_error: string | null, source: string, processed_at: Date | null, payload: unknown }
const eventRow = async (database: TestDatabase, eventId: string) =>
  (await database.query<EventRow>('select status, attempts, last_error, source, processed_at, payload from webhook_events where event_id = $1', [eventId]))[0]

/** The values in an event that must never reach a log line or the stored error. */
function payloadValues (event: ReturnType<typeof oneOffTransaction> | ReturnType<typeof subscriptionSnapshot>): string[] {
  const custom = (event.data.custom_data ?? {}) as Record<string, string>
  return [event.data.id, event.data.customer_id, event.data.address_id, event.notification_id, ...Object.values(custom)]
}

t.test('failure then recovery: 500 and a failed row; the provider\'s retry applies it once', async (t) => {
  const { app, config, database, logs } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())

  const restore = await failInserts(database, 'boosts')
  const event = boostEvent()
  const failed = await deliver(app, event)
  t.equal(failed.statusCode, 500, 'the provider is told to retry')
  t.same(Object.keys(failed.json()).sort(), ['error', 'message'], '{ error, message } and nothing else')
  t.equal(failed.json().error, 'internal_error')

  const kept = await eventRow(database, event.event_id)
  t.match(kept, { status: 'failed', attempts: 1, source: 'webhook', processed_at: null }, 'kept as failed, attempt 1')
  t.same(kept?.payload, event, 'with its payload, to be retried')
  t.match(kept?.last_error, /injected failure/, 'the error says what failed')
  t.ok((kept?.last_error ?? '').length <= 320, `the error is short (${kept?.last_error?.length} characters)`)
  for (const value of payloadValues(event)) {
    t.notOk(kept?.last_error?.includes(value), `the stored error holds no payload value (${value.slice(0, 12)})`)
    t.notOk(logs.some((line) => line.includes(value)), `no log line holds a payload value (${value.slice(0, 12)})`)
  }
  t.ok(logs.some((line) => /"level":50/.test(line) && line.includes('injected failure')), 'the failure is logged, as an error')
  t.equal(await redis.exists(markerKeyOf(config, event.event_id)), 0, 'no processed marker for a failed event')
  t.equal(await redis.exists(lockKeyOf(config, event.event_id)), 0, 'the lease is released')
  t.equal(await count(database, 'boosts where transaction_id = $1', [event.data.id]), 0, 'nothing granted')

  await restore()
  const retried = await deliver(app, event)
  t.equal(retried.statusCode, 200)
  t.same(retried.json(), { status: 'processed', eventId: event.event_id }, 'the retry applies it')
  t.match(await eventRow(database, event.event_id), { status: 'processed', attempts: 2 }, 'processed on attempt 2')
  t.equal(await count(database, 'boosts where transaction_id = $1', [event.data.id]), 1, 'one boost')
  t.same((await deliver(app, event)).json(), { status: 'duplicate', eventId: event.event_id }, 'another retry is a duplicate')
  t.equal(await count(database, 'boosts where transaction_id = $1', [event.data.id]), 1, 'still one boost')
})

t.test('replay of a failed event applies it once; a second replay is 409 already_processed; an unknown id is 404', async (t) => {
  const { app, database, logs } = await buildTestApp(t)
  const restore = await failInserts(database, 'subscriptions')
  const subscriptionId = newPaddleId('sub')
  const event = subscriptionSnapshot('subscription.created', { subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: `community_${hex(6)}` } })
  t.equal((await deliver(app, event)).statusCode, 500)
  t.match(await eventRow(database, event.event_id), { status: 'failed', attempts: 1, last_error: /injected failure/ })
  for (const value of payloadValues(event)) t.notOk(logs.some((line) => line.includes(value)), `no log line holds ${value.slice(0, 12)}`)
  await restore()

  const unauthenticated = await app.inject({ method: 'POST', url: `/admin/events/${event.event_id}/replay` })
  t.equal(unauthenticated.statusCode, 401, 'a replay needs the admin token')
  t.match(await eventRow(database, event.event_id), { status: 'failed', attempts: 1 }, 'and without it nothing happens')

  const replayed = await replay(app, event.event_id)
  t.equal(replayed.statusCode, 200)
  t.same(replayed.json(), { status: 'processed', eventId: event.event_id }, 'answered like the webhook')
  t.match(await eventRow(database, event.event_id), { status: 'processed', attempts: 2, source: 'replay' })
  t.equal(await count(database, 'subscriptions where id = $1', [subscriptionId]), 1, 'the subscription is written once')
  t.match((await database.query('select tier, status from subscriptions where id = $1', [subscriptionId]))[0], { tier: 'pro', status: 'active' })

  const again = await replay(app, event.event_id)
  t.equal(again.statusCode, 409, 'a processed event is not replayed')
  t.equal(again.json().error, 'already_processed')
  t.match(await eventRow(database, event.event_id), { status: 'processed', attempts: 2 }, 'the refused replay changed nothing')
  t.same((await deliver(app, event)).json(), { status: 'duplicate', eventId: event.event_id }, 'the provider\'s retry after the replay is a duplicate')

  const unknown = await replay(app, newPaddleId('evt'))
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'not_found')
})

t.test('three replicas replay and redeliver one failed event at once: one effect', async (t) => {
  const first = await buildTestApp(t)
  const { database, config } = first
  const others = await Promise.all([1, 2].map(async () => buildTestApp(t, { database, config: { redisKeyPrefix: config.redisKeyPrefix } })))
  const [a, b, c] = [first.app, others[0]!.app, others[1]!.app]

  const restore = await failInserts(database, 'boosts')
  const event = boostEvent()
  t.equal((await deliver(a, event)).statusCode, 500)
  await restore()
  // Each write of this transaction's boost takes a moment, so the three requests overlap for real.
  await slowInserts(database, 'boosts', 'transaction_id', event.data.id, 0.5)

  const send = (index: number) => index === 2 ? deliver(c, event) : replay(index === 0 ? a : b, event.event_id)
  const outcomes: string[] = []
  const settle = async (index: number) => {
    for (let tries = 0; tries < 50; tries++) {
      const answer = outcome(await send(index))
      outcomes.push(answer)
      if (answer !== '409 in_progress') return answer
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return 'gave up'
  }
  const finals = await Promise.all([0, 1, 2].map(settle))
  t.equal(outcomes.filter((answer) => answer === 'processed').length, 1, `exactly one processed answer (${outcomes.join(', ')})`)
  t.ok(outcomes.every((answer) => ['processed', 'duplicate', '409 in_progress', '409 already_processed'].includes(answer)), 'every other answer is a duplicate or a refusal to retry')
  t.ok(outcomes.includes('409 in_progress'), 'the requests did overlap: some waited for the lease')
  t.equal(finals[2] === 'processed' || finals[2] === 'duplicate', true, 'the provider\'s retry ends in 200')
  t.equal(await count(database, 'boosts where transaction_id = $1', [event.data.id]), 1, 'one boost')
  t.match(await eventRow(database, event.event_id), { status: 'processed', attempts: 2 }, 'applied on its second attempt, once')
})

t.test('a lease lost mid-write: the other replicas reach Postgres while the first still writes, and the record fences them', async (t) => {
  const first = await buildTestApp(t)
  const { database, config } = first
  const others = await Promise.all([1, 2].map(async () => buildTestApp(t, { database, config: { redisKeyPrefix: config.redisKeyPrefix } })))
  const [a, b, c] = [first.app, others[0]!.app, others[1]!.app]
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())

  const restore = await failInserts(database, 'boosts')
  const event = boostEvent()
  t.equal((await deliver(a, event)).statusCode, 500)
  await restore()
  await slowInserts(database, 'boosts', 'transaction_id', event.data.id, 2)

  const waiting = (what: string, condition: string) => until(what, async () => {
    const [row] = await database.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = $1 and ${condition}`, [database.name])
    return (row?.n ?? 0) > 0 ? row?.n : undefined
  })
  const lease = lockKeyOf(config, event.event_id)
  const replayA = replay(a, event.event_id)
  await waiting('replica A writing', "wait_event = 'PgSleep'")
  // The lease expires while A is still inside its transaction (a stalled replica): B replays.
  t.equal(await redis.del(lease), 1, 'A held the lease')
  const replayB = replay(b, event.event_id)
  await until('B waiting on the record', async () => {
    const [row] = await database.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'", [database.name])
    return (row?.n ?? 0) >= 1 ? true : undefined
  })
  // And B's lease is lost too: the provider's retry reaches C.
  t.equal(await redis.del(lease), 1, 'B held the lease')
  const redelivery = deliver(c, event)
  await until('C waiting on the record', async () => {
    const [row] = await database.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'", [database.name])
    return (row?.n ?? 0) >= 2 ? true : undefined
  })

  const [answerA, answerB, answerC] = await Promise.all([replayA, replayB, redelivery])
  t.same([answerA, answerB, answerC].map(outcome), ['processed', 'duplicate', 'duplicate'], 'A applies it; B and C are fenced by the record')
  t.equal(await count(database, 'boosts where transaction_id = $1', [event.data.id]), 1, 'one boost')
  t.match(await eventRow(database, event.event_id), { status: 'processed', attempts: 2, source: 'replay' }, 'the fenced attempts wrote nothing, not even a count')
  t.equal(await metricValue(a, 'lock_ttl_exhausted_total'), 1, 'A noticed it outlived its lease')
})
