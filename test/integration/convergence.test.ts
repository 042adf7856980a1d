// Subscriptions converge whatever the delivery order. A property test: random histories of one subscription
// (snapshots of every kind, tier changes, payments that fail and succeed, timestamps equal to the millisecond and
// to the microsecond), delivered shuffled, with duplicates, in concurrent waves through two app instances that
// share one database and one Redis key space, as replicas do. The final `subscriptions` row must be the one that
// delivering each event once, in (occurred_at, event_id) order, produces on a database of its own, and that row
// must be the one the rule in ARCHITECTURE.md ("Convergence") describes.
//
// The seed is fixed so CI runs the same 200 histories each time; fast-check prints it with the shrunk
// counterexample when the property fails. CONVERGENCE_SEED and CONVERGENCE_RUNS explore others.
import { deepStrictEqual, equal } from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver } from '../helpers/paddle.js'
import {
  EXAMPLE_PRICES, newPaddleId, subscriptionSnapshot, subscriptionTransaction,
  type PaddleNotification, type SubscriptionEventType, type SubscriptionStatus
} from '../helpers/paddle-payloads.js'

const SEED = Number(process.env.CONVERGENCE_SEED ?? 20_261_207)
const RUNS = Number(process.env.CONVERGENCE_RUNS ?? 200)

const TIERS = ['starter', 'pro', 'business'] as const
type Tier = typeof TIERS[number]
const SNAPSHOT_TYPES = [
  'subscription.created', 'subscription.trialing', 'subscription.activated', 'subscription.updated', 'subscription.imported',
  'subscription.past_due', 'subscription.paused', 'subscription.resumed', 'subscription.canceled'
] as const satisfies readonly SubscriptionEventType[]
const PAYMENT_TYPES = ['transaction.completed', 'transaction.payment_failed'] as const
type EventType = typeof SNAPSHOT_TYPES[number] | typeof PAYMENT_TYPES[number]

/** One event of a history, as fast-check draws it (everything that decides the outcome is drawn, nothing random). */
interface Step {
  type: EventType
  /** Whole seconds after the history's start, then a millisecond and a microsecond: few values, so many ties. */
  second: number
  milli: number
  micro: number
  /** How occurred_at is written: the same instant in three spellings. */
  offset: 'Z' | '+00:00' | '+05:30'
  /** Orders event ids, so equal timestamps are broken by an id drawn here rather than by chance. */
  idRank: number
  tier: Tier
  /** subscription.updated may carry any status, as Paddle's does. */
  updatedStatus: SubscriptionStatus
  community: number
  customer: number
  /** One delivery per entry: where its place in the shuffle is, which instance gets it, whether a new wave starts. */
  deliveries: Array<{ order: number, instance: 0 | 1, newWave: boolean }>
}

const step: fc.Arbitrary<Step> = fc.record({
  type: fc.constantFrom<EventType>(...SNAPSHOT_TYPES, ...PAYMENT_TYPES, 'subscription.updated', 'transaction.payment_failed', 'transaction.completed'),
  second: fc.integer({ min: 0, max: 6 }),
  milli: fc.integer({ min: 0, max: 1 }),
  micro: fc.integer({ min: 0, max: 1 }),
  offset: fc.constantFrom('Z' as const, '+00:00' as const, '+05:30' as const),
  idRank: fc.nat({ max: 20 }),
  tier: fc.constantFrom(...TIERS),
  updatedStatus: fc.constantFrom<SubscriptionStatus>('active', 'past_due', 'trialing', 'paused', 'canceled'),
  community: fc.nat({ max: 1 }),
  customer: fc.nat({ max: 1 }),
  deliveries: fc.array(fc.record({ order: fc.nat({ max: 1000 }), instance: fc.constantFrom(0 as const, 1 as const), newWave: fc.boolean() }),
    { minLength: 1, maxLength: 3 })
})

const history = fc.array(step, { minLength: 1, maxLength: 10 })

const START_MS = Date.parse('2026-11-05T10:00:00Z')
const DAY_MS = 24 * 3600 * 1000

