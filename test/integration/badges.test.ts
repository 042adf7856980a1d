import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { TEST_ADMIN_TOKEN } from '../helpers/env.js'
import { badgePurchaseEvent, deliver } from '../helpers/paddle.js'

const newKey = () => `key-${randomBytes(8).toString('hex')}`

function purchase (app: FastifyInstance, key: string, body: unknown) {
  return app.inject({
    method: 'POST',
    url: '/badges/purchase',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': key },
    payload: JSON.stringify(body)
  })
}

t.test('badge purchase: pending row, then the signed webhook completes that same row, once', async (t) => {
  const { app, database } = await buildTestApp(t)
  const body = { memberId: 'member_b1', communityId: 'community_b', badgeId: 'badge_gold' }
  const key = newKey()
  const started = await purchase(app, key, body)
  t.equal(started.statusCode, 201)
  const { purchaseId, status, checkout } = started.json()
  t.equal(status, 'pending')
  t.match(purchaseId, /^bp_/)
  t.same(checkout.customData, { type: 'badge_purchase', member_id: 'member_b1', community_id: 'community_b', badge_id: 'badge_gold', purchase_id: purchaseId })

  const replay = await purchase(app, key, body)
  t.equal(replay.statusCode, 201)
  t.same(replay.json(), started.json())
  t.equal(replay.headers['idempotent-replayed'], 'true')

  const event = badgePurchaseEvent(checkout.customData)
  t.equal((await deliver(app, event)).json().status, 'processed')
  t.equal((await deliver(app, event)).json().status, 'duplicate')
  const rows = await database.query('select id, status, transaction_id from badge_purchases where member_id = $1', ['member_b1'])
  t.equal(rows.length, 1, 'one row: the webhook completed the pending purchase')
  t.same(rows[0], { id: purchaseId, status: 'completed', transaction_id: (event.data as { id: string }).id })
  // The provider may notify the same transaction again under a new event id: still the one row.
  const renotified = { ...event, event_id: `${String(event.event_id)}_again` }
  t.equal((await deliver(app, renotified)).json().status, 'processed')
  const after = await database.query('select id, status, transaction_id from badge_purchases where member_id = $1', ['member_b1'])
  t.same(after, rows, 'a second event for the same transaction changes nothing')

  const againKey = newKey()
  const again = await purchase(app, againKey, body)
  t.equal(again.statusCode, 409)
  t.equal(again.json().error, 'already_owned')
  const againReplay = await purchase(app, againKey, body)
  t.equal(againReplay.statusCode, 409, 'the refusal is recorded under its key')
  t.same(againReplay.json(), again.json())
  t.equal(againReplay.headers['idempotent-replayed'], 'true')
  const otherBadge = await purchase(app, newKey(), { ...body, badgeId: 'badge_silver' })
  t.equal(otherBadge.statusCode, 201, 'another badge is still for sale')
  const pending = await database.query<{ badge_id: string }>("select badge_id from badge_purchases where status = 'pending'")
  t.same(pending, [{ badge_id: 'badge_silver' }], 'the refused purchase opened no row')
})

t.test('badge purchase: a missing Idempotency-Key is 400, a bad body names the field', async (t) => {
  const { app, database } = await buildTestApp(t)
  const missing = await app.inject({
    method: 'POST',
    url: '/badges/purchase',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ memberId: 'm', communityId: 'c', badgeId: 'b' })
  })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'bad_request')
  const bad = await purchase(app, newKey(), { memberId: 'm', communityId: 'c' })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().message, /badgeId/)
  const rows = await database.query('select count(*)::int as n from badge_purchases')
  t.equal(rows[0]?.n, 0)
})
