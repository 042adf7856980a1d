// POST /badges/purchase: a pending purchase at the catalogue's price for the badge, and the checkout to open:
// that price, and custom data that says only who buys. The signed transaction.completed that pays it
// completes that same row, once.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { requestKeys } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_CATALOG, EXAMPLE_PRICES, newPaddleId, oneOffTransaction } from '../helpers/paddle-payloads.js'

const newKey = () => `key-${randomBytes(8).toString('hex')}`

function purchase (app: FastifyInstance, key: string | undefined, body: unknown) {
  return app.inject({
    method: 'POST',
    url: '/badges/purchase',
    headers: {
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', ...(key !== undefined ? { 'idempotency-key': key } : {})
    },
    payload: JSON.stringify(body)
  })
}

t.test('badge purchase: pending row at the catalogue price, then the signed webhook completes that same row, once', async (t) => {
  const { app, database } = await buildTestApp(t)
  const body = { memberId: 'member_b1', communityId: 'community_b', badgeId: 'badge_gold' }
  const key = newKey()
  const started = await purchase(app, key, body)
  t.equal(started.statusCode, 201)
  const { purchaseId, status, checkout } = started.json()
  t.equal(status, 'pending')
  t.match(purchaseId, /^bp_[0-9a-f]{24}$/)
  t.equal(checkout.priceId, EXAMPLE_PRICES.badgeGold, 'the price to charge comes from the catalogue')
  t.equal(checkout.priceId, EXAMPLE_CATALOG.priceForBadge('badge_gold'))
  t.same(checkout.customData, { member_id: 'member_b1', community_id: 'community_b', purchase_id: purchaseId },
    'custom data says who, and nothing about what')
  t.same(await database.query('select id, member_id, community_id, badge_id, price_id, status, transaction_id from badge_purchases'), [{
    id: purchaseId, member_id: 'member_b1', community_id: 'community_b', badge_id: 'badge_gold', price_id: EXAMPLE_PRICES.badgeGold, status: 'pending', transaction_id: null
  }], 'the pending row fixes the price the payment must match')

  const replay = await purchase(app, key, body)
  t.equal(replay.statusCode, 201)
  t.same(replay.json(), started.json())
  t.equal(replay.headers['idempotent-replayed'], 'true')

  // The checkout Paddle opens with that price and custom data, paid.
  const event = oneOffTransaction({ items: [{ priceId: checkout.priceId }], customData: checkout.customData })
  t.equal((await deliver(app, event)).json().status, 'processed')
  t.equal((await deliver(app, event)).json().status, 'duplicate')
  const rows = await database.query('select id, status, transaction_id from badge_purchases where member_id = $1', ['member_b1'])
  t.equal(rows.length, 1, 'one row: the webhook completed the pending purchase')
  t.same(rows[0], { id: purchaseId, status: 'completed', transaction_id: event.data.id })
  // The provider may notify the same transaction again under a new event id: still the one row.
  const renotified = { ...event, event_id: newPaddleId('evt') }
  t.equal((await deliver(app, renotified)).json().status, 'processed')
  const after = await database.query('select id, status, transaction_id from badge_purchases where member_id = $1', ['member_b1'])
  t.same(after, rows, 'a second event for the same transaction changes nothing')

  const againKey = newKey()
  const again = await purchase(app, againKey, body)
  t.equal(again.statusCode, 409)
  t.same(again.json(), { error: 'already_owned', message: again.json().message })
  const againReplay = await purchase(app, againKey, body)
  t.equal(againReplay.statusCode, 409, 'the refusal is recorded under its key')
  t.same(againReplay.json(), again.json())
  t.equal(againReplay.headers['idempotent-replayed'], 'true')
  const otherBadge = await purchase(app, newKey(), { ...body, badgeId: 'badge_silver' })
  t.equal(otherBadge.statusCode, 201, 'another badge is still for sale')
  t.equal(otherBadge.json().checkout.priceId, EXAMPLE_PRICES.badgeSilver, 'at its own price')
  const pending = await database.query<{ badge_id: string }>("select badge_id from badge_purchases where status = 'pending'")
  t.same(pending, [{ badge_id: 'badge_silver' }], 'the refused purchase opened no row')
})

t.test('badge purchase: the price comes from the catalogue the service was started with', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-catalog-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'catalog.json')
  writeFileSync(path, JSON.stringify({ prices: { pri_01customgold0000000000000: { grant: 'badge', badgeId: 'badge_gold' } } }))
  const { app } = await buildTestApp(t, { config: { priceCatalog: path } })
  const started = await purchase(app, newKey(), { memberId: 'm1', communityId: 'c1', badgeId: 'badge_gold' })
  t.equal(started.statusCode, 201)
  t.equal(started.json().checkout.priceId, 'pri_01customgold0000000000000')
  const silver = await purchase(app, newKey(), { memberId: 'm1', communityId: 'c1', badgeId: 'badge_silver' })
  t.equal(silver.statusCode, 422, 'a badge this catalogue does not sell is unknown here')
})

t.test('badge purchase: an unknown badge is 422 unknown_badge, before any lock, and writes nothing', async (t) => {
  const { app, config, database } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const key = newKey()
  const unknown = await purchase(app, key, { memberId: 'm1', communityId: 'c1', badgeId: 'badge_platinum' })
  t.equal(unknown.statusCode, 422)
  t.same(unknown.json(), { error: 'unknown_badge', message: 'No price in the catalogue grants badge badge_platinum.' })
  t.same(await requestKeys(redis, config), [], 'no lock and no marker was written')
  const rows = await database.query('select (select count(*) from badge_purchases)::int as p, (select count(*) from idempotency_keys)::int as k')
  t.same(rows[0], { p: 0, k: 0 }, 'no purchase, and nothing recorded under the key')
  const fixed = await purchase(app, key, { memberId: 'm1', communityId: 'c1', badgeId: 'badge_gold' })
  t.equal(fixed.statusCode, 201, 'the same key with a badge for sale is a first request')
  t.equal(fixed.headers['idempotent-replayed'], undefined)
})

t.test('badge purchase: a missing Idempotency-Key is 400, a bad body names the field', async (t) => {
  const { app, database } = await buildTestApp(t)
  const missing = await purchase(app, undefined, { memberId: 'm', communityId: 'c', badgeId: 'badge_gold' })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'bad_request')
  t.match(missing.json().message, /Idempotency-Key/)
  const cases: Array<[unknown, RegExp]> = [
    [{ memberId: 'm', communityId: 'c' }, /badgeId/],
    [{ memberId: 'm', badgeId: 'badge_gold' }, /communityId/],
    [{ memberId: 'm\n', communityId: 'c', badgeId: 'badge_gold' }, /memberId/],
    [{ memberId: 'm', communityId: 'c', badgeId: 'badge_gold', priceId: EXAMPLE_PRICES.badgeSilver }, /additional properties: 'priceId'/]
  ]
  for (const [body, field] of cases) {
    const bad = await purchase(app, newKey(), body)
    t.equal(bad.statusCode, 400, JSON.stringify(body))
    t.equal(bad.json().error, 'validation_error')
    t.match(bad.json().message, field, 'the message names the field')
  }
  const rows = await database.query('select count(*)::int as n from badge_purchases')
  t.equal(rows[0]?.n, 0)
})