/** `2026-11-05T15:30:01.001001+05:30`: RFC 3339 with microseconds, in the given offset. */
function spell (micros: number, offset: Step['offset']): string {
  const shift = offset === '+05:30' ? (5 * 60 + 30) * 60_000 : 0
  const ms = Math.floor(micros / 1000)
  const local = new Date(ms + shift).toISOString().slice(0, 19)
  const fraction = String(micros % 1_000_000).padStart(6, '0')
  return `${local}.${fraction}${offset}`
}

interface Built { step: Step, micros: number, event: PaddleNotification }

let historyCount = 0

/** The events of a history, for a subscription id and event ids of this run only (the database is shared). */
function build (steps: Step[]): { subscriptionId: string, events: Built[] } {
  const run = (historyCount++).toString(36).padStart(8, '0')
  const subscriptionId = `sub_${run}${newPaddleId('x').slice(2, 20)}`
  const events = steps.map((s, index): Built => {
    const micros = (START_MS + s.second * 1000 + s.milli) * 1000 + s.micro
    const envelope = {
      eventId: `evt_${run}${String(s.idRank).padStart(16, '0')}${String(index).padStart(2, '0')}`,
      occurredAt: spell(micros, s.offset)
    }
    const who = {
      subscriptionId,
      customerId: `ctm_01hv8y0jq6f3w1mx7d2fzt0p4${s.customer}`,
      priceId: EXAMPLE_PRICES[s.tier],
      customData: { community_id: `community_${s.community}` }
    }
    const event = s.type === 'transaction.completed' || s.type === 'transaction.payment_failed'
      ? subscriptionTransaction(s.type, { ...envelope, ...who })
      : subscriptionSnapshot(s.type, {
        ...envelope,
        ...who,
        periodEnd: spell(micros + 30 * DAY_MS * 1000, 'Z'),
        ...(s.type === 'subscription.updated' ? { status: s.updatedStatus } : {})
      })
    return { step: s, micros, event: event as unknown as PaddleNotification }
  })
  return { subscriptionId, events }
}

/** (occurred_at, event_id): the order the service promises to converge to. Ids are [0-9a-z], the same in C collation. */
const byOccurrence = (a: Built, b: Built): number =>
  a.micros - b.micros || (a.event.event_id < b.event.event_id ? -1 : a.event.event_id > b.event.event_id ? 1 : 0)

interface Delivered { status: string, retries: number }

/** Delivers until answered 200, retrying 409 in_progress (and 429) after a short wait, as Paddle would. */
async function deliverAsProvider (app: FastifyInstance, event: PaddleNotification): Promise<Delivered> {
  for (let retries = 0; retries < 200; retries++) {
    const response = await deliver(app, event)
    if (response.statusCode === 200) return { status: (response.json() as { status: string }).status, retries }
    if (response.statusCode !== 409 && response.statusCode !== 429) {
      throw new Error(`${event.event_type} ${event.event_id} answered ${response.statusCode} ${response.body}`)
    }
    await sleep(2 + Math.floor(Math.random() * 5))
  }
  throw new Error(`${event.event_id} still in progress after 200 retries`)
}

/** The row, every column but updated_at, timestamps at full precision (to_jsonb keeps microseconds). */
async function rowOf (database: TestDatabase, subscriptionId: string): Promise<Record<string, unknown> | undefined> {
  const rows = await database.query<{ row: Record<string, unknown> }>(
    "select to_jsonb(s) - 'updated_at' as row from subscriptions as s where id = $1", [subscriptionId])
  return rows[0]?.row
}

/** What the rule says the row holds, computed from the events alone. */
function ruleOf (events: Built[]) {
  const latest = (list: Built[]) => [...list].sort(byOccurrence).at(-1)
  const snapshot = latest(events.filter((e) => e.event.event_type.startsWith('subscription.')))
  const payment = latest(events.filter((e) => e.event.event_type.startsWith('transaction.')))
  const snapshotStatus = snapshot === undefined ? null : (snapshot.event.data as { status: string }).status
  const paymentNewer = payment !== undefined && (snapshot === undefined || byOccurrence(payment, snapshot) > 0)
  const failed = payment?.event.event_type === 'transaction.payment_failed'
  return {
    status: paymentNewer ? (failed ? 'past_due' : 'active') : snapshotStatus,
    tier: snapshot === undefined || snapshotStatus === 'canceled' ? 'starter' : snapshot.step.tier,
    community_id: snapshot === undefined ? null : `community_${snapshot.step.community}`,
    last_event_id: snapshot?.event.event_id ?? null,
    payment_event_id: payment?.event.event_id ?? null,
    grace_us: failed && payment !== undefined && (paymentNewer || snapshotStatus === 'past_due')
      ? String(payment.micros + DAY_MS * 1000)
      : null
  }
}

