import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { deliver, subscriptionEvent, paddleId } from '../helpers/paddle.js'

t.test('a signed subscription event is processed, then answered as a duplicate', async (t) => {
  const { app, database } = await buildTestApp(t)
  const event = subscriptionEvent('subscription.created', paddleId('sub'))
  const first = await deliver(app, event)
  t.equal(first.statusCode, 200)
  t.same(first.json(), { status: 'processed', eventId: event.event_id })
  const second = await deliver(app, event)
  t.same(second.json(), { status: 'duplicate', eventId: event.event_id })
  const rows = await database.query('select status from webhook_events where event_id = $1', [event.event_id])
  t.same(rows, [{ status: 'processed' }])
})
