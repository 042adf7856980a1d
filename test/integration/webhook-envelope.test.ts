// The envelope check sits between the signature and the lock: what it refuses is a 400 that takes no
// lock and writes nothing; what lies past the envelope never makes a 400; what Paddle really sends passes.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { buildTestApp } from '../helpers/app.js'
import { count } from '../helpers/lvver.js'
import { recordTraffic } from '../helpers/observe.js'
import { deliver, paddleEvent, paddleId, subscriptionEvent } from '../helpers/paddle.js'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { TEST_SECRET } from '../helpers/env.js'

t.test('an impossible occurred_at is a malformed envelope: 400 naming the field, no lock, nothing written', async (t) => {
  const { app, database } = await buildTestApp(t)
  const traffic = recordTraffic(app)
  // It has the shape of a timestamp, so only a real date check can tell.
  const event = paddleEvent({ eventType: 'customer.updated', occurredAt: '2026-13-01T00:00:00Z', data: { id: paddleId('ctm') } })
  for (const attempt of ['first delivery', 'the retry']) {
    const answer = await deliver(app, event)
    t.equal(answer.statusCode, 400, `${attempt}: 400`)
    t.equal(answer.json().error, 'invalid_envelope', `${attempt}: invalid_envelope`)
    t.match(answer.json().message, /occurred_at/, `${attempt}: the message names the field`)
  }
  t.same(traffic.sent, [], 'no lock taken, no statement sent')
  t.equal(await count(database, 'webhook_events'), 0, 'nothing written')
})

t.test('an impossible date inside data is content, not envelope: the event is applied and the date left out', async (t) => {
  const { app, database } = await buildTestApp(t)
  const period = (startsAt: string, endsAt: string) => ({ current_billing_period: { starts_at: startsAt, ends_at: endsAt } })
  const id = paddleId('sub')
  const answer = await deliver(app, subscriptionEvent('subscription.created', id, period('2026-11-01T25:00:00Z', '2026-13-01T00:00:00Z')))
  t.equal(answer.statusCode, 200)
  t.equal(answer.json().status, 'processed')
  t.same(await database.query('select current_period_end from subscriptions where id = $1', [id]), [{ current_period_end: null }])
  const fine = paddleId('sub')
  t.equal((await deliver(app, subscriptionEvent('subscription.created', fine, period('2026-11-01T00:00:00.123456Z', '2026-12-01T00:00:00+01:00')))).json().status, 'processed')
  const [row] = await database.query<{ current_period_end: Date }>('select current_period_end from subscriptions where id = $1', [fine])
  t.equal(row?.current_period_end.toISOString(), '2026-11-30T23:00:00.000Z', 'real dates, with microseconds or an offset, are read')
})

t.test('the signature covers the bytes as sent: Paddle\'s pretty-printed full-shape payload is processed, the same JSON re-serialized is refused', async (t) => {
  const { app, database } = await buildTestApp(t)
  const raw = readFileSync(new URL('../fixtures/paddle-transaction-completed.json', import.meta.url), 'utf8')
  const reserialized = JSON.stringify(JSON.parse(raw))
  t.not(raw, reserialized, 'the fixture is not in JSON.stringify\'s form')

  const signature = signPaddleBody(raw, TEST_SECRET)
  const refused = await deliver(app, reserialized, { signature })
  t.equal(refused.statusCode, 401, 'the same event in other bytes does not match the signature')
  const answer = await deliver(app, raw, { signature })
  t.equal(answer.statusCode, 200)
  t.equal(answer.json().status, 'processed')
  t.equal(await count(database, 'boosts where transaction_id = $1', [JSON.parse(raw).data.id]), 1)
})
