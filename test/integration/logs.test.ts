import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { freshDatabase } from '../helpers/database.js'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { signPaddleBody } from '../../services/paddle/signature.js'

t.test('no secret, token, signature or database URL reaches a log line', async (t) => {
  // Trust auth ignores the password, so the URL can carry one that must never be logged.
  const database = await freshDatabase(t)
  const withPassword = new URL(database.url)
  withPassword.password = 'pg-password-never-logged'
  const { app, logs, config } = await buildTestApp(t, { database, config: { logLevel: 'trace', databaseUrl: withPassword.toString() } })
  const body = JSON.stringify(boostPurchaseEvent())
  const signature = signPaddleBody(body, TEST_SECRET)
  const h1 = signature.split('h1=')[1] ?? ''
  t.match(h1, /^[0-9a-f]{64}$/)
  const headers = { 'content-type': 'application/json', 'paddle-signature': signature, authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
  t.equal((await app.inject({ method: 'POST', url: '/billing/webhook', headers, payload: body })).statusCode, 200)
  await app.inject({ method: 'POST', url: '/billing/webhook', headers: { ...headers, 'paddle-signature': `ts=1;h1=${h1}` }, payload: body })
  await app.inject({ method: 'POST', url: '/admin/boosts', headers: { ...headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }, payload: '{}' })
  app.log.info({ config }, 'a careless line that logs the whole config')
  app.log.info({ headers }, 'a careless line that logs the request headers')
  app.log.info({ req: { headers } }, 'and one shaped like a request')
  t.ok(logs.length > 5, 'there were log lines to check')
  t.ok(logs.some((line) => line.includes('"url":"/billing/webhook"')), 'the webhook requests were logged')
  for (const secret of [TEST_SECRET, TEST_ADMIN_TOKEN, h1, config.databaseUrl ?? 'unset', 'pg-password-never-logged']) {
    t.notOk(logs.some((line) => line.includes(secret)), `not logged: ${secret.slice(0, 6)}…`)
  }
  t.ok(logs.some((line) => line.includes('[redacted]')), 'the careless line was redacted')
})
