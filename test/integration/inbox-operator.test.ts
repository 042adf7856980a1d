// The operator's view of the inbox over HTTP: list and read events (filters, newest first, a cursor that
// neither skips nor repeats a row), replay in bulk once the cause is fixed, and the gauges Prometheus
// scrapes. The same services from a shell are in inbox-cli.test.ts.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { count } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_CATALOG_PATH, EXAMPLE_PRICES, newPaddleId, oneOffTransaction, samplePaddleEvent, subscriptionSnapshot } from '../helpers/paddle-payloads.js'
import { failInserts } from '../helpers/triggers.js'

type Json = Record<string, any>

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
const hex = (bytes: number) => randomBytes(bytes).toString('hex')

async function get (app: FastifyInstance, url: string): Promise<{ status: number, body: Json }> {
  const response = await app.inject({ method: 'GET', url, headers: admin })
  return { status: response.statusCode, body: response.json() }
}

const boostPurchase = (priceId: string = EXAMPLE_PRICES.boost3, customData: Json | null = { community_id: `community_${hex(4)}` }) =>
  oneOffTransaction({ items: [{ priceId }], customData })

t.test('GET /admin/events: filters, newest first, and a cursor across pages that skips and repeats nothing', async (t) => {
  const { app, database } = await buildTestApp(t)
  const events: Json[] = [
    ...[1, 2, 3, 4].map(() => samplePaddleEvent('customer.updated')),
    ...[1, 2, 3].map(() => samplePaddleEvent('subscription.created')),
    ...[1, 2, 3].map(() => boostPurchase(EXAMPLE_PRICES.boost1, null)),
    ...[1, 2].map(() => samplePaddleEvent('transaction.completed'))
  ]
  for (const event of events) t.equal((await deliver(app, event)).statusCode, 200)
  // Received at known times, three at a time at the very same microsecond, so pages must break ties.
  await database.query(`
    update webhook_events as e set received_at = timestamptz '2026-03-01T10:00:00.000001Z' + (r.n / 3) * interval '1 minute'
    from (select event_id, row_number() over (order by event_id) - 1 as n from webhook_events) as r
    where e.event_id = r.event_id`)
  const expected = async (where = 'true', values: unknown[] = []) => (await database.query<{ event_id: string }>(
    `select event_id from webhook_events where ${where} order by received_at desc, event_id desc`, values)).map((row) => row.event_id)
  const ids = (body: Json) => (body.events as Json[]).map((event) => event.eventId)

  const all = await get(app, '/admin/events')
  t.equal(all.status, 200)
  t.same(ids(all.body), await expected(), 'every event, newest first')
  t.equal(all.body.nextCursor, null, 'one page holds them all')
  t.match(all.body.events[0], { eventId: String, eventType: String, status: String, source: 'webhook', attempts: 1, receivedAt: String, occurredAt: String })
  t.notOk('payload' in all.body.events[0], 'the list carries no payloads')

  const byStatus = await get(app, '/admin/events?status=needs_review')
  t.same(ids(byStatus.body), await expected("status = 'needs_review'"), 'by status')
  t.equal(byStatus.body.events.length, 3)
  const byType = await get(app, '/admin/events?type=customer.updated')
  t.same(ids(byType.body), await expected("event_type = 'customer.updated'"), 'by type')
  t.ok(byType.body.events.every((event: Json) => event.status === 'ignored'))
  const window = await get(app, `/admin/events?from=${encodeURIComponent('2026-03-01T10:01:00Z')}&to=${encodeURIComponent('2026-03-01T10:03:00Z')}`)
  t.same(ids(window.body), await expected("received_at >= '2026-03-01T10:01:00Z' and received_at < '2026-03-01T10:03:00Z'"), 'from (inclusive) to (exclusive)')
  t.equal(window.body.events.length, 6)
  const both = await get(app, `/admin/events?status=processed&type=transaction.completed&from=${encodeURIComponent('2026-03-01T09:00:00Z')}`)
  t.same(ids(both.body), await expected("status = 'processed' and event_type = 'transaction.completed'"), 'filters combine')
  t.equal(both.body.events.length, 2)
  const none = await get(app, `/admin/events?to=${encodeURIComponent('2026-03-01T10:00:00Z')}`)
  t.same(none.body, { events: [], nextCursor: null }, 'an empty window is an empty page')

  for (const limit of [1, 2, 3, 5]) {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: { status: number, body: Json } = await get(app, `/admin/events?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`)
      t.equal(page.status, 200)
      t.ok(page.body.events.length <= limit, 'a page holds at most the limit')
      seen.push(...ids(page.body))
      cursor = page.body.nextCursor
      pages++
    } while (cursor !== null && pages < 50)
    t.same(seen, await expected(), `limit ${limit}: ${pages} pages, every row once, in order`)
    t.equal(pages, Math.ceil(events.length / limit), `limit ${limit}: no empty last page`)
  }
  const filteredPages: string[] = []
  const firstPage = await get(app, '/admin/events?status=ignored&limit=3')
  filteredPages.push(...ids(firstPage.body))
  const secondPage = await get(app, `/admin/events?status=ignored&limit=3&cursor=${firstPage.body.nextCursor}`)
  filteredPages.push(...ids(secondPage.body))
  t.same(filteredPages, await expected("status = 'ignored'"), 'the cursor keeps the filter\'s order')
  t.equal(secondPage.body.nextCursor, null)

  for (const [query, what] of [
    ['limit=0', 'a limit of 0'], ['limit=-1', 'a negative limit'], ['limit=abc', 'a limit that is not a number'],
    ['limit=10000', 'a limit of five digits'], ['status=lost', 'an unknown status'], ['from=yesterday', 'a from that is not a date'],
    ['cursor=not-a-cursor', 'a cursor this service never gave out'],
    [`cursor=${Buffer.from('["yesterday","evt_1"]').toString('base64url')}`, 'a well-formed cursor with a bad time'],
    [`cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 'a cursor of the wrong shape'],
    ['page=2', 'an unknown parameter']
  ]) {
    const answer = await get(app, `/admin/events?${query}`)
    t.equal(answer.status, 400, `${what}: 400`)
    t.type(answer.body.error, 'string', `${what}: { error, message }`)
    t.type(answer.body.message, 'string')
  }

  // A limit above 500 is refused; a page of 500 has a cursor to the rest.
  await database.query(`
    insert into webhook_events (event_id, event_type, status, occurred_at, received_at, payload)
    select 'evt_bulk_' || lpad(n::text, 4, '0'), 'report.created', 'ignored', now(), timestamptz '2026-02-01T00:00:00Z' + n * interval '1 second', '{}'::jsonb
    from generate_series(1, 505) as n`)
  const over = await get(app, '/admin/events?type=report.created&limit=501')
  t.equal(over.status, 400, 'limit=501: 400')
  t.match(over.body.message, /limit/, 'the message names the limit')
  const capped = await get(app, '/admin/events?type=report.created&limit=500')
  t.equal(capped.status, 200)
  t.equal(capped.body.events.length, 500, 'at most 500 per page')
  const rest = await get(app, `/admin/events?type=report.created&limit=500&cursor=${capped.body.nextCursor}`)
  t.equal(rest.body.events.length, 5, 'the cursor leads to the rest')
  t.equal(new Set([...ids(capped.body), ...ids(rest.body)]).size, 505)
})

t.test('GET /admin/events/:eventId: one event with its payload; 404 for an unknown id; 401 without a token on every inbox route', async (t) => {
  const { app } = await buildTestApp(t)
  const event = boostPurchase(EXAMPLE_PRICES.boost3, { community_id: 42 })
  event.occurred_at = '2026-03-01T10:00:00.123456Z'
  t.equal((await deliver(app, event)).statusCode, 200)
  const one = await get(app, `/admin/events/${event.event_id}`)
  t.equal(one.status, 200)
  t.match(one.body, {
    eventId: event.event_id,
    eventType: 'transaction.completed',
    status: 'processed',
    source: 'webhook',
    attempts: 1,
    reason: null,
    lastError: null,
    occurredAt: '2026-03-01T10:00:00.123456Z',
    receivedAt: String,
    processedAt: String
  }, 'status, attempts, source, timestamps to the microsecond')
  t.same(one.body.payload, event, 'and the payload as sent')

  const unknown = await get(app, `/admin/events/${newPaddleId('evt')}`)
  t.equal(unknown.status, 404)
  t.equal(unknown.body.error, 'not_found')

  const routes = [
    { method: 'GET' as const, url: '/admin/events' },
    { method: 'GET' as const, url: `/admin/events/${event.event_id}` },
    { method: 'POST' as const, url: `/admin/events/${event.event_id}/replay` },
    { method: 'POST' as const, url: '/admin/events/replay', payload: {} }
  ]
  for (const route of routes) {
    for (const headers of [{}, { authorization: 'Bearer not-the-admin-token-at-all-0000000' }]) {
      const answer = await app.inject({ ...route, headers })
      t.equal(answer.statusCode, 401, `${route.method} ${route.url}: 401 ${'authorization' in headers ? 'with a wrong token' : 'without a token'}`)
      t.equal(answer.json().error, 'unauthorized')
    }
  }
})

t.test('bulk replay after the operator fixes the cause: each needs_review event of the type is applied once, and the counts come back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-catalog-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // The catalogue as first deployed: the 3-month boost price had been forgotten.
  const full = (await import(EXAMPLE_CATALOG_PATH, { with: { type: 'json' } })).default as { prices: Record<string, unknown> }
  const { [EXAMPLE_PRICES.boost3]: _forgotten, ...prices } = full.prices
  const partialPath = join(dir, 'catalog.json')
  writeFileSync(partialPath, JSON.stringify({ prices }))

  const before = await buildTestApp(t, { config: { priceCatalog: partialPath } })
  const { database } = before
  const fixable = [1, 2, 3, 4].map(() => boostPurchase(EXAMPLE_PRICES.boost3))
  const forNobody = boostPurchase(EXAMPLE_PRICES.boost1, null)
  const otherType = subscriptionSnapshot('subscription.created', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro, customData: null })
  const applied = boostPurchase(EXAMPLE_PRICES.boost1)
  for (const event of [...fixable, forNobody, otherType]) {
    t.same((await deliver(before.app, event)).json(), { status: 'needs_review', eventId: event.event_id })
  }
  t.same((await deliver(before.app, applied)).json(), { status: 'processed', eventId: applied.event_id })
  const [reason] = await database.query<{ reason: string }>('select reason from webhook_events where event_id = $1', [fixable[0]!.event_id])
  t.match(reason?.reason, /items\[0\]\.price_id: price \S+ is not in the catalogue/, 'the reason says what the operator must fix')

  // The fix: a new rollout with the full catalogue.
  const after = await buildTestApp(t, { database, config: { priceCatalog: EXAMPLE_CATALOG_PATH } })
  const bulk = async (body: Json) => after.app.inject({ method: 'POST', url: '/admin/events/replay', headers: admin, payload: body })
  const first = await bulk({ status: 'needs_review', type: 'transaction.completed' })
  t.equal(first.statusCode, 200, first.body)
  t.same(first.json(), { replayed: 5, outcomes: { processed: 4, needs_review: 1 } }, 'the counts per outcome')
  for (const event of fixable) {
    t.equal(await count(database, 'boosts where transaction_id = $1 and months = 3', [event.data.id]), 1, 'each boost granted once')
  }
  t.equal(await count(database, "webhook_events where event_id = any($1) and status = 'processed' and source = 'replay' and attempts = 2",
    [fixable.map((event) => event.event_id)]), 4, 'each recorded processed by the replay')
  t.match((await database.query('select status, attempts from webhook_events where event_id = $1', [forNobody.event_id]))[0],
    { status: 'needs_review', attempts: 2 }, 'what the fix does not cover waits again')
  t.match((await database.query('select status, attempts, source from webhook_events where event_id = $1', [otherType.event_id]))[0],
    { status: 'needs_review', attempts: 1, source: 'webhook' }, 'another type is left alone')
  t.match((await database.query('select attempts from webhook_events where event_id = $1', [applied.event_id]))[0], { attempts: 1 }, 'a processed event is never replayed')

  const second = await bulk({ status: 'needs_review', type: 'transaction.completed' })
  t.same(second.json(), { replayed: 1, outcomes: { needs_review: 1 } }, 'a second run finds only what still waits')
  t.equal(await count(database, 'boosts where transaction_id = any($1)', [fixable.map((event) => event.data.id)]), 4, 'and grants nothing twice')
  for (const event of fixable) t.same((await deliver(after.app, event)).json(), { status: 'duplicate', eventId: event.event_id }, 'the provider\'s retries are duplicates')

  for (const [body, what] of [
    [{ status: 'processed' }, 'processed events cannot be replayed'],
    [{ limit: 1001 }, 'a limit over 1000'],
    [{ limit: 0 }, 'a limit of 0'],
    [{ limit: '5' }, 'a limit as text'],
    [{ everything: true }, 'an unknown field']
  ] as Array<[Json, string]>) {
    const answer = await bulk(body)
    t.equal(answer.statusCode, 400, `${what}: 400`)
  }
})

function scrape (text: string, name: string, status: string): number | undefined {
  const match = new RegExp(`^${name}\\{status="${status}"\\} (\\S+)$`, 'm').exec(text)
  return match === null ? undefined : Number(match[1])
}

t.test('the gauges: webhook_inbox_events and webhook_inbox_oldest_seconds follow what waits', async (t) => {
  const { app, database } = await buildTestApp(t)
  const metrics = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body

  let text = await metrics()
  for (const status of ['failed', 'needs_review']) {
    t.equal(scrape(text, 'webhook_inbox_events', status), 0, `no ${status} rows yet`)
    t.equal(scrape(text, 'webhook_inbox_oldest_seconds', status), 0)
  }
  const reviews = [boostPurchase(EXAMPLE_PRICES.boost1, null), boostPurchase(EXAMPLE_PRICES.boost1, {})]
  for (const event of reviews) await deliver(app, event)
  const restore = await failInserts(database, 'boosts')
  const failing = boostPurchase()
  t.equal((await deliver(app, failing)).statusCode, 500)
  await restore()
  await deliver(app, samplePaddleEvent('customer.created'))
  await database.query("update webhook_events set received_at = now() - interval '2 hours' where event_id = $1", [reviews[0]!.event_id])
  await database.query("update webhook_events set received_at = now() - interval '30 minutes' where event_id = $1", [failing.event_id])

  text = await metrics()
  t.equal(scrape(text, 'webhook_inbox_events', 'needs_review'), 2, 'two events wait for review')
  t.equal(scrape(text, 'webhook_inbox_events', 'failed'), 1, 'one failed event waits for a retry')
  const reviewAge = scrape(text, 'webhook_inbox_oldest_seconds', 'needs_review') ?? 0
  const failedAge = scrape(text, 'webhook_inbox_oldest_seconds', 'failed') ?? 0
  t.ok(reviewAge >= 7200 && reviewAge < 7200 + 120, `the oldest review waits two hours (${reviewAge} s)`)
  t.ok(failedAge >= 1800 && failedAge < 1800 + 120, `the failed one half an hour (${failedAge} s)`)
  t.notMatch(text, /webhook_inbox_events\{status="(processed|ignored)"\}/, 'only the statuses that wait for someone')

  t.equal((await app.inject({ method: 'POST', url: `/admin/events/${failing.event_id}/replay`, headers: admin })).json().status, 'processed')
  text = await metrics()
  t.equal(scrape(text, 'webhook_inbox_events', 'failed'), 0, 'the replayed event no longer waits')
  t.equal(scrape(text, 'webhook_inbox_oldest_seconds', 'failed'), 0)
  t.equal(scrape(text, 'webhook_inbox_events', 'needs_review'), 2)
})
