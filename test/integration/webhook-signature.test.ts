// Paddle-Signature verified over the raw bytes, before anything else; every failure is 401
// `invalid_signature`, takes no lock and writes nothing.
import t from 'tap'
import { Redis } from 'ioredis'
import { buildTestApp, metricValue } from '../helpers/app.js'
import { SHARED_REDIS_URL, TEST_SECRET } from '../helpers/env.js'
import { count, lockKeyOf } from '../helpers/lvver.js'
import { deliver, paddleId, subscriptionEvent, type SendOptions } from '../helpers/paddle.js'
import { computeSignature, signPaddleBody } from '../../services/paddle/signature.js'

const NEXT_SECRET = 'pdl_ntfset_next_secret'

t.test('signatures', async (t) => {
  // Two secrets configured, as during a rotation.
  const { app, config, database } = await buildTestApp(t, { config: { webhookSecrets: [TEST_SECRET, NEXT_SECRET] } })
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const tolerance = config.webhookToleranceSeconds
  const now = () => Math.floor(Date.now() / 1000)
  const newEvent = () => subscriptionEvent('subscription.created', paddleId('sub'))
  const h1 = (secret: string, ts: number, body: string) => computeSignature(secret, ts, body).toString('hex')

  t.test('accepted: the current secret, the rotated-in one, any of several h1 values, ts within tolerance both ways', async (t) => {
    const accepted: Array<[string, (body: string, ts: number) => SendOptions]> = [
      ['a valid signature', () => ({})],
      ['the other configured secret (rotation)', () => ({ secret: NEXT_SECRET })],
      ['two h1 values, the second valid', (body, ts) => ({ signature: `ts=${ts};h1=${h1('pdl_ntfset_old', ts, body)};h1=${h1(TEST_SECRET, ts, body)}` })],
      ['two h1 values, the first valid (with the rotated-in secret)', (body, ts) => ({ signature: `ts=${ts};h1=${h1(NEXT_SECRET, ts, body)};h1=${'0'.repeat(64)}` })],
      ['ts in the past, within tolerance', () => ({ ts: now() - tolerance + 10 })],
      ['ts in the future, within tolerance (clock skew)', () => ({ ts: now() + tolerance - 10 })]
    ]
    for (const [name, options] of accepted) {
      const event = newEvent()
      const body = JSON.stringify(event)
      const answer = await deliver(app, body, options(body, now()))
      t.equal(answer.statusCode, 200, name)
      t.same(answer.json(), { status: 'processed', eventId: event.event_id }, name)
    }
  })

  t.test('refused: 401 invalid_signature, before the lock, nothing written', async (t) => {
    const before = await count(database, 'webhook_events')
    const unauthorizedBefore = await metricValue(app, 'webhook_events_total', { result: 'unauthorized' })
    const refused: Array<[string, (body: string, ts: number) => { payload?: string, options: SendOptions }]> = [
      ['a wrong secret', () => ({ options: { secret: 'pdl_ntfset_wrong' } })],
      ['the body changed by one byte', (body) => ({ payload: body.replace('"subscription.created"', '"subscription.createe"'), options: { signature: signPaddleBody(body, TEST_SECRET) } })],
      ['a trailing newline added after signing', (body) => ({ payload: `${body}\n`, options: { signature: signPaddleBody(body, TEST_SECRET) } })],
      ['a stale ts, beyond tolerance', () => ({ options: { ts: now() - tolerance - 10 } })],
      ['a future ts, beyond tolerance', () => ({ options: { ts: now() + tolerance + 10 } })],
      ['a valid h1 under another ts', (body, ts) => ({ options: { signature: `ts=${ts - 1};h1=${h1(TEST_SECRET, ts, body)}` } })],
      ['no header', () => ({ options: { signature: null } })],
      ['an empty header', () => ({ options: { signature: '' } })],
      ['no h1', (_body, ts) => ({ options: { signature: `ts=${ts}` } })],
      ['no ts', (body, ts) => ({ options: { signature: `h1=${h1(TEST_SECRET, ts, body)}` } })],
      ['h1 not hex', (_body, ts) => ({ options: { signature: `ts=${ts};h1=${'z'.repeat(64)}` } })],
      ['h1 truncated', (body, ts) => ({ options: { signature: `ts=${ts};h1=${h1(TEST_SECRET, ts, body).slice(0, 63)}` } })],
      ['ts not a number', (body, ts) => ({ options: { signature: `ts=soon;h1=${h1(TEST_SECRET, ts, body)}` } })],
      ['two ts', (body, ts) => ({ options: { signature: `ts=${ts};ts=${ts};h1=${h1(TEST_SECRET, ts, body)}` } })],
      ['garbage', () => ({ options: { signature: 'garbage' } })]
    ]
    for (const [name, make] of refused) {
      const event = newEvent()
      const body = JSON.stringify(event)
      // Another holder has this event's lock: a request that reached the lock would get 409, not 401.
      await redis.set(lockKeyOf(config, event.event_id), 'holder', 'PX', 10_000)
      const { payload, options } = make(body, now())
      const answer = await deliver(app, payload ?? body, options)
      t.equal(answer.statusCode, 401, `${name}: 401`)
      t.same(answer.json(), { error: 'invalid_signature', message: answer.json().message }, `${name}: { error: 'invalid_signature' }`)
    }
    const twice = newEvent()
    const body = JSON.stringify(twice)
    const answer = await app.inject({
      method: 'POST',
      url: '/billing/webhook',
      headers: { 'content-type': 'application/json', 'paddle-signature': [signPaddleBody(body, TEST_SECRET), signPaddleBody(body, TEST_SECRET)] },
      payload: body
    })
    t.equal(answer.statusCode, 401, 'the header sent twice is ambiguous: 401')
    t.equal(await count(database, 'webhook_events'), before, 'nothing was written')
    t.equal(await metricValue(app, 'webhook_events_total', { result: 'unauthorized' }), unauthorizedBefore + refused.length + 1, 'each refusal counted')
    t.equal(await metricValue(app, 'webhook_lock_contention_total'), 0, 'and none of them reached the lock')
  })
})

t.test('one secret configured: the other secret of a past rotation is refused', async (t) => {
  const { app } = await buildTestApp(t, { config: { webhookSecrets: [NEXT_SECRET] } })
  t.equal((await deliver(app, subscriptionEvent('subscription.created', paddleId('sub')), { secret: TEST_SECRET })).statusCode, 401)
  t.equal((await deliver(app, subscriptionEvent('subscription.created', paddleId('sub')), { secret: NEXT_SECRET })).statusCode, 200)
})