t.test('every delivery order converges to the row of delivery in (occurred_at, event_id) order', async (t) => {
  const database = await freshDatabase(t)
  // Two replicas: one database, one Redis key space, so they contend for the same locks and markers.
  const shared = { redisKeyPrefix: `bwtest:${process.pid}:converge:${newPaddleId('k').slice(2)}:` }
  const replicas = [
    (await buildTestApp(t, { database, config: shared })).app,
    (await buildTestApp(t, { database, config: shared })).app
  ] as const
  const reference = await buildTestApp(t, { redisUrl: null })
  t.comment(`fast-check seed ${SEED}, ${RUNS} histories (CONVERGENCE_SEED, CONVERGENCE_RUNS to change them)`)

  const seen = { histories: 0, events: 0, deliveries: 0, sameMilli: 0, sameMicro: 0, paymentFirst: 0, concurrentDuplicates: 0, retried: 0 }
  const startedAt = performance.now()

  const property = fc.asyncProperty(history, async (steps) => {
    const { subscriptionId, events } = build(steps)

    // Shuffled copies, cut into waves; a wave goes out at once, split over the two replicas.
    const copies = events.flatMap((built, index) => built.step.deliveries.map((d) => ({ ...d, index, built })))
      .sort((a, b) => a.order - b.order || a.index - b.index)
    const waves: Array<typeof copies> = []
    for (const copy of copies) {
      if (waves.length === 0 || copy.newWave) waves.push([])
      waves.at(-1)?.push(copy)
    }
    const answers = new Map<string, string[]>()
    for (const wave of waves) {
      const results = await Promise.all(wave.map(async (copy) => ({ copy, ...await deliverAsProvider(replicas[copy.instance], copy.built.event) })))
      for (const { copy, status, retries } of results) {
        answers.set(copy.built.event.event_id, [...answers.get(copy.built.event.event_id) ?? [], status])
        seen.retried += retries > 0 ? 1 : 0
      }
      const ids = wave.map((copy) => copy.index)
      if (new Set(ids).size < ids.length) seen.concurrentDuplicates++
    }
    // Exactly once: each event processed by one delivery, every other copy a duplicate.
    for (const [eventId, statuses] of answers) {
      deepStrictEqual(statuses.filter((s) => s !== 'duplicate'), ['processed'], `${eventId} answered ${statuses.join(', ')}`)
    }

    // The reference: each event once, in (occurred_at, event_id) order, on a database of its own.
    const ordered = [...events].sort(byOccurrence)
    for (const built of ordered) equal((await deliverAsProvider(reference.app, built.event)).status, 'processed')

    const row = await rowOf(database, subscriptionId)
    const expected = await rowOf(reference.database, subscriptionId)
    deepStrictEqual(row, expected, 'the row differs from the one of delivery in occurred_at order')

    const [derived] = await database.query(`
      select status, tier, community_id, last_event_id, payment_event_id,
             (extract(epoch from grace_until) * 1000000)::bigint::text as grace_us
      from subscriptions where id = $1`, [subscriptionId])
    deepStrictEqual(derived, ruleOf(events), 'the row is not the one the convergence rule describes')

    seen.histories++
    seen.events += events.length
    seen.deliveries += copies.length
    const milli = new Set<number>()
    const micro = new Set<number>()
    for (const { micros } of events) {
      if (milli.has(Math.floor(micros / 1000)) && !micro.has(micros)) seen.sameMilli++
      if (micro.has(micros)) seen.sameMicro++
      milli.add(Math.floor(micros / 1000))
      micro.add(micros)
    }
    const firstDelivered = copies[0]?.built.event.event_type
    if (firstDelivered?.startsWith('transaction.') === true) seen.paymentFirst++
  })

  try {
    await fc.assert(property, { seed: SEED, numRuns: RUNS, includeErrorInReport: true })
  } catch (err) {
    // fast-check's message holds the seed, the path, the shrunk counterexample and the failed assertion.
    t.fail((err as Error).message)
    return
  }
  t.comment(`${seen.histories} histories, ${seen.events} events, ${seen.deliveries} deliveries in ${Math.round(performance.now() - startedAt)} ms`)
  t.comment(JSON.stringify(seen))
  t.equal(seen.histories, RUNS, 'every history ran')
  // The generator reaches the cases the property is about.
  t.ok(seen.sameMilli > 0, `timestamps equal to the millisecond, different in the microsecond (${seen.sameMilli})`)
  t.ok(seen.sameMicro > 0, `timestamps equal to the microsecond, ordered by event id (${seen.sameMicro})`)
  t.ok(seen.paymentFirst > 0, `a payment delivered before any snapshot (${seen.paymentFirst})`)
  t.ok(seen.concurrentDuplicates > 0, `copies of one event in flight at once on the two replicas (${seen.concurrentDuplicates})`)
  t.ok(seen.retried > 0, `deliveries answered 409 in_progress and retried (${seen.retried})`)
})

