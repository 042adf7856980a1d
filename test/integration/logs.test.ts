// What reaches a log line: never a secret, a token, a signature, a database URL, a payload or an SQL
// parameter, even when the database fails; a caller's request id only when it is short and plain.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { buildTestApp } from '../helpers/app.js'
import { freshDatabase } from '../helpers/database.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { requestKeys } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, oneOffTransaction } from '../helpers/paddle-payloads.js'
import { signPaddleBody } from '../../services/paddle/signature.js'

interface LogLine { level: number, msg: string, reqId?: string, [key: string]: unknown }
const parsed = (logs: string[]): LogLine[] => logs.map((line) => JSON.parse(line) as LogLine)

t.test('no secret, token, signature or database URL reaches a log line', async (t) => {
  // Trust auth ignores the password, so the URL can carry one that must never be logged.
  const database = await freshDatabase(t)
  const withPassword = new URL(database.url)
  withPassword.password = 'pg-password-never-logged'
  const { app, logs, config } = await buildTestApp(t, { database, config: { logLevel: 'trace', databaseUrl: withPassword.toString() } })
  const body = JSON.stringify(oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { community_id: 'community_logs' } }))
  const signature = signPaddleBody(body, TEST_SECRET)
  const h1 = signature.split('h1=')[1] ?? ''
  t.match(h1, /^[0-9a-f]{64}$/)
  const headers = { 'content-type': 'application/json', 'paddle-signature': signature, authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
  const applied = await app.inject({ method: 'POST', url: '/billing/webhook', headers, payload: body })
  t.same([applied.statusCode, applied.json().status], [200, 'processed'])
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

t.test('a 5xx from a failing database: the error line names the failure, never the payload or the SQL parameters', async (t) => {
  const { app, database, logs } = await buildTestApp(t)
  // Postgres quotes the offending value in a data exception's message: the trigger casts one from the payload.
  await database.query(`
    create function bw_test_cast() returns trigger language plpgsql as $$
    begin perform new.community_id::int; return new; end $$;
    create trigger bw_test_cast before insert on boosts for each row execute function bw_test_cast();`)
  const secret = (name: string) => `${name}-${randomBytes(6).toString('hex')}`
  const community = secret('community')
  const member = secret('member')
  const customer = `ctm_${randomBytes(12).toString('hex')}`
  const event = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customerId: customer, customData: { community_id: community, member_id: member, note: secret('note') } })
  const failed = await deliver(app, event)
  t.equal(failed.statusCode, 500)
  t.same(failed.json(), { error: 'internal_error', message: failed.json().message })

  const [row] = await database.query<{ status: string, last_error: string }>('select status, last_error from webhook_events where event_id = $1', [event.event_id])
  t.equal(row?.status, 'failed', 'the event is kept as failed')
  const errors = parsed(logs).filter((line) => line.level === 50)
  t.equal(errors.length, 1, 'one error line for the failed request')
  t.match(errors[0], { msg: 'request failed', err: { pgCode: '22P02', message: /^postgres 22P02: invalid input syntax for type integer/ } }, 'it names the failure')
  const values = [community, member, customer, event.data.id, String((event.data.custom_data as { note: string }).note), event.data.details.line_items[0]!.totals.total]
  for (const value of values) {
    t.notOk(logs.some((line) => line.includes(value)), `no log line carries the payload's ${value.slice(0, 9)}…`)
  }
  t.notOk(row?.last_error.includes(community), 'nor does last_error, which the operator\'s inbox shows')
  t.notOk(logs.some((line) => /Failed query|params:|"detail"|"where"/.test(line)), 'no SQL text with its parameters, no detail, no context')
})

t.test('a caller\'s X-Request-Id is the request id only when it is short and plain', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const ids = (given: string) => parsed(logs).filter((line) => line.msg === 'incoming request' && line.reqId !== undefined && (line.req as { url?: string }).url === `/health/live?${given.length}`).map((line) => line.reqId)
  const probe = async (given: string) => {
    logs.length = 0
    await app.inject({ url: `/health/live?${given.length}`, headers: { 'x-request-id': given } })
    return ids(given)
  }
  t.same(await probe('req-01h.x:y_z'), ['req-01h.x:y_z'], 'a short, plain id follows the request')
  const essay = 'a'.repeat(5000)
  const [generated] = await probe(essay)
  t.match(generated, /^[0-9a-f-]{36}$/, 'a 5,000-character id is replaced by one of ours')
  t.notOk(logs.some((line) => line.includes('a'.repeat(65))), 'and appears in no log line')
  for (const odd of ['has space', 'line\nbreak', `x${'y'.repeat(64)}`, '{"json":1}']) {
    const [id] = await probe(odd)
    t.not(id, odd, `${JSON.stringify(odd.slice(0, 12))}: not used`)
    t.match(id, /^[0-9a-f-]{36}$/)
  }
})

t.test('an unauthenticated POST with a well-formed signature header and no body answers 401, never 5xx, and takes no lock', async (t) => {
  const { app, config, database, logs } = await buildTestApp(t)
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const forged = `ts=${Math.floor(Date.now() / 1000)};h1=${randomBytes(32).toString('hex')}`
  const cases: Array<[string, Record<string, string>]> = [
    ['no body, no content type', { 'paddle-signature': forged }],
    ['no body, JSON content type', { 'paddle-signature': forged, 'content-type': 'application/json' }],
    ['no body, content-length 0', { 'paddle-signature': forged, 'content-type': 'application/json', 'content-length': '0' }],
    ['a signature over the empty body under another secret', { 'paddle-signature': signPaddleBody('', 'another-secret'), 'content-type': 'application/json' }]
  ]
  for (const [name, headers] of cases) {
    const answer = await app.inject({ method: 'POST', url: '/billing/webhook', headers })
    t.equal(answer.statusCode, 401, name)
    t.same(answer.json(), { error: 'invalid_signature', message: answer.json().message }, `${name}: the shared shape`)
  }
  t.notOk(parsed(logs).some((line) => line.level >= 50), 'no error was logged')
  t.same(await requestKeys(redis, config), [], 'no lock, no marker')
  const [row] = await database.query<{ n: number }>('select count(*)::int as n from webhook_events')
  t.equal(row?.n, 0, 'nothing recorded')
  const signedEmpty = await app.inject({ method: 'POST', url: '/billing/webhook', headers: { 'paddle-signature': signPaddleBody('', TEST_SECRET), 'content-type': 'application/json' } })
  t.same([signedEmpty.statusCode, signedEmpty.json().error], [400, 'invalid_json'], 'signed with our secret, the empty body is a 400, still not a 5xx')
})
