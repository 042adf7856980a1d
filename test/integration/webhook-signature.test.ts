// DESIGN §4: Paddle-Signature verified over the raw bytes; every failure is 401 and writes nothing.
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_SECRET } from '../helpers/env.js'
import { deliver, subscriptionEvent, paddleId } from '../helpers/paddle.js'
import { computeSignature, signPaddleBody } from '../../services/paddle/signature.js'

t.test('signatures', async (t) => {
  const { app, database } = await buildTestApp(t, { config: { webhookSecrets: [TEST_SECRET, 'pdl_ntfset_next_secret'] } })
  const now = Math.floor(Date.now() / 1000)
  const body = () => JSON.stringify(subscriptionEvent('subscription.created', paddleId('sub')))

  t.equal((await deliver(app, body())).json().status, 'processed', 'a valid signature')
  t.equal((await deliver(app, body(), { secret: 'pdl_ntfset_next_secret' })).json().status, 'processed', 'the rotated-in secret')
  const twoSignatures = body()
  const header = `ts=${now};h1=${computeSignature('wrong', now, twoSignatures).toString('hex')};h1=${computeSignature(TEST_SECRET, now, twoSignatures).toString('hex')}`
  t.equal((await deliver(app, twoSignatures, { signature: header })).json().status, 'processed', 'any of several h1 values')
  t.equal((await deliver(app, body(), { ts: now - 290 })).statusCode, 200, 'within tolerance in the past')
  t.equal((await deliver(app, body(), { ts: now + 290 })).statusCode, 200, 'within tolerance in the future (clock skew)')

  const signed = body()
  const tampered = signed.replace('"subscription.created"', '"subscription.createe"')
  const failures: Array<[string, Parameters<typeof deliver>[1], Parameters<typeof deliver>[2]]> = [
    ['wrong secret', body(), { secret: 'pdl_ntfset_wrong' }],
    ['a body changed by one byte', tampered, { signature: signPaddleBody(signed, TEST_SECRET) }],
    ['a stale ts', body(), { ts: now - 310 }],
    ['a future ts', body(), { ts: now + 310 }],
    ['no header', body(), { signature: null }],
    ['an empty header', body(), { signature: '' }],
    ['no h1', body(), { signature: `ts=${now}` }],
    ['no ts', body(), { signature: `h1=${'a'.repeat(64)}` }],
    ['h1 not hex', body(), { signature: `ts=${now};h1=${'z'.repeat(64)}` }],
    ['a ts that is not a number', body(), { signature: `ts=soon;h1=${'a'.repeat(64)}` }],
    ['garbage', body(), { signature: 'garbage' }]
  ]
  for (const [name, payload, options] of failures) {
    const answer = await deliver(app, payload, options)
    t.equal(answer.statusCode, 401, name)
    t.equal(answer.json().error, 'invalid_signature', name)
  }
  const duplicated = await app.inject({
    method: 'POST',
    url: '/billing/webhook',
    headers: { 'content-type': 'application/json', 'paddle-signature': [signPaddleBody(signed, TEST_SECRET), signPaddleBody(signed, TEST_SECRET)] },
    payload: signed
  })
  t.equal(duplicated.statusCode, 401, 'a duplicated header')
  const rows = await database.query('select count(*)::int as n from webhook_events')
  t.equal(rows[0]?.n, 5, 'only the valid deliveries were recorded')
})