t.test('the issue\'s two reproductions', async (t) => {
  const { app, database } = await buildTestApp(t, { redisUrl: null })
  const send = async (event: PaddleNotification | { event_id: string }) => {
    const response = await deliver(app, event)
    t.equal(response.statusCode, 200, response.body)
    return (response.json() as { status: string }).status
  }
  const row = async (id: string) => (await database.query('select * from subscriptions where id = $1', [id]))[0]

  t.test('A paid upgrade is lost: subscription.updated (business, at t) after its proration transaction.completed (t+2 s)', async (t) => {
    const subscriptionId = newPaddleId('sub')
    const customData = { community_id: 'community_upgrade' }
    t.equal(await send(subscriptionSnapshot('subscription.created', {
      subscriptionId, priceId: EXAMPLE_PRICES.pro, customData, occurredAt: '2026-10-05T10:00:00.000000Z'
    })), 'processed')
    t.match(await row(subscriptionId), { tier: 'pro', status: 'active' })
    const proration = subscriptionTransaction('transaction.completed', {
      subscriptionId, priceId: EXAMPLE_PRICES.business, customData, occurredAt: '2026-11-05T10:00:02.000000Z'
    })
    const upgrade = subscriptionSnapshot('subscription.updated', {
      subscriptionId, priceId: EXAMPLE_PRICES.business, customData, occurredAt: '2026-11-05T10:00:00.000000Z'
    })
    t.equal(await send(proration), 'processed')
    t.equal(await send(upgrade), 'processed')
    t.match(await row(subscriptionId), { tier: 'business', status: 'active', grace_until: null, payment_status: 'paid' },
      'the upgrade is kept: the payment no longer moves the snapshot watermark')
    t.equal(await send(upgrade), 'duplicate')
    t.equal(await send(proration), 'duplicate')
    t.match(await row(subscriptionId), { tier: 'business' })
  })

  t.test('A payment event is swallowed: transaction.payment_failed before subscription.created', async (t) => {
    const subscriptionId = newPaddleId('sub')
    const failure = subscriptionTransaction('transaction.payment_failed', {
      subscriptionId, priceId: EXAMPLE_PRICES.pro, occurredAt: '2026-11-06T10:00:00.123456Z'
    })
    t.equal(await send(failure), 'processed')
    t.match(await row(subscriptionId), { status: 'past_due', payment_status: 'failed', last_event_at: null },
      'the failure is kept on a row of its own until a snapshot fills it in')
    t.equal(await send(subscriptionSnapshot('subscription.created', {
      subscriptionId, priceId: EXAMPLE_PRICES.pro, customData: { community_id: 'community_swallowed' }, occurredAt: '2026-11-01T10:00:00Z'
    })), 'processed')
    const [kept] = await database.query<{ status: string, tier: string, community_id: string, grace: string }>(
      "select status, tier, community_id, to_char(grace_until at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') as grace from subscriptions where id = $1",
      [subscriptionId])
    t.same(kept, { status: 'past_due', tier: 'pro', community_id: 'community_swallowed', grace: '2026-11-07T10:00:00.123456' },
      'past_due with 24 hours of grace from the failure, to the microsecond')
    t.equal(await send(failure), 'duplicate', 'a redelivery is a duplicate of an event that was applied')
    t.match(await row(subscriptionId), { status: 'past_due' })
  })
})
