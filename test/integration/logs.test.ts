import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { signPaddleBody } from '../../services/paddle/signature.js'

t.test('no secret, token, signature or database URL reaches a log line', async (t) => {
  const { app, logs, config } = await buildTestApp(t, { config: { logLevel: 'trace' } })
  const body = JSON.stringify(boostPurchaseEvent())
  const signature = signPaddleBody(body, TEST_SECRET)
  const h1 = signature.split('h1=')[1] ?? ''
  const headers = { 'content-type': 'application/json', 'paddle-signature': signature, authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
  t.equal((await app.inject({ method: 'POST', url: '/billing/webhook', headers, payload: body })).statusCode, 200)
  await app.inject({ method: 'POST', url: '/billing/webhook', headers: { ...headers, 'paddle-signature': `ts=1;h1=${h1}` }, payload: body })
  await app.inject({ method: 'POST', url: '/admin/boosts', headers: { ...headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }, payload: '{}' })
  app.log.info({ config }, 'a careless line that logs the whole config')
  t.ok(logs.length > 5, 'there were log lines to check')
  for (const secret of [TEST_SECRET, TEST_ADMIN_TOKEN, h1, config.databaseUrl ?? 'unset']) {
    t.notOk(logs.some((line) => line.includes(secret)), `not logged: ${secret.slice(0, 6)}…`)
  }
  t.ok(logs.some((line) => line.includes('[redacted]')), 'the careless line was redacted')
})
